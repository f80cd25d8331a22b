//! Tenants: self-service sign-up, the caller's tenants, the current
//! tenant's settings, and adding members to a tenant.

use marimo_platform::{
    auth::{Role, password},
    clock, ids,
    tenant::TenantId,
};

use super::{Users, sessions::Tokens, with_ip};
use crate::{
    UsersError,
    app::accounts::{NewAccount, create_account},
    domain::{self, Membership, Tenant, User},
    events, store,
};

/// A sign-up as asked for; checked by [`Users::signup`].
pub struct NewTenant<'a> {
    pub business_name: &'a str,
    pub slug: &'a str,
    pub currency: &'a str,
    pub fiscal_year_start_month: i64,
    pub admin_name: &'a str,
    pub email: &'a str,
    pub password: &'a str,
}

/// What the current tenant's admin may change; `None` keeps the value.
pub struct TenantPatch<'a> {
    pub name: Option<&'a str>,
    pub currency: Option<&'a str>,
    pub fiscal_year_start_month: Option<i64>,
}

/// A member to add: an existing account by email, or a new one (with
/// `name` and `password`) when no account has that email.
pub struct NewMember<'a> {
    pub email: &'a str,
    pub role: Role,
    pub name: Option<&'a str>,
    pub password: Option<&'a str>,
}

impl Users {
    /// Self-service sign-up: the tenant, its admin account and the admin
    /// membership in one transaction, with `users.registered` and
    /// `users.tenant.created` published in it (in the new tenant); then a
    /// session there. A taken slug and a taken email are the same 409.
    pub async fn signup(
        &self,
        new: NewTenant<'_>,
        ip: Option<&str>,
    ) -> Result<(Tenant, User, Tokens), UsersError> {
        if !self.signup {
            return Err(UsersError::SignupOff);
        }
        let name = domain::parse_business_name(new.business_name)?;
        let slug = domain::parse_slug(new.slug)?;
        let currency = domain::parse_currency(new.currency)?;
        let month = domain::parse_fiscal_month(new.fiscal_year_start_month)?;
        let email = domain::parse_email(new.email)?;
        let admin_name = domain::parse_name(new.admin_name).map_err(|mut e| {
            e.field = "admin_name".into();
            e
        })?;
        domain::check_password(new.password)?;
        // Hash first: the write transaction stays short, and a taken email
        // costs the same time as a free one.
        let hash = password::hash(new.password).await?;
        let now = clock::now_text();
        let tenant = Tenant {
            id: TenantId::generate(),
            slug,
            name,
            currency,
            fiscal_year_start_month: month,
            active: true,
            created_at: now.clone(),
        };
        let user = User {
            id: ids::new_id(),
            email,
            name: admin_name,
            role: Role::Admin,
            active: true,
            created_at: now.clone(),
            updated_at: now.clone(),
        };
        let mut tx = self.db.tenant(&tenant.id).begin().await?;
        if !store::insert_tenant(&mut *tx, &tenant).await?
            || !store::insert_user(&mut *tx, &user, &hash).await?
        {
            return Err(UsersError::Taken);
        }
        store::insert_membership(&mut *tx, &tenant.id, &user.id, Role::Admin, &now).await?;
        self.outbox
            .publish(&mut tx, &with_ip(events::registered(&user, None), ip))
            .await?;
        self.outbox
            .publish(&mut tx, &events::tenant_created(&tenant, &user.id))
            .await?;
        tx.commit().await?;
        self.outbox.wake();
        tracing::info!(tenant = %tenant.id, slug = %tenant.slug, admin = %user.id, "tenant signed up");

        let refresh_token = self.start_session(&user, &tenant.id, None).await?;
        let tokens = self.tokens(&user, &tenant.id, refresh_token).await?;
        Ok((tenant, user, tokens))
    }

    /// The tenants account `user_id` may act in, oldest membership first
    /// (inactive tenants and memberships left out).
    pub async fn my_tenants(&self, user_id: &str) -> Result<Vec<Membership>, UsersError> {
        let mut all = self.memberships_of(user_id).await?;
        all.retain(|m| m.active && m.tenant.active);
        Ok(all)
    }

    /// The tenant `id` (the caller's).
    pub async fn tenant(&self, id: &TenantId) -> Result<Tenant, UsersError> {
        store::find_tenant(self.db.pool(), id)
            .await?
            .ok_or(UsersError::NoSuchTenant)
    }

    /// Changes the name, currency or fiscal year start of tenant `id`;
    /// a change publishes `users.tenant.updated` (by `actor`) in the same
    /// transaction, so the services that keep a copy (accounting, factory)
    /// hear of it. A `PUT` that changes nothing publishes nothing.
    pub async fn update_tenant(
        &self,
        id: &TenantId,
        patch: TenantPatch<'_>,
        actor: &str,
    ) -> Result<Tenant, UsersError> {
        let current = self.tenant(id).await?;
        let name = match patch.name {
            Some(n) => domain::parse_business_name(n).map_err(|mut e| {
                e.field = "name".into();
                e
            })?,
            None => current.name.clone(),
        };
        let currency = match patch.currency {
            Some(c) => domain::parse_currency(c)?,
            None => current.currency.clone(),
        };
        let month = match patch.fiscal_year_start_month {
            Some(m) => domain::parse_fiscal_month(m)?,
            None => current.fiscal_year_start_month,
        };
        let changed = name != current.name
            || currency != current.currency
            || month != current.fiscal_year_start_month;
        let updated = Tenant {
            name,
            currency,
            fiscal_year_start_month: month,
            ..current
        };
        let mut tx = self.db.tenant(id).begin().await?;
        if !store::update_tenant(
            &mut *tx,
            id,
            &updated.name,
            &updated.currency,
            updated.fiscal_year_start_month,
        )
        .await?
        {
            return Err(UsersError::NoSuchTenant);
        }
        if changed {
            self.outbox
                .publish(&mut tx, &events::tenant_updated(&updated, actor))
                .await?;
        }
        tx.commit().await?;
        if changed {
            self.outbox.wake();
            tracing::info!(tenant = %id, "tenant settings changed");
        }
        Ok(updated)
    }

    /// Adds a member to `tenant`: the existing account with that email,
    /// else (given a name and a password) a new account. Already a member
    /// is a 409; no account and no name/password is 404.
    pub async fn add_member(
        &self,
        admin: &User,
        tenant: &TenantId,
        new: NewMember<'_>,
    ) -> Result<User, UsersError> {
        let email = domain::parse_email(new.email)?;
        let Some(existing) = store::find_by_email(self.db.pool(), &email).await? else {
            let (Some(name), Some(password)) = (new.name, new.password) else {
                return Err(UsersError::NoSuchUser);
            };
            let account = NewAccount {
                email: &email,
                name,
                password,
                role: new.role,
            };
            let user = create_account(&self.db, &self.outbox, tenant, account).await?;
            tracing::info!(by = %admin.id, %tenant, user_id = %user.id, "member created");
            return Ok(user);
        };
        let joined = self.tenant(tenant).await?;
        let mut tx = self.db.tenant(tenant).begin().await?;
        let now = clock::now_text();
        if !store::insert_membership(&mut *tx, tenant, &existing.user.id, new.role, &now).await? {
            return Err(UsersError::Conflict("this account is already a member"));
        }
        let user = User {
            role: new.role,
            ..existing.user
        };
        // Not `users.user.registered`: the account is not new (no welcome
        // mail); its owner learns which tenant they joined.
        self.outbox
            .publish(&mut tx, &events::member_added(&joined, &user, &admin.id))
            .await?;
        tx.commit().await?;
        self.outbox.wake();
        tracing::info!(by = %admin.id, %tenant, user_id = %user.id, "member added");
        Ok(user)
    }
}

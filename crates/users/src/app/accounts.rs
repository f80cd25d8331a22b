//! Accounts: creating them (registration, the CLI, the bootstrap admin),
//! the list and the dashboard summary, and the admin actions (assign a
//! role, deactivate, reactivate).

use marimo_platform::{
    auth::{Role, password},
    bus::Outbox,
    clock,
    config::BootstrapAdmin,
    db::Db,
    ids,
    service::StartError,
    tenant::TenantId,
};

use super::{Users, with_ip};
use crate::{
    UsersError,
    domain::{self, User},
    events, store,
};

/// A new account as asked for; checked by [`create_account`].
pub struct NewAccount<'a> {
    pub email: &'a str,
    pub name: &'a str,
    pub password: &'a str,
    pub role: Role,
}

/// Validates and creates an account, a member of `tenant` with its role
/// (registration, the CLI, the bootstrap admin, an admin adding a member)
/// and publishes `users.user.registered` in the same transaction.
pub async fn create_account(
    db: &Db,
    outbox: &Outbox,
    tenant: &TenantId,
    NewAccount {
        email,
        name,
        password,
        role,
    }: NewAccount<'_>,
) -> Result<User, UsersError> {
    let email = domain::parse_email(email)?;
    let name = domain::parse_name(name)?;
    domain::check_password(password)?;
    let hash = password::hash(password).await?;
    let now = clock::now_text();
    let user = User {
        id: ids::new_id(),
        email,
        name,
        role,
        active: true,
        created_at: now.clone(),
        updated_at: now,
    };
    // Hash first: the write transaction (SQLite's write lock) stays short.
    let mut tx = db.tenant(tenant).begin().await?;
    if !store::insert_user(&mut *tx, &user, &hash).await? {
        return Err(UsersError::DuplicateEmail(user.email));
    }
    store::insert_membership(&mut *tx, tenant, &user.id, role, &user.created_at).await?;
    outbox
        .publish(&mut tx, &events::registered(&user, None))
        .await?;
    tx.commit().await?;
    outbox.wake();
    Ok(user)
}

/// The first admin: created when its email is unknown; an existing account
/// with that email is left exactly as it is (its password, role and state
/// may have been changed since). Safe when replicas start together.
pub async fn bootstrap_admin(
    db: &Db,
    outbox: &Outbox,
    admin: &BootstrapAdmin,
) -> Result<(), StartError> {
    let email = domain::parse_email(&admin.email)
        .map_err(|e| format!("MARIMO_ADMIN_EMAIL: {}", e.message))?;
    if store::find_by_email(db.pool(), &email).await?.is_some() {
        tracing::debug!(%email, "bootstrap admin exists; left unchanged");
        return Ok(());
    }
    domain::check_password(&admin.password)
        .map_err(|e| format!("MARIMO_ADMIN_PASSWORD: {}", e.message))?;
    let account = NewAccount {
        email: &email,
        name: "Administrator",
        password: &admin.password,
        role: Role::Admin,
    };
    match create_account(db, outbox, &TenantId::default_tenant(), account).await {
        Ok(user) => {
            tracing::info!(email = %user.email, id = %user.id, "bootstrap admin created");
            Ok(())
        }
        // Another replica created it between the check and the insert.
        Err(UsersError::DuplicateEmail(_)) => Ok(()),
        Err(e) => Err(e.into()),
    }
}

/// The dashboard's counts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Summary {
    pub total_users: i64,
    pub active_users: i64,
    /// Every role, in `Role::ALL` order, with its number of accounts (0
    /// included).
    pub by_role: Vec<(Role, i64)>,
}

impl Users {
    /// Registration: an account with the `user` role in `tenant` (the
    /// anonymous request's), which must exist and be active.
    pub async fn register(
        &self,
        tenant: &TenantId,
        email: &str,
        name: &str,
        password: &str,
    ) -> Result<User, UsersError> {
        match store::find_tenant(self.db.pool(), tenant).await? {
            Some(t) if t.active => {}
            _ => return Err(UsersError::NoSuchTenant),
        }
        let account = NewAccount {
            email,
            name,
            password,
            role: Role::User,
        };
        let user = create_account(&self.db, &self.outbox, tenant, account).await?;
        tracing::info!(user_id = %user.id, "user registered");
        Ok(user)
    }

    /// A page of `tenant`'s members (with their role there), optionally
    /// those whose email or name contains `q` (case-insensitively), and
    /// how many match in all.
    pub async fn list(
        &self,
        tenant: &TenantId,
        q: Option<&str>,
        limit: u32,
        offset: i64,
    ) -> Result<(Vec<User>, i64), UsersError> {
        let pattern = q.map(domain::contains_pattern);
        let mut tx = self.db.tenant(tenant).read().await?;
        Ok(store::list_members(&mut tx, tenant, pattern.as_deref(), limit, offset).await?)
    }

    /// The counts of `tenant`'s members.
    pub async fn summary(&self, tenant: &TenantId) -> Result<Summary, UsersError> {
        let mut tx = self.db.tenant(tenant).read().await?;
        let counts = store::member_role_counts(&mut *tx, tenant).await?;
        drop(tx);
        let by_role = Role::ALL
            .iter()
            .map(|role| {
                let n: i64 = counts
                    .iter()
                    .filter(|(r, _, _)| r == role)
                    .map(|(_, _, n)| n)
                    .sum();
                (*role, n)
            })
            .collect();
        Ok(Summary {
            total_users: counts.iter().map(|(_, _, n)| n).sum(),
            active_users: counts
                .iter()
                .filter(|(_, a, _)| *a)
                .map(|(_, _, n)| n)
                .sum(),
            by_role,
        })
    }

    /// Gives member `user_id` of `tenant` the role `role` there; publishes
    /// `users.user.role_changed` when it changes. Returns the account as
    /// read before the change. Not a member of `tenant`: no such user.
    pub async fn assign_role(
        &self,
        admin: &User,
        tenant: &TenantId,
        user_id: &str,
        role: Role,
        ip: Option<&str>,
    ) -> Result<User, UsersError> {
        if !ids::is_uuid(user_id) {
            return Err(UsersError::NoSuchUser);
        }
        // The last admin could otherwise demote themself and leave nobody
        // able to administer the system.
        if user_id == admin.id && role != Role::Admin {
            return Err(UsersError::Conflict("you cannot change your own role"));
        }
        let mut tx = self.db.tenant(tenant).begin().await?;
        let Some(target) = store::find_member(&mut *tx, tenant, user_id).await? else {
            return Err(UsersError::NoSuchUser);
        };
        let old = target.user.role;
        if old != role {
            store::set_member_role(&mut *tx, tenant, &target.user.id, role).await?;
            let event = with_ip(events::role_changed(&target.user, old, role, &admin.id), ip);
            self.outbox.publish(&mut tx, &event).await?;
            // Tokens carry the role: the old ones must stop working now,
            // not when they expire (a demoted admin keeps no admin power).
            self.revoke_access(&mut tx, &target.user.id, &admin.id)
                .await?;
            tx.commit().await?;
            self.outbox.wake();
            tracing::info!(by = %admin.id, user_id = %target.user.id, %old, new = %role, "role assigned");
        }
        Ok(target.user)
    }

    /// Deactivates member `id` in `tenant` (their membership: other
    /// tenants are theirs to keep) and revokes their sessions there.
    /// Idempotent: sessions are revoked every time,
    /// `users.user.deactivated` is published only on the change.
    pub async fn deactivate(
        &self,
        admin: &User,
        tenant: &TenantId,
        id: &str,
        ip: Option<&str>,
    ) -> Result<(), UsersError> {
        if id == admin.id {
            return Err(UsersError::Conflict(
                "you cannot deactivate your own account",
            ));
        }
        let now = clock::now_text();
        let mut tx = self.db.tenant(tenant).begin().await?;
        let Some(target) = store::find_member(&mut *tx, tenant, id).await? else {
            return Err(UsersError::NoSuchUser);
        };
        if target.user.active {
            store::set_member_active(&mut *tx, tenant, id, false).await?;
            let event = with_ip(events::deactivated(&target.user, &admin.id), ip);
            self.outbox.publish(&mut tx, &event).await?;
        }
        let sessions = store::revoke_user_families_in(&mut *tx, id, tenant, &now).await?;
        self.revoke_access(&mut tx, id, &admin.id).await?;
        tx.commit().await?;
        self.outbox.wake();
        tracing::info!(by = %admin.id, user_id = %id, sessions, "user deactivated");
        Ok(())
    }

    /// Reactivates member `id` in `tenant`; publishes
    /// `users.user.reactivated` when it was deactivated.
    pub async fn reactivate(
        &self,
        admin: &User,
        tenant: &TenantId,
        id: &str,
        ip: Option<&str>,
    ) -> Result<(), UsersError> {
        let mut tx = self.db.tenant(tenant).begin().await?;
        let Some(target) = store::find_member(&mut *tx, tenant, id).await? else {
            return Err(UsersError::NoSuchUser);
        };
        if !target.user.active {
            store::set_member_active(&mut *tx, tenant, id, true).await?;
            let event = with_ip(events::reactivated(&target.user, &admin.id), ip);
            self.outbox.publish(&mut tx, &event).await?;
            tx.commit().await?;
            self.outbox.wake();
            tracing::info!(by = %admin.id, user_id = %id, "user reactivated");
        }
        Ok(())
    }
}

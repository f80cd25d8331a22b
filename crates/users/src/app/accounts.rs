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

/// Validates and creates an account (registration, the CLI, the bootstrap
/// admin) and publishes `users.user.registered` in the same transaction.
pub async fn create_account(
    db: &Db,
    outbox: &Outbox,
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
    let mut tx = db.begin().await?;
    if !store::insert_user(&mut *tx, &user, &hash).await? {
        return Err(UsersError::DuplicateEmail(user.email));
    }
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
    match create_account(db, outbox, account).await {
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
    /// Registration: an account with the `user` role.
    pub async fn register(
        &self,
        email: &str,
        name: &str,
        password: &str,
    ) -> Result<User, UsersError> {
        let account = NewAccount {
            email,
            name,
            password,
            role: Role::User,
        };
        let user = create_account(&self.db, &self.outbox, account).await?;
        tracing::info!(user_id = %user.id, "user registered");
        Ok(user)
    }

    /// A page of accounts, optionally those whose email or name contains
    /// `q` (case-insensitively), and how many match in all.
    pub async fn list(
        &self,
        q: Option<&str>,
        limit: u32,
        offset: i64,
    ) -> Result<(Vec<User>, i64), UsersError> {
        let pattern = q.map(domain::contains_pattern);
        Ok(store::list_users(self.db.pool(), pattern.as_deref(), limit, offset).await?)
    }

    pub async fn summary(&self) -> Result<Summary, UsersError> {
        let counts = store::role_counts(self.db.pool()).await?;
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

    /// Gives account `user_id` the role `role`; publishes
    /// `users.user.role_changed` when it changes. Returns the account as
    /// read before the change.
    pub async fn assign_role(
        &self,
        admin: &User,
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
        let now = clock::now_text();
        let mut tx = self.db.begin().await?;
        let Some(target) = store::find_by_id(&mut *tx, user_id).await? else {
            return Err(UsersError::NoSuchUser);
        };
        let old = target.user.role;
        if old != role {
            store::set_role(&mut *tx, &target.user.id, role, &now).await?;
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

    /// Deactivates account `id` and revokes its sessions. Idempotent:
    /// sessions are revoked every time, `users.user.deactivated` is
    /// published only on the change.
    pub async fn deactivate(
        &self,
        admin: &User,
        id: &str,
        ip: Option<&str>,
    ) -> Result<(), UsersError> {
        if id == admin.id {
            return Err(UsersError::Conflict(
                "you cannot deactivate your own account",
            ));
        }
        let now = clock::now_text();
        let mut tx = self.db.begin().await?;
        let Some(target) = store::find_by_id(&mut *tx, id).await? else {
            return Err(UsersError::NoSuchUser);
        };
        if target.user.active {
            store::set_active(&mut *tx, id, false, &now).await?;
            let event = with_ip(events::deactivated(&target.user, &admin.id), ip);
            self.outbox.publish(&mut tx, &event).await?;
        }
        let sessions = store::revoke_user_families(&mut *tx, id, &now).await?;
        self.revoke_access(&mut tx, id, &admin.id).await?;
        tx.commit().await?;
        self.outbox.wake();
        tracing::info!(by = %admin.id, user_id = %id, sessions, "user deactivated");
        Ok(())
    }

    /// Reactivates account `id`; publishes `users.user.reactivated` when
    /// it was deactivated.
    pub async fn reactivate(
        &self,
        admin: &User,
        id: &str,
        ip: Option<&str>,
    ) -> Result<(), UsersError> {
        let mut tx = self.db.begin().await?;
        let Some(target) = store::find_by_id(&mut *tx, id).await? else {
            return Err(UsersError::NoSuchUser);
        };
        if !target.user.active {
            store::set_active(&mut *tx, id, true, &clock::now_text()).await?;
            let event = with_ip(events::reactivated(&target.user, &admin.id), ip);
            self.outbox.publish(&mut tx, &event).await?;
            tx.commit().await?;
            self.outbox.wake();
            tracing::info!(by = %admin.id, user_id = %id, "user reactivated");
        }
        Ok(())
    }
}

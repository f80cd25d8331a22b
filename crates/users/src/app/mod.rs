//! The users service's use cases, on [`Users`]: each owns its transaction
//! and writes its event to the outbox in it.
//!
//! - [`accounts`]: creating accounts (registration, the CLI, the bootstrap
//!   admin), the list and summary, the admin actions.
//! - [`sessions`]: sign-in under the brute-force delay, token refresh with
//!   rotation and reuse detection, sign-out, password change, the purge
//!   of dead sessions.
//! - [`lifetimes`]: the token lifetimes the config service sets.
//! - [`tenants`]: sign-up, my tenants, the current tenant's settings and
//!   adding members.
//! - `observe`: the service's own metrics.
//!
//! Whether the bearer's token holds a role is `api`'s check; whether its
//! account, as stored now, still exists, is active and holds it is
//! [`Users::account_of`].

pub mod accounts;
pub mod lifetimes;
pub(crate) mod observe;
pub mod sessions;
pub mod tenants;

use std::sync::Arc;

use marimo_platform::{
    auth::{Caller, JwtKeys, Role},
    bus::{Envelope, Outbox},
    db::Db,
    ids,
    telemetry::Metrics,
};

use crate::{
    UsersError,
    store::{self, UserRecord},
};

/// What every use case works with. Cheap to clone.
#[derive(Clone)]
pub struct Users {
    pub db: Db,
    pub jwt: Arc<JwtKeys>,
    pub outbox: Outbox,
    pub metrics: Metrics,
    /// Self-service sign-up is open (`MARIMO_SIGNUP`, default on).
    pub signup: bool,
}

impl Users {
    /// The caller's current account as a member of the token's tenant
    /// (its role there), which must still exist, be active there and hold
    /// one of `roles` in the database (so a deactivated or demoted account
    /// loses access at once, not when its access token expires).
    pub async fn account_of(
        &self,
        caller: &Caller,
        roles: &[Role],
    ) -> Result<UserRecord, UsersError> {
        if !ids::is_uuid(&caller.user_id) {
            return Err(UsersError::Unauthenticated("this account no longer exists"));
        }
        let mut tx = self.db.tenant(&caller.tenant).read().await?;
        let member = store::find_member(&mut *tx, &caller.tenant, &caller.user_id).await?;
        drop(tx);
        let Some(record) = member else {
            return Err(
                match store::find_by_id(self.db.pool(), &caller.user_id).await? {
                    Some(_) => UsersError::Unauthenticated("you are not a member of this tenant"),
                    None => UsersError::Unauthenticated("this account no longer exists"),
                },
            );
        };
        if !record.user.active {
            return Err(UsersError::Unauthenticated("this account is deactivated"));
        }
        if !roles.contains(&record.user.role) {
            return Err(UsersError::Forbidden);
        }
        Ok(record)
    }
}

impl Users {
    /// Ends every access token of `user_id` issued before now, in `tx`:
    /// stores the mark (listed for services that start later) and
    /// publishes `users.user.sessions_revoked` (every replica of every
    /// service applies it, this one included).
    pub(crate) async fn revoke_access(
        &self,
        tx: &mut marimo_platform::db::Tx,
        user_id: &str,
        actor: &str,
    ) -> Result<(), UsersError> {
        let not_before_ms = marimo_platform::clock::unix_now_ms();
        store::set_revocation(&mut **tx, user_id, not_before_ms).await?;
        self.outbox
            .publish(
                tx,
                &crate::events::sessions_revoked(user_id, not_before_ms, actor),
            )
            .await?;
        // This replica knows at once, before the event comes round.
        self.jwt.revocations().mark(user_id, not_before_ms);
        Ok(())
    }
}

/// Stamps an event with the client's address, when known.
fn with_ip(event: Envelope, ip: Option<&str>) -> Envelope {
    match ip {
        Some(ip) => event.client_ip(ip.to_owned()),
        None => event,
    }
}

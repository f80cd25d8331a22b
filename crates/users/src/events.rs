//! Events the users service publishes (docs/EVENTS.md; payloads are the
//! types of `marimo_contracts::users`), always through the outbox in the
//! transaction of the change they report, and the one it consumes:
//! `config.setting.changed` (token lifetimes, applied by `app::lifetimes`).

use marimo_contracts::{
    ids::UserId,
    users::{
        self as contract, LoginFailed, MemberAdded, PasswordChanged, Registered, RoleChanged,
        SessionsRevoked, TenantCreated, TenantUpdated, UserRef,
    },
};
use marimo_platform::{
    auth::Role,
    bus::{BusError, Envelope},
    db::Db,
    service::ServiceContext,
};

use crate::{
    app::lifetimes,
    domain::{Tenant, User},
};

pub const SOURCE: &str = "users";
/// The users service's queue on the bus.
pub const QUEUE: &str = "users";

/// Subscribes the users service's queue to setting changes.
pub async fn subscribe(ctx: &ServiceContext, db: Db) -> Result<(), BusError> {
    let bus_db = db.clone();
    ctx.bus
        .subscribe(
            &bus_db,
            QUEUE,
            &[marimo_contracts::config::SETTING_CHANGED.name()],
            move |env| {
                let db = db.clone();
                async move { lifetimes::apply(&db, &env).await }
            },
        )
        .await
}

pub const REGISTERED: &str = contract::REGISTERED.name();
pub const LOGGED_IN: &str = contract::LOGGED_IN.name();
pub const LOGIN_FAILED: &str = contract::LOGIN_FAILED.name();
pub const ROLE_CHANGED: &str = contract::ROLE_CHANGED.name();
pub const DEACTIVATED: &str = contract::DEACTIVATED.name();
pub const REACTIVATED: &str = contract::REACTIVATED.name();
pub const PASSWORD_CHANGED: &str = contract::PASSWORD_CHANGED.name();
pub const TENANT_CREATED: &str = contract::TENANT_CREATED.name();
pub const TENANT_UPDATED: &str = contract::TENANT_UPDATED.name();
pub const MEMBER_ADDED: &str = contract::MEMBER_ADDED.name();

/// Why a sign-in failed (audit only; clients always see the same 401).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FailReason {
    UnknownEmail,
    WrongPassword,
    /// The current password given to change-password was wrong.
    WrongCurrentPassword,
    Deactivated,
}

impl FailReason {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::UnknownEmail => "unknown_email",
            Self::WrongPassword => "wrong_password",
            Self::WrongCurrentPassword => "wrong_current_password",
            Self::Deactivated => "deactivated",
        }
    }
}

fn user_ref(user: &User) -> UserRef {
    UserRef {
        user_id: UserId::new(&user.id),
        email: user.email.clone(),
    }
}

/// `actor` is who caused the change (an admin, or the user themself).
pub fn registered(user: &User, actor: Option<&str>) -> Envelope {
    let payload = Registered {
        user_id: UserId::new(&user.id),
        email: user.email.clone(),
        name: user.name.clone(),
        role: user.role.as_str().to_owned(),
    };
    Envelope::of(contract::REGISTERED, &payload).actor(actor.unwrap_or(&user.id))
}

pub fn logged_in(user: &User) -> Envelope {
    Envelope::of(contract::LOGGED_IN, &user_ref(user)).actor(&user.id)
}

pub fn login_failed(email: &str, reason: FailReason) -> Envelope {
    let payload = LoginFailed {
        email: email.to_owned(),
        reason: reason.as_str().to_owned(),
    };
    Envelope::of(contract::LOGIN_FAILED, &payload)
}

pub fn role_changed(user: &User, old: Role, new: Role, actor: &str) -> Envelope {
    let payload = RoleChanged {
        user_id: UserId::new(&user.id),
        email: user.email.clone(),
        old_role: old.as_str().to_owned(),
        new_role: new.as_str().to_owned(),
    };
    Envelope::of(contract::ROLE_CHANGED, &payload).actor(actor)
}

pub fn deactivated(user: &User, actor: &str) -> Envelope {
    Envelope::of(contract::DEACTIVATED, &user_ref(user)).actor(actor)
}

pub fn reactivated(user: &User, actor: &str) -> Envelope {
    Envelope::of(contract::REACTIVATED, &user_ref(user)).actor(actor)
}

/// Every access token of `user_id` issued before `not_before_ms` is void.
pub fn sessions_revoked(user_id: &str, not_before_ms: i64, actor: &str) -> Envelope {
    let payload = SessionsRevoked {
        user_id: UserId::new(user_id),
        not_before_ms,
    };
    Envelope::of(contract::SESSIONS_REVOKED, &payload).actor(actor)
}

/// `users.tenant.created`: published in the new tenant's transaction (so
/// its envelope carries the new tenant), by the admin who signed it up.
pub fn tenant_created(tenant: &Tenant, actor: &str) -> Envelope {
    let payload = TenantCreated {
        tenant_id: tenant.id.as_str().to_owned(),
        slug: tenant.slug.clone(),
        name: tenant.name.clone(),
        currency: tenant.currency.clone(),
        fiscal_year_start_month: tenant.fiscal_year_start_month,
    };
    Envelope::of(contract::TENANT_CREATED, &payload).actor(actor)
}

/// `users.tenant.updated`: published in the tenant's transaction with its
/// settings after the change, by the admin who made it.
pub fn tenant_updated(tenant: &Tenant, actor: &str) -> Envelope {
    let payload = TenantUpdated {
        tenant_id: tenant.id.as_str().to_owned(),
        slug: tenant.slug.clone(),
        name: tenant.name.clone(),
        currency: tenant.currency.clone(),
        fiscal_year_start_month: tenant.fiscal_year_start_month,
    };
    Envelope::of(contract::TENANT_UPDATED, &payload).actor(actor)
}

/// `users.member.added`: an existing account joined `tenant` with
/// `user.role`, added by `admin` (published in the tenant's transaction).
pub fn member_added(tenant: &Tenant, user: &User, admin: &str) -> Envelope {
    let payload = MemberAdded {
        tenant_id: tenant.id.as_str().to_owned(),
        tenant_name: tenant.name.clone(),
        user_id: UserId::new(&user.id),
        email: user.email.clone(),
        name: user.name.clone(),
        role: user.role.as_str().to_owned(),
        added_by: UserId::new(admin),
    };
    Envelope::of(contract::MEMBER_ADDED, &payload).actor(admin)
}

pub fn password_changed(user: &User) -> Envelope {
    let payload = PasswordChanged {
        user_id: UserId::new(&user.id),
        email: user.email.clone(),
        name: user.name.clone(),
    };
    Envelope::of(contract::PASSWORD_CHANGED, &payload).actor(&user.id)
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn user() -> User {
        User {
            id: "u1".into(),
            email: "ann@example.com".into(),
            name: "Ann".into(),
            role: Role::ShopManager,
            active: true,
            created_at: "2026-01-01T00:00:00.000000Z".into(),
            updated_at: "2026-01-01T00:00:00.000000Z".into(),
        }
    }

    #[test]
    fn payloads_follow_the_catalog() {
        let e = registered(&user(), None);
        assert_eq!(
            (e.event_type.as_str(), e.source.as_str()),
            (REGISTERED, "users")
        );
        assert_eq!(e.payload["user_id"], "u1");
        assert_eq!(e.payload["email"], "ann@example.com");
        assert_eq!(e.payload["name"], "Ann");
        assert_eq!(e.actor.as_deref(), Some("u1"));
        assert_eq!(
            registered(&user(), Some("admin")).actor.as_deref(),
            Some("admin")
        );

        let e = role_changed(&user(), Role::User, Role::ShopManager, "admin");
        assert_eq!(e.payload["old_role"], "user");
        assert_eq!(e.payload["new_role"], "shop_manager");
        assert_eq!(e.actor.as_deref(), Some("admin"));

        let e = login_failed("x@example.com", FailReason::WrongPassword);
        assert_eq!(
            e.payload,
            json!({"email": "x@example.com", "reason": "wrong_password"})
        );
        assert_eq!(e.actor, None);

        for (e, t) in [
            (logged_in(&user()), LOGGED_IN),
            (deactivated(&user(), "a"), DEACTIVATED),
            (reactivated(&user(), "a"), REACTIVATED),
            (password_changed(&user()), PASSWORD_CHANGED),
        ] {
            assert_eq!(e.event_type, t);
            assert_eq!(e.payload["user_id"], "u1");
            assert_eq!(e.payload["email"], "ann@example.com");
            assert_eq!(e.event_type.split('.').count(), 3);
        }
    }
}

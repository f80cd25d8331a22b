//! The users service: account events and its `/summary`.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::{Topic, ids::UserId};

pub const REGISTERED: Topic<Registered> = Topic::new("users.user.registered", 1);
pub const LOGGED_IN: Topic<UserRef> = Topic::new("users.user.logged_in", 1);
pub const LOGIN_FAILED: Topic<LoginFailed> = Topic::new("users.user.login_failed", 1);
pub const ROLE_CHANGED: Topic<RoleChanged> = Topic::new("users.user.role_changed", 1);
pub const DEACTIVATED: Topic<UserRef> = Topic::new("users.user.deactivated", 1);
pub const REACTIVATED: Topic<UserRef> = Topic::new("users.user.reactivated", 1);
pub const PASSWORD_CHANGED: Topic<PasswordChanged> = Topic::new("users.user.password_changed", 1);
pub const SESSIONS_REVOKED: Topic<SessionsRevoked> = Topic::new("users.user.sessions_revoked", 1);
pub const TENANT_CREATED: Topic<TenantCreated> = Topic::new("users.tenant.created", 1);
pub const TENANT_UPDATED: Topic<TenantUpdated> = Topic::new("users.tenant.updated", 1);
pub const MEMBER_ADDED: Topic<MemberAdded> = Topic::new("users.member.added", 1);

/// `users.tenant.created`: a business signed up (or an operator created
/// one). Published in the new tenant (the envelope's `tenant` is
/// `tenant_id`); services seed what a tenant starts with (chart of
/// accounts, warehouses, settings) in it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TenantCreated {
    /// The new tenant's id (UUIDv7 text).
    pub tenant_id: String,
    /// Its short name, unique in the installation (sign-in picks a tenant
    /// by it).
    pub slug: String,
    /// The business's name.
    pub name: String,
    /// Its book-keeping currency (ISO 4217).
    pub currency: String,
    /// The month its fiscal year starts in (1–12).
    pub fiscal_year_start_month: u8,
}

/// `users.tenant.updated`: a tenant's admin changed its name, currency or
/// fiscal year start (`PUT /api/v1/users/tenant`). Published in that
/// tenant with the settings as they are now; services apply what they
/// safely can (a currency only while nothing is valued or posted in the
/// old one) and log what they refuse.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TenantUpdated {
    /// The tenant (the envelope's `tenant`).
    pub tenant_id: String,
    /// Its short name. Defaults when absent.
    #[serde(default)]
    pub slug: String,
    /// The business's name.
    pub name: String,
    /// Its book-keeping currency (ISO 4217).
    pub currency: String,
    /// The month its fiscal year starts in (1–12).
    pub fiscal_year_start_month: u8,
}

/// `users.member.added`: an existing account became a member of a tenant
/// (an admin added it by email). Published in that tenant; the envelope's
/// `actor` is the admin, also named in `added_by`. A new account created
/// as a member is `users.user.registered` instead.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MemberAdded {
    /// The tenant it joined.
    pub tenant_id: String,
    /// The tenant's name, for the mail. Defaults when absent.
    #[serde(default)]
    pub tenant_name: String,
    /// The account.
    pub user_id: UserId,
    /// Its email address (where the notice goes).
    pub email: String,
    /// Its display name. Defaults when absent.
    #[serde(default)]
    pub name: String,
    /// Its role in the tenant.
    pub role: String,
    /// The admin who added it.
    pub added_by: UserId,
}

/// `users.user.sessions_revoked`: every access token of the account issued
/// before `not_before_ms` is void (deactivation, role change, password
/// change, sign-out everywhere). Every service keeps the latest mark per
/// account and refuses older tokens.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SessionsRevoked {
    /// The account.
    pub user_id: UserId,
    /// Unix milliseconds: tokens issued earlier (their `iat_ms`, else
    /// `iat`) are refused. Milliseconds, so a sign-in in the same second
    /// right after the revocation is not caught by it.
    pub not_before_ms: i64,
}

/// `users.user.registered`: an account was created (by sign-up or by an
/// admin; the envelope's `actor` says who).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Registered {
    /// The new account.
    pub user_id: UserId,
    /// Its email address (where the welcome mail goes).
    pub email: String,
    /// Its display name. Defaults when absent.
    #[serde(default)]
    pub name: String,
    /// Its role (`admin`, `manager`, `accountant`, `shop_manager`,
    /// `user`). Defaults when absent.
    #[serde(default)]
    pub role: String,
}

/// `users.user.logged_in`, `.deactivated`, `.reactivated`: something
/// happened to one account.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UserRef {
    /// The account.
    pub user_id: UserId,
    /// Its email address. Defaults when absent.
    #[serde(default)]
    pub email: String,
}

/// `users.user.login_failed`: a sign-in was refused (for audit; clients
/// always see the same 401).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LoginFailed {
    /// The email address tried (it may belong to no account). Defaults
    /// when absent.
    #[serde(default)]
    pub email: String,
    /// `unknown_email`, `wrong_password`, `wrong_current_password` or
    /// `deactivated`. Defaults when absent.
    #[serde(default)]
    pub reason: String,
}

/// `users.user.role_changed`: an admin changed an account's role.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RoleChanged {
    /// The account.
    pub user_id: UserId,
    /// Its email address. Defaults when absent.
    #[serde(default)]
    pub email: String,
    /// The role it had. Defaults when absent.
    #[serde(default)]
    pub old_role: String,
    /// The role it has now.
    pub new_role: String,
}

/// `users.user.password_changed`: the account's owner changed its
/// password (a notice mail goes to the address).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PasswordChanged {
    /// The account.
    pub user_id: UserId,
    /// Its email address.
    pub email: String,
    /// Its display name. Defaults when absent.
    #[serde(default)]
    pub name: String,
}

/// `GET /api/users/summary` (inside [`crate::Success`]): account counts
/// for the dashboard. Every field defaults when absent.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(default)]
pub struct Summary {
    /// Every account, active or not.
    pub total_users: i64,
    /// Accounts that may sign in.
    pub active_users: i64,
    /// Accounts per role; every role appears, zero or not.
    pub by_role: BTreeMap<String, i64>,
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::golden::round_trip;

    #[test]
    fn golden_payloads() {
        let r: Registered = round_trip(json!({"user_id": "u1", "email": "ann@example.com",
                                             "name": "Ann", "role": "shop_manager"}));
        assert_eq!(r.user_id, "u1");
        round_trip::<UserRef>(json!({"user_id": "u1", "email": "ann@example.com"}));
        round_trip::<LoginFailed>(json!({"email": "x@example.com", "reason": "wrong_password"}));
        round_trip::<RoleChanged>(json!({"user_id": "u1", "email": "ann@example.com",
                                         "old_role": "user", "new_role": "shop_manager"}));
        round_trip::<PasswordChanged>(
            json!({"user_id": "u1", "email": "ann@example.com", "name": "Ann"}),
        );
        let u: TenantUpdated = round_trip(json!({"tenant_id": "t1", "slug": "acme",
            "name": "Acme Ltd", "currency": "EUR", "fiscal_year_start_month": 4}));
        assert_eq!(u.fiscal_year_start_month, 4);
        let m: MemberAdded = round_trip(json!({"tenant_id": "t1", "tenant_name": "Acme Ltd",
            "user_id": "u1", "email": "ann@example.com", "name": "Ann", "role": "accountant",
            "added_by": "u0"}));
        assert_eq!(m.added_by, "u0");
        round_trip::<Summary>(json!({"total_users": 3, "active_users": 2,
                                     "by_role": {"admin": 1, "manager": 0, "accountant": 0,
                                                 "shop_manager": 0, "user": 2}}));
    }

    #[test]
    fn tolerant_readers() {
        let r: RoleChanged =
            serde_json::from_value(json!({"user_id": "u", "new_role": "manager", "x": 1})).unwrap();
        assert_eq!((r.old_role.as_str(), r.email.as_str()), ("", ""));
        assert!(serde_json::from_value::<Registered>(json!({"email": 5})).is_err());
        assert!(serde_json::from_value::<UserRef>(json!({"email": "a@b"})).is_err());
    }
}

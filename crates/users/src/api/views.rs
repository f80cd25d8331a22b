//! Response views: an account as the API shows it (never its password
//! hash) and the answers of the users service, as typed structs (schemas
//! of the OpenAPI document); times are RFC 3339 UTC text, as stored.

use marimo_platform::{auth::Role, openapi::PageFields};
use serde::Serialize;
use utoipa::ToSchema;

use crate::{
    app::sessions::Tokens,
    domain::{Tenant, User},
};

/// An account.
#[derive(Debug, Serialize, ToSchema)]
#[schema(example = json!({"id": "0192f1c4-0000-7000-8000-000000000001", "email": "ann@example.com", "name": "Ann", "role": "user", "active": true, "created_at": "2026-12-01T09:00:00.000000Z", "updated_at": "2026-12-01T09:00:00.000000Z"}))]
pub(crate) struct UserView {
    pub id: String,
    /// Lower case.
    pub email: String,
    pub name: String,
    pub role: Role,
    /// Deactivated accounts cannot sign in.
    pub active: bool,
    pub created_at: String,
    pub updated_at: String,
}

pub(crate) fn user(u: &User) -> UserView {
    UserView {
        id: u.id.clone(),
        email: u.email.clone(),
        name: u.name.clone(),
        role: u.role,
        active: u.active,
        created_at: u.created_at.clone(),
        updated_at: u.updated_at.clone(),
    }
}

/// `Bearer`, always.
#[derive(Debug, Clone, Copy, Serialize, ToSchema)]
pub(crate) enum TokenType {
    Bearer,
}

/// A new pair of tokens.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct TokenAnswer {
    pub success: bool,
    pub message: String,
    /// A JWT for `Authorization: Bearer` (HS256, 15 minutes by default).
    pub access_token: String,
    /// Opaque, single use: each refresh rotates it (7 days).
    pub refresh_token: String,
    /// Seconds the access token is valid.
    #[schema(example = 900)]
    pub expires_in: u64,
    pub token_type: TokenType,
}

pub(crate) fn tokens(message: &str, t: Tokens) -> TokenAnswer {
    TokenAnswer {
        success: true,
        message: message.to_owned(),
        access_token: t.access_token,
        refresh_token: t.refresh_token,
        expires_in: t.expires_in,
        token_type: TokenType::Bearer,
    }
}

/// Signed in: the tokens, the account (with its role in the tenant) and
/// the tenant the tokens act in.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct LoginAnswer {
    #[serde(flatten)]
    pub tokens: TokenAnswer,
    pub user: UserView,
    pub tenant: TenantView,
}

/// A tenant (business).
#[derive(Debug, Serialize, ToSchema)]
#[schema(example = json!({"id": "default", "slug": "default", "name": "Marimo ERP", "currency": "USD", "fiscal_year_start_month": 1, "created_at": "2026-12-01T09:00:00.000000Z"}))]
pub(crate) struct TenantView {
    /// `default` for the installation's first business, else a UUIDv7.
    pub id: String,
    /// Unique; sign-in and switching accept it in place of the id.
    pub slug: String,
    pub name: String,
    /// ISO 4217.
    pub currency: String,
    /// 1 (January) to 12.
    pub fiscal_year_start_month: u8,
    pub created_at: String,
}

pub(crate) fn tenant(t: &Tenant) -> TenantView {
    TenantView {
        id: t.id.as_str().to_owned(),
        slug: t.slug.clone(),
        name: t.name.clone(),
        currency: t.currency.clone(),
        fiscal_year_start_month: t.fiscal_year_start_month,
        created_at: t.created_at.clone(),
    }
}

/// `{success, tenant}`.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct TenantAnswer {
    pub success: bool,
    pub tenant: TenantView,
}

/// One of the caller's tenants with their role there.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct MyTenant {
    #[serde(flatten)]
    pub tenant: TenantView,
    pub role: Role,
    /// The tenant the presented token acts in.
    pub current: bool,
}

/// The caller's tenants, oldest membership first.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct MyTenants {
    pub success: bool,
    pub tenants: Vec<MyTenant>,
}

/// Signed up: the new tenant, its admin and a token pair in it (201).
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct SignedUp {
    #[serde(flatten)]
    pub tokens: TokenAnswer,
    pub user: UserView,
    pub tenant: TenantView,
}

/// A member added to the caller's tenant (201).
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct MemberAdded {
    pub success: bool,
    pub message: String,
    pub user: UserView,
}

/// `{success, message, user}` (201).
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct Registered {
    pub success: bool,
    pub message: String,
    pub user: UserView,
}

/// The signed-in user at the top level, as the original answered.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct Profile {
    pub success: bool,
    #[serde(flatten)]
    pub user: UserView,
}

/// A page of accounts.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct UserList {
    pub success: bool,
    pub users: Vec<UserView>,
    #[serde(flatten)]
    pub page: PageFields,
}

/// An account's revocation mark.
#[derive(Debug, Serialize)]
pub(crate) struct RevocationMark {
    pub user_id: String,
    /// Tokens issued before this (Unix milliseconds) are refused.
    pub not_before_ms: i64,
}

/// `GET /internal/revocations` (outside the API).
#[derive(Debug, Serialize)]
pub(crate) struct RevocationMarks {
    pub success: bool,
    pub marks: Vec<RevocationMark>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_account_shows_its_role_by_name_and_no_hash() {
        let v = serde_json::to_value(user(&User {
            id: "u1".into(),
            email: "ann@example.com".into(),
            name: "Ann".into(),
            role: Role::ShopManager,
            active: true,
            created_at: "2026-01-01T00:00:00.000000Z".into(),
            updated_at: "2026-01-01T00:00:00.000000Z".into(),
        }))
        .unwrap();
        assert_eq!(v["role"], "shop_manager");
        assert_eq!(v["active"], true);
        assert_eq!(v.as_object().map(|o| o.len()), Some(7));
    }
}

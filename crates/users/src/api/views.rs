//! Response views: an account as the API shows it (never its password
//! hash) and the answers of the users service, as typed structs (schemas
//! of the OpenAPI document); times are RFC 3339 UTC text, as stored.

use marimo_platform::{auth::Role, openapi::PageFields};
use serde::Serialize;
use utoipa::ToSchema;

use crate::{app::sessions::Tokens, domain::User};

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

/// Signed in: the tokens and the account.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct LoginAnswer {
    #[serde(flatten)]
    pub tokens: TokenAnswer,
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

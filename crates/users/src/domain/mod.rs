//! Pure rules of the users service, no I/O:
//!
//! - [`account`]: what a valid email, name and password are.
//! - [`throttle`]: how the brute-force delay grows.
//! - [`tokens`]: what a refresh token is and how it is stored.
//! - [`lifetimes`]: the token lifetimes the config service may set.
//! - [`search`]: the user search pattern.
//! - [`tenant`]: tenants (slug, currency, fiscal year), memberships and
//!   which one a sign-in acts in.

use marimo_platform::auth::Role;

pub mod account;
pub mod lifetimes;
pub mod search;
pub mod tenant;
pub mod throttle;
pub mod tokens;

pub use account::*;
pub use search::*;
pub use tenant::*;
pub use throttle::*;
pub use tokens::*;

/// An account (never with its password hash: that stays in
/// `store::UserRecord`). Times are RFC 3339 UTC text, as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct User {
    pub id: String,
    pub email: String,
    pub name: String,
    pub role: Role,
    pub active: bool,
    pub created_at: String,
    pub updated_at: String,
}

/// An input that breaks a rule: `marimo_platform::Invalid`, naming the
/// field, the rule (machine-readable, `details.rule`) and a sentence.
pub use marimo_platform::Invalid;

fn invalid(field: &'static str, rule: &'static str, message: impl Into<String>) -> Invalid {
    Invalid::new(field, message).with_rule(rule)
}

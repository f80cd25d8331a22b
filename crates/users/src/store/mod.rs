//! SQL for the users service's own tables (see `migrations/`). One SQL text
//! for SQLite and PostgreSQL through sqlx `Any`: `$n` placeholders, text ids
//! and times, BIGINT counters and 0/1 flags.
//!
//! Functions that may run inside a write transaction take any executor
//! (`&mut *tx` or the pool); the others take the pool.
//!
//! - [`users`]: the accounts themselves.
//! - [`sessions`]: refresh tokens and their families.
//! - [`throttle`]: the brute-force state of sign-in.
//! - [`settings`]: the token lifetimes received from the config service.
//! - [`tenants`]: the tenants and their memberships.

use marimo_platform::{auth::Role, clock};
use sqlx::{Row, any::AnyRow};
use time::OffsetDateTime;

use crate::domain::User;

/// An account with its password hash (never leaves the crate).
#[derive(Debug, Clone)]
pub struct UserRecord {
    pub user: User,
    pub password_hash: String,
}

macro_rules! user_columns {
    ($p:literal) => {
        concat!(
            $p,
            "id, ",
            $p,
            "email, ",
            $p,
            "name, ",
            $p,
            "password_hash, ",
            $p,
            "role, ",
            $p,
            "active, ",
            $p,
            "created_at, ",
            $p,
            "updated_at"
        )
    };
}

// After the macros above, which the submodules use.
pub mod sessions;
pub mod settings;
pub mod tenants;
pub mod throttle;
pub mod users;

pub use sessions::*;
pub use settings::*;
pub use tenants::*;
pub use throttle::*;
pub use users::*;

fn decode_err(msg: String) -> sqlx::Error {
    sqlx::Error::Decode(msg.into())
}

fn parse_time(s: &str) -> Result<OffsetDateTime, sqlx::Error> {
    clock::parse(s).ok_or_else(|| decode_err(format!("bad stored time '{s}'")))
}

fn record_from(row: &AnyRow) -> Result<UserRecord, sqlx::Error> {
    let role: String = row.try_get("role")?;
    let role = role.parse::<Role>().map_err(decode_err)?;
    Ok(UserRecord {
        user: User {
            id: row.try_get("id")?,
            email: row.try_get("email")?,
            name: row.try_get("name")?,
            role,
            active: row.try_get::<i64, _>("active")? != 0,
            created_at: row.try_get("created_at")?,
            updated_at: row.try_get("updated_at")?,
        },
        password_hash: row.try_get("password_hash")?,
    })
}

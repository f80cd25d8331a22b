//! Accounts (global: one per person): insert, look up, change the
//! password. Roles and standing are per tenant (`tenants`).

use marimo_platform::db::DbPool;
use marimo_platform::db::Exec;

use super::{UserRecord, record_from};
use crate::domain::User;

/// Inserts an account; `false` when the (normalised) email is taken.
pub async fn insert_user<'e>(
    ex: impl Exec<'e>,
    user: &User,
    password_hash: &str,
) -> Result<bool, sqlx::Error> {
    let res = sqlx::query(
        "INSERT INTO users (id, email, name, password_hash, role, active, created_at, updated_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
         ON CONFLICT (email) DO NOTHING",
    )
    .bind(&user.id)
    .bind(&user.email)
    .bind(&user.name)
    .bind(password_hash)
    .bind(user.role.as_str())
    .bind(i64::from(user.active))
    .bind(&user.created_at)
    .bind(&user.updated_at)
    .execute(ex)
    .await?;
    Ok(res.rows_affected() == 1)
}

pub async fn find_by_email<'e>(
    ex: impl Exec<'e>,
    email: &str,
) -> Result<Option<UserRecord>, sqlx::Error> {
    sqlx::query(concat!(
        "SELECT ",
        user_columns!(""),
        " FROM users WHERE email = $1"
    ))
    .bind(email)
    .fetch_optional(ex)
    .await?
    .as_ref()
    .map(record_from)
    .transpose()
}

pub async fn find_by_id<'e>(
    ex: impl Exec<'e>,
    id: &str,
) -> Result<Option<UserRecord>, sqlx::Error> {
    sqlx::query(concat!(
        "SELECT ",
        user_columns!(""),
        " FROM users WHERE id = $1"
    ))
    .bind(id)
    .fetch_optional(ex)
    .await?
    .as_ref()
    .map(record_from)
    .transpose()
}

/// Replaces the hash only if it is still `old` (a concurrent password change
/// wins); `true` when replaced.
pub async fn replace_password_hash(
    pool: &DbPool,
    id: &str,
    old: &str,
    new: &str,
) -> Result<bool, sqlx::Error> {
    let res =
        sqlx::query("UPDATE users SET password_hash = $3 WHERE id = $1 AND password_hash = $2")
            .bind(id)
            .bind(old)
            .bind(new)
            .execute(pool)
            .await?;
    Ok(res.rows_affected() == 1)
}

/// A password change by the user: the hash is replaced only if it is still
/// `old` (two concurrent changes cannot both win); `true` when replaced.
pub async fn change_password<'e>(
    ex: impl Exec<'e>,
    id: &str,
    old: &str,
    new: &str,
    now: &str,
) -> Result<bool, sqlx::Error> {
    let res = sqlx::query(
        "UPDATE users SET password_hash = $3, updated_at = $4 WHERE id = $1 AND password_hash = $2",
    )
    .bind(id)
    .bind(old)
    .bind(new)
    .bind(now)
    .execute(ex)
    .await?;
    Ok(res.rows_affected() == 1)
}

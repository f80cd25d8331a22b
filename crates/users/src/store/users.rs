//! Accounts: insert, look up, change, list and count.

use marimo_platform::auth::Role;
use marimo_platform::db::DbPool;
use marimo_platform::db::Exec;
use sqlx::Row;

use super::{UserRecord, decode_err, record_from};
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

/// `false` when there is no such user.
pub async fn set_role<'e>(
    ex: impl Exec<'e>,
    id: &str,
    role: Role,
    now: &str,
) -> Result<bool, sqlx::Error> {
    let res = sqlx::query("UPDATE users SET role = $2, updated_at = $3 WHERE id = $1")
        .bind(id)
        .bind(role.as_str())
        .bind(now)
        .execute(ex)
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

/// `false` when there is no such user.
pub async fn set_active<'e>(
    ex: impl Exec<'e>,
    id: &str,
    active: bool,
    now: &str,
) -> Result<bool, sqlx::Error> {
    let res = sqlx::query("UPDATE users SET active = $2, updated_at = $3 WHERE id = $1")
        .bind(id)
        .bind(i64::from(active))
        .bind(now)
        .execute(ex)
        .await?;
    Ok(res.rows_affected() == 1)
}

/// One page of users, oldest first, optionally filtered by a lower-cased
/// `LIKE` pattern over email and name; with the total of the filter.
pub async fn list_users(
    pool: &DbPool,
    pattern: Option<&str>,
    limit: u32,
    offset: i64,
) -> Result<(Vec<User>, i64), sqlx::Error> {
    let pattern = pattern.unwrap_or("");
    let rows = sqlx::query(concat!(
        "SELECT ",
        user_columns!(""),
        " FROM users WHERE ",
        user_filter!(),
        " ORDER BY created_at, id LIMIT $2 OFFSET $3"
    ))
    .bind(pattern)
    .bind(i64::from(limit))
    .bind(offset)
    .fetch_all(pool)
    .await?;
    let users = rows
        .iter()
        .map(|r| record_from(r).map(|rec| rec.user))
        .collect::<Result<Vec<_>, _>>()?;
    let total: i64 =
        sqlx::query_scalar(concat!("SELECT COUNT(*) FROM users WHERE ", user_filter!()))
            .bind(pattern)
            .fetch_one(pool)
            .await?;
    Ok((users, total))
}

/// (role, active, count) for every combination present.
pub async fn role_counts(pool: &DbPool) -> Result<Vec<(Role, bool, i64)>, sqlx::Error> {
    let rows = sqlx::query("SELECT role, active, COUNT(*) AS n FROM users GROUP BY role, active")
        .fetch_all(pool)
        .await?;
    rows.iter()
        .map(|r| {
            let role: String = r.try_get("role")?;
            Ok((
                role.parse::<Role>().map_err(decode_err)?,
                r.try_get::<i64, _>("active")? != 0,
                r.try_get::<i64, _>("n")?,
            ))
        })
        .collect()
}

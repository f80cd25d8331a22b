//! SQL for the users service's own tables (see `migrations/`). One SQL text
//! for SQLite and PostgreSQL through sqlx `Any`: `$n` placeholders, text ids
//! and times, BIGINT counters and 0/1 flags.
//!
//! Functions that may run inside a write transaction take any executor
//! (`&mut *tx` or the pool); the others take the pool.

use marimo_platform::{auth::Role, clock};
use sqlx::{Any, AnyPool, Executor, Row, any::AnyRow};
use time::OffsetDateTime;

use crate::domain::{self, Admission, ThrottleState, User};

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

/// The search filter of the user list: `$1` is a lower-cased `LIKE`
/// pattern (see `domain::contains_pattern`), `''` for no filter, so one SQL
/// text serves both cases. Emails are stored lower-cased already.
macro_rules! user_filter {
    () => {
        "($1 = '' OR email LIKE $1 ESCAPE '\\' OR lower(name) LIKE $1 ESCAPE '\\')"
    };
}

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

// ---------------------------------------------------------------- users

/// Inserts an account; `false` when the (normalised) email is taken.
pub async fn insert_user<'e>(
    ex: impl Executor<'e, Database = Any>,
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
    ex: impl Executor<'e, Database = Any>,
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
    ex: impl Executor<'e, Database = Any>,
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
    pool: &AnyPool,
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
    ex: impl Executor<'e, Database = Any>,
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
    ex: impl Executor<'e, Database = Any>,
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
    ex: impl Executor<'e, Database = Any>,
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
    pool: &AnyPool,
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
pub async fn role_counts(pool: &AnyPool) -> Result<Vec<(Role, bool, i64)>, sqlx::Error> {
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

// ------------------------------------------------------- refresh tokens

/// A presented refresh token with its family and owner.
#[derive(Debug, Clone)]
pub struct TokenRecord {
    pub family_id: String,
    pub expires_at: OffsetDateTime,
    pub used: bool,
    pub family_revoked: bool,
    pub user: User,
}

pub async fn create_family<'e>(
    ex: impl Executor<'e, Database = Any>,
    family_id: &str,
    user_id: &str,
    now: &str,
) -> Result<(), sqlx::Error> {
    sqlx::query("INSERT INTO token_families (id, user_id, created_at) VALUES ($1, $2, $3)")
        .bind(family_id)
        .bind(user_id)
        .bind(now)
        .execute(ex)
        .await?;
    Ok(())
}

pub async fn insert_token<'e>(
    ex: impl Executor<'e, Database = Any>,
    token_hash: &str,
    family_id: &str,
    now: &str,
    expires_at: &str,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO refresh_tokens (token_hash, family_id, created_at, expires_at)
         VALUES ($1, $2, $3, $4)",
    )
    .bind(token_hash)
    .bind(family_id)
    .bind(now)
    .bind(expires_at)
    .execute(ex)
    .await?;
    Ok(())
}

pub async fn find_token<'e>(
    ex: impl Executor<'e, Database = Any>,
    token_hash: &str,
) -> Result<Option<TokenRecord>, sqlx::Error> {
    let row = sqlx::query(concat!(
        "SELECT t.family_id, t.expires_at, t.used_at, f.revoked_at, ",
        user_columns!("u."),
        " FROM refresh_tokens t
          JOIN token_families f ON f.id = t.family_id
          JOIN users u ON u.id = f.user_id
         WHERE t.token_hash = $1"
    ))
    .bind(token_hash)
    .fetch_optional(ex)
    .await?;
    let Some(row) = row else { return Ok(None) };
    Ok(Some(TokenRecord {
        family_id: row.try_get("family_id")?,
        expires_at: parse_time(&row.try_get::<String, _>("expires_at")?)?,
        used: row.try_get::<Option<String>, _>("used_at")?.is_some(),
        family_revoked: row.try_get::<Option<String>, _>("revoked_at")?.is_some(),
        user: record_from(&row)?.user,
    }))
}

/// Marks a token used, only if nobody did first: the one guard that lets
/// at most one of several concurrent refreshes succeed. `true` when this
/// call marked it.
pub async fn mark_token_used<'e>(
    ex: impl Executor<'e, Database = Any>,
    token_hash: &str,
    now: &str,
) -> Result<bool, sqlx::Error> {
    let res = sqlx::query(
        "UPDATE refresh_tokens SET used_at = $2 WHERE token_hash = $1 AND used_at IS NULL",
    )
    .bind(token_hash)
    .bind(now)
    .execute(ex)
    .await?;
    Ok(res.rows_affected() == 1)
}

pub async fn revoke_family<'e>(
    ex: impl Executor<'e, Database = Any>,
    family_id: &str,
    now: &str,
) -> Result<(), sqlx::Error> {
    sqlx::query("UPDATE token_families SET revoked_at = $2 WHERE id = $1 AND revoked_at IS NULL")
        .bind(family_id)
        .bind(now)
        .execute(ex)
        .await?;
    Ok(())
}

/// Revokes every session of a user; returns how many were still live.
pub async fn revoke_user_families<'e>(
    ex: impl Executor<'e, Database = Any>,
    user_id: &str,
    now: &str,
) -> Result<u64, sqlx::Error> {
    let res = sqlx::query(
        "UPDATE token_families SET revoked_at = $2 WHERE user_id = $1 AND revoked_at IS NULL",
    )
    .bind(user_id)
    .bind(now)
    .execute(ex)
    .await?;
    Ok(res.rows_affected())
}

/// Users with a live session: an unused, unexpired refresh token in a
/// family that is not revoked (`active_users_total`).
pub async fn active_users<'e>(
    ex: impl Executor<'e, Database = Any>,
    now: &str,
) -> Result<i64, sqlx::Error> {
    sqlx::query_scalar(
        "SELECT COUNT(DISTINCT f.user_id) FROM token_families f
         JOIN refresh_tokens t ON t.family_id = f.id
         WHERE f.revoked_at IS NULL AND t.used_at IS NULL AND t.expires_at > $1",
    )
    .bind(now)
    .fetch_one(ex)
    .await
}

/// Forgets a user's refresh tokens that can no longer be used (expired, or
/// of a revoked family: both answer 401 whether the row exists or not), and
/// then the families left without tokens.
pub async fn prune_sessions(
    tx: &mut sqlx::AnyConnection,
    user_id: &str,
    now: &str,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "DELETE FROM refresh_tokens
          WHERE family_id IN (SELECT id FROM token_families WHERE user_id = $1)
            AND (expires_at < $2
                 OR family_id IN (SELECT id FROM token_families
                                   WHERE user_id = $1 AND revoked_at IS NOT NULL))",
    )
    .bind(user_id)
    .bind(now)
    .execute(&mut *tx)
    .await?;
    sqlx::query(
        "DELETE FROM token_families
          WHERE user_id = $1
            AND NOT EXISTS (SELECT 1 FROM refresh_tokens t WHERE t.family_id = token_families.id)",
    )
    .bind(user_id)
    .execute(&mut *tx)
    .await?;
    Ok(())
}

/// Forgets, for every user, the refresh tokens that expired before
/// `cutoff` or belong to a family revoked before it, then the families
/// created before it that have no token left. A used token of a live family
/// is kept until it expires: presenting it again must still revoke the
/// family. Returns the tokens deleted.
pub async fn purge_dead_sessions(
    tx: &mut sqlx::AnyConnection,
    cutoff: &str,
) -> Result<u64, sqlx::Error> {
    let tokens = sqlx::query(
        "DELETE FROM refresh_tokens
          WHERE expires_at < $1
             OR family_id IN (SELECT id FROM token_families
                               WHERE revoked_at IS NOT NULL AND revoked_at < $1)",
    )
    .bind(cutoff)
    .execute(&mut *tx)
    .await?
    .rows_affected();
    sqlx::query(
        "DELETE FROM token_families
          WHERE created_at < $1
            AND NOT EXISTS (SELECT 1 FROM refresh_tokens t WHERE t.family_id = token_families.id)",
    )
    .bind(cutoff)
    .execute(&mut *tx)
    .await?;
    Ok(tokens)
}

// --------------------------------------------------------- brute force

async fn throttle_state(pool: &AnyPool, email: &str) -> Result<Option<ThrottleState>, sqlx::Error> {
    let row = sqlx::query(
        "SELECT failures, blocked_until, last_attempt_at FROM login_throttle WHERE email = $1",
    )
    .bind(email)
    .fetch_optional(pool)
    .await?;
    let Some(row) = row else { return Ok(None) };
    Ok(Some(ThrottleState {
        failures: row.try_get("failures")?,
        blocked_until: row
            .try_get::<Option<String>, _>("blocked_until")?
            .as_deref()
            .map(parse_time)
            .transpose()?,
        last_attempt_at: parse_time(&row.try_get::<String, _>("last_attempt_at")?)?,
    }))
}

/// Decides on a sign-in attempt and, when admitted, counts it as a failure
/// up front with a compare-and-swap on the row, so replicas and concurrent
/// requests agree: once the delay applies, one attempt per window gets
/// through. Rows of addresses untried for a day are pruned on the way.
pub async fn throttle_admit(
    pool: &AnyPool,
    email: &str,
    now: OffsetDateTime,
) -> Result<Admission, sqlx::Error> {
    let now_text = clock::format(now);
    // Each lost race means another attempt was just counted; a few rounds
    // settle it, and endless contention is itself a reason to slow down.
    for _ in 0..8 {
        let state = throttle_state(pool, email).await?;
        let admission = domain::admit(state.as_ref(), now);
        let Admission::Admit {
            failures,
            blocked_until,
        } = &admission
        else {
            return Ok(admission);
        };
        let blocked_until = blocked_until.map(clock::format);
        let won = match &state {
            None => {
                let res = sqlx::query(
                    "INSERT INTO login_throttle (email, failures, blocked_until, last_attempt_at)
                     VALUES ($1, $2, $3, $4)
                     ON CONFLICT (email) DO NOTHING",
                )
                .bind(email)
                .bind(*failures)
                .bind(&blocked_until)
                .bind(&now_text)
                .execute(pool)
                .await?;
                if res.rows_affected() == 1 {
                    let cutoff = clock::format(now - domain::FORGET_AFTER);
                    sqlx::query("DELETE FROM login_throttle WHERE last_attempt_at < $1")
                        .bind(cutoff)
                        .execute(pool)
                        .await?;
                }
                res.rows_affected() == 1
            }
            Some(seen) => {
                let res = sqlx::query(
                    "UPDATE login_throttle
                        SET failures = $2, blocked_until = $3, last_attempt_at = $4
                      WHERE email = $1 AND failures = $5 AND last_attempt_at = $6",
                )
                .bind(email)
                .bind(*failures)
                .bind(&blocked_until)
                .bind(&now_text)
                .bind(seen.failures)
                .bind(clock::format(seen.last_attempt_at))
                .execute(pool)
                .await?;
                res.rows_affected() == 1
            }
        };
        if won {
            return Ok(admission);
        }
    }
    Ok(Admission::Blocked {
        retry_after_secs: 1,
    })
}

/// After a failed check: the delay runs from the failure, not from the
/// start of the attempt (which may have waited for a hashing slot). Only
/// while the row still holds this attempt's count.
pub async fn throttle_failed<'e>(
    ex: impl Executor<'e, Database = Any>,
    email: &str,
    failures: i64,
    at: OffsetDateTime,
) -> Result<(), sqlx::Error> {
    if let Some(until) = domain::blocked_until(failures, at) {
        sqlx::query(
            "UPDATE login_throttle SET blocked_until = $3 WHERE email = $1 AND failures = $2",
        )
        .bind(email)
        .bind(failures)
        .bind(clock::format(until))
        .execute(ex)
        .await?;
    }
    Ok(())
}

/// A successful sign-in resets the count.
pub async fn throttle_clear(pool: &AnyPool, email: &str) -> Result<(), sqlx::Error> {
    sqlx::query("DELETE FROM login_throttle WHERE email = $1")
        .bind(email)
        .execute(pool)
        .await?;
    Ok(())
}

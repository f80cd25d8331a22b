//! Refresh tokens and their families (sessions): create, find, rotate,
//! revoke, count the live ones, prune and purge the dead ones.

use marimo_platform::db::Exec;
use marimo_platform::db::TxConn;
use marimo_platform::tenant::TenantId;
use sqlx::Row;
use time::OffsetDateTime;

use super::{parse_time, record_from};
use crate::domain::User;

/// A presented refresh token with its family and owner.
#[derive(Debug, Clone)]
pub struct TokenRecord {
    pub family_id: String,
    pub expires_at: OffsetDateTime,
    pub used: bool,
    pub family_revoked: bool,
    /// The tenant the session acts in (refresh keeps it).
    pub tenant: TenantId,
    pub user: User,
}

pub async fn create_family<'e>(
    ex: impl Exec<'e>,
    family_id: &str,
    user_id: &str,
    tenant: &TenantId,
    now: &str,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO token_families (id, user_id, created_at, tenant_id) VALUES ($1, $2, $3, $4)",
    )
    .bind(family_id)
    .bind(user_id)
    .bind(now)
    .bind(tenant.as_str())
    .execute(ex)
    .await?;
    Ok(())
}

pub async fn insert_token<'e>(
    ex: impl Exec<'e>,
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
    ex: impl Exec<'e>,
    token_hash: &str,
) -> Result<Option<TokenRecord>, sqlx::Error> {
    let row = sqlx::query(concat!(
        "SELECT t.family_id, t.expires_at, t.used_at, f.revoked_at, f.tenant_id, ",
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
        tenant: TenantId::parse(&row.try_get::<String, _>("tenant_id")?)
            .map_err(|e| super::decode_err(e.message))?,
        user: record_from(&row)?.user,
    }))
}

/// Marks a token used, only if nobody did first: the one guard that lets
/// at most one of several concurrent refreshes succeed. `true` when this
/// call marked it.
pub async fn mark_token_used<'e>(
    ex: impl Exec<'e>,
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
    ex: impl Exec<'e>,
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
    ex: impl Exec<'e>,
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

/// Revokes a user's sessions in one tenant (deactivation there leaves
/// their sessions in other tenants alone); returns how many were live.
pub async fn revoke_user_families_in<'e>(
    ex: impl Exec<'e>,
    user_id: &str,
    tenant: &TenantId,
    now: &str,
) -> Result<u64, sqlx::Error> {
    let res = sqlx::query(
        "UPDATE token_families SET revoked_at = $2
          WHERE user_id = $1 AND tenant_id = $3 AND revoked_at IS NULL",
    )
    .bind(user_id)
    .bind(now)
    .bind(tenant.as_str())
    .execute(ex)
    .await?;
    Ok(res.rows_affected())
}

/// Users with a live session: an unused, unexpired refresh token in a
/// family that is not revoked (`active_users_total`).
pub async fn active_users<'e>(ex: impl Exec<'e>, now: &str) -> Result<i64, sqlx::Error> {
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
pub async fn prune_sessions(tx: &mut TxConn, user_id: &str, now: &str) -> Result<(), sqlx::Error> {
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
pub async fn purge_dead_sessions(tx: &mut TxConn, cutoff: &str) -> Result<u64, sqlx::Error> {
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

/// Sets account `user_id`'s revocation mark to `not_before_ms` (unix
/// milliseconds), unless it already holds a later one.
pub async fn set_revocation<'e>(
    ex: impl Exec<'e>,
    user_id: &str,
    not_before_ms: i64,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO session_revocations (user_id, not_before) VALUES ($1, $2)
         ON CONFLICT (user_id) DO UPDATE SET not_before =
           CASE WHEN excluded.not_before > session_revocations.not_before
                THEN excluded.not_before ELSE session_revocations.not_before END",
    )
    .bind(user_id)
    .bind(not_before_ms)
    .execute(ex)
    .await?;
    Ok(())
}

/// The revocation marks set at or after `since` (unix milliseconds).
pub async fn revocations_since<'e>(
    ex: impl Exec<'e>,
    since: i64,
) -> Result<Vec<(String, i64)>, sqlx::Error> {
    let rows = sqlx::query(
        "SELECT user_id, not_before FROM session_revocations WHERE not_before >= $1
         ORDER BY not_before",
    )
    .bind(since)
    .fetch_all(ex)
    .await?;
    rows.iter()
        .map(|r| Ok((r.try_get("user_id")?, r.try_get("not_before")?)))
        .collect()
}

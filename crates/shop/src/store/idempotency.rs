//! `Idempotency-Key` records of order placements, written in the
//! placement's transaction.
//!
//! The first request with a key claims it (a row with status 0) at the
//! start of its transaction and stores its response before committing. A
//! concurrent request with the same key waits on that row (PostgreSQL) or
//! on the write lock (SQLite), then finds the stored response. If the first
//! request fails, its transaction rolls back and the key is free again:
//! only placements that happened are remembered.

use sqlx::{AnyConnection, AnyPool, Row};

/// What a key's record says about a request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Claim {
    /// The key is new: go ahead.
    Fresh,
    /// Seen with the same request: answer this again.
    Replay { status: u16, body: String },
    /// Seen with a different request.
    Mismatch,
}

pub async fn claim(
    conn: &mut AnyConnection,
    user_id: &str,
    key: &str,
    request_hash: &str,
    now: &str,
) -> Result<Claim, sqlx::Error> {
    let inserted = sqlx::query(
        "INSERT INTO idempotency_keys (user_id, idem_key, request_hash, status, body, created_at)
         VALUES ($1, $2, $3, 0, '', $4)
         ON CONFLICT (user_id, idem_key) DO NOTHING",
    )
    .bind(user_id)
    .bind(key)
    .bind(request_hash)
    .bind(now)
    .execute(&mut *conn)
    .await?
    .rows_affected();
    if inserted == 1 {
        return Ok(Claim::Fresh);
    }
    let row = sqlx::query(
        "SELECT request_hash, status, body FROM idempotency_keys WHERE user_id = $1 AND idem_key = $2",
    )
    .bind(user_id)
    .bind(key)
    .fetch_one(conn)
    .await?;
    let hash: String = row.try_get("request_hash")?;
    if hash != request_hash {
        return Ok(Claim::Mismatch);
    }
    let status: i64 = row.try_get("status")?;
    Ok(Claim::Replay {
        status: u16::try_from(status).unwrap_or(500),
        body: row.try_get("body")?,
    })
}

/// Stores the response of the claiming request.
pub async fn complete(
    conn: &mut AnyConnection,
    user_id: &str,
    key: &str,
    status: u16,
    body: &str,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "UPDATE idempotency_keys SET status = $3, body = $4 WHERE user_id = $1 AND idem_key = $2",
    )
    .bind(user_id)
    .bind(key)
    .bind(i64::from(status))
    .bind(body)
    .execute(conn)
    .await?;
    Ok(())
}

/// Forgets keys older than `cutoff` (storage format).
pub async fn purge(pool: &AnyPool, cutoff: &str) -> Result<u64, sqlx::Error> {
    Ok(
        sqlx::query("DELETE FROM idempotency_keys WHERE created_at < $1")
            .bind(cutoff)
            .execute(pool)
            .await?
            .rows_affected(),
    )
}

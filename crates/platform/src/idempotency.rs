//! `Idempotency-Key` for POSTs that must not happen twice (an order, a
//! journal posting, a stock receipt): the header, and the records a
//! service keeps of the keys it has seen, written in the transaction of
//! the request's own effect.
//!
//! The first request with a key claims it (a row with status 0) at the
//! start of its transaction and stores its response before committing. A
//! concurrent request with the same key waits on that row (PostgreSQL) or
//! on the write lock (SQLite), then finds the stored response. If the first
//! request fails, its transaction rolls back and the key is free again:
//! only requests that took effect are remembered.
//!
//! Every other mutating endpoint is covered by [`layer`]: one middleware
//! where a service's router is built, which claims the key outside the
//! handler's transaction and stores the answer after it (its residual
//! window is described there). Money and stock endpoints keep this
//! in-transaction flow, which has no such window.
//!
//! The flow is the same in every service: [`Keyed::from_request`] reads the
//! header in the handler; the use case opens its transaction and calls
//! [`Keyed::claim`]: a [`Claim::Replay`] is answered with [`replay`], a
//! [`Claim::Mismatch`] with [`key_reused`]; a fresh claim does the work and
//! stores the response it will answer with [`Keyed::complete`] before
//! commit.
//!
//! Every service that uses this has the same table in its own schema:
//!
//! ```sql
//! CREATE TABLE idempotency_keys (
//!     caller       TEXT NOT NULL,   -- keys are scoped to the caller
//!     idem_key     TEXT NOT NULL,
//!     request_hash TEXT NOT NULL,   -- what makes it "the same request"
//!     status       BIGINT NOT NULL, -- 0 while the claim is in flight
//!     body         TEXT NOT NULL,
//!     created_at   TEXT NOT NULL,
//!     PRIMARY KEY (caller, idem_key)
//! );
//! ```

use axum::{
    http::{HeaderMap, HeaderValue, StatusCode, header},
    response::{IntoResponse, Response},
};
use serde::Serialize;
use serde_json::json;
use sha2::{Digest, Sha256};
use sqlx::Row;

use crate::db::{DbPool, TxConn};

use crate::ApiError;

pub mod layer;

pub use layer::Layer;

/// The request header.
pub const HEADER: &str = "idempotency-key";
/// The response header set on a replayed answer.
pub const REPLAYED: &str = "idempotent-replayed";
const MAX_KEY_LEN: usize = 255;

/// The `Idempotency-Key` header: absent, or 1–255 visible ASCII characters.
pub fn key_from(headers: &HeaderMap) -> Result<Option<String>, ApiError> {
    let Some(v) = headers.get(HEADER) else {
        return Ok(None);
    };
    let key = v.to_str().unwrap_or("").trim();
    if key.is_empty() || key.len() > MAX_KEY_LEN || !key.bytes().all(|b| b.is_ascii_graphic()) {
        return Err(ApiError::validation(format!(
            "Idempotency-Key must be 1 to {MAX_KEY_LEN} visible ASCII characters"
        ))
        .with_details(json!({"field": "Idempotency-Key"})));
    }
    Ok(Some(key.to_owned()))
}

/// An `Idempotency-Key` a caller sent, scoped to the caller, with the
/// fingerprint of the request it came with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Keyed {
    /// Keys are per caller: two users may pick the same key.
    pub caller: String,
    pub key: String,
    pub request_hash: String,
}

impl Keyed {
    /// The key of a request, if it sent one (400 for a malformed key).
    pub fn from_request(
        headers: &HeaderMap,
        caller: &str,
        method: &str,
        path: &str,
        body: &impl Serialize,
    ) -> Result<Option<Self>, ApiError> {
        Ok(key_from(headers)?.map(|key| Self {
            caller: caller.to_owned(),
            key,
            request_hash: fingerprint(method, path, body),
        }))
    }

    /// [`claim`]s this key inside the request's transaction.
    pub async fn claim(&self, conn: &mut TxConn, now: &str) -> Result<Claim, sqlx::Error> {
        claim(conn, &self.caller, &self.key, &self.request_hash, now).await
    }

    /// Stores the answer of the request that claimed this key
    /// ([`complete`]), in the same transaction.
    pub async fn complete(
        &self,
        conn: &mut TxConn,
        status: u16,
        body: &str,
    ) -> Result<(), sqlx::Error> {
        complete(conn, &self.caller, &self.key, status, body).await
    }
}

/// The one answer to a key used again with another request (422).
pub fn key_reused() -> ApiError {
    ApiError::new(
        StatusCode::UNPROCESSABLE_ENTITY,
        "IDEMPOTENCY_KEY_REUSED",
        "this Idempotency-Key was already used with a different request",
    )
}

/// The stored answer of a request seen before, sent again as it was the
/// first time, marked `Idempotent-Replayed: true`.
pub fn replay(status: u16, body: String) -> Response {
    let status = StatusCode::from_u16(status).unwrap_or(StatusCode::OK);
    let mut res = (
        status,
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        )],
        body,
    )
        .into_response();
    res.headers_mut()
        .insert(REPLAYED, HeaderValue::from_static("true"));
    res
}

/// What identifies "the same request": method, path and the body as
/// JSON (a `Value`'s object keys sorted, a struct's fields in their fixed
/// order; no insignificant whitespace), hashed.
pub fn fingerprint(method: &str, path: &str, body: &impl Serialize) -> String {
    let mut h = Sha256::new();
    h.update(method.as_bytes());
    h.update(b" ");
    h.update(path.as_bytes());
    h.update(b"\n");
    h.update(serde_json::to_vec(body).unwrap_or_default());
    hex::encode(h.finalize())
}

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

/// Claims `key` for `caller` inside the request's transaction.
pub async fn claim(
    conn: &mut TxConn,
    caller: &str,
    key: &str,
    request_hash: &str,
    now: &str,
) -> Result<Claim, sqlx::Error> {
    let inserted = sqlx::query(
        "INSERT INTO idempotency_keys (caller, idem_key, request_hash, status, body, created_at)
         VALUES ($1, $2, $3, 0, '', $4)
         ON CONFLICT (caller, idem_key) DO NOTHING",
    )
    .bind(caller)
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
        "SELECT request_hash, status, body FROM idempotency_keys WHERE caller = $1 AND idem_key = $2",
    )
    .bind(caller)
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

/// Stores the response of the claiming request (same transaction).
pub async fn complete(
    conn: &mut TxConn,
    caller: &str,
    key: &str,
    status: u16,
    body: &str,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "UPDATE idempotency_keys SET status = $3, body = $4 WHERE caller = $1 AND idem_key = $2",
    )
    .bind(caller)
    .bind(key)
    .bind(i64::from(status))
    .bind(body)
    .execute(conn)
    .await?;
    Ok(())
}

/// Forgets keys older than `retention` from `db`, hourly, until the
/// service shuts down.
pub fn spawn_purge(
    ctx: &crate::service::ServiceContext,
    db: crate::db::Db,
    retention: std::time::Duration,
) {
    let shutdown = ctx.shutdown.clone();
    ctx.tasks.spawn(async move {
        loop {
            let cutoff = crate::clock::format(crate::clock::now() - retention);
            if let Err(e) = purge(db.pool(), &cutoff).await {
                tracing::warn!(error = %e, "idempotency key purge failed");
            }
            tokio::select! {
                () = shutdown.cancelled() => return,
                () = tokio::time::sleep(std::time::Duration::from_secs(3600)) => {}
            }
        }
    });
}

/// Forgets keys older than `cutoff` (RFC 3339 text): completed ones, and
/// claims of [`layer`] that were never finished (their process died; a
/// claim being renewed is never that old, and an in-transaction claim is
/// not committed until it is complete).
pub async fn purge(pool: &DbPool, cutoff: &str) -> Result<u64, sqlx::Error> {
    Ok(
        sqlx::query("DELETE FROM idempotency_keys WHERE created_at < $1")
            .bind(cutoff)
            .execute(pool)
            .await?
            .rows_affected(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(v: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(HEADER, v.parse().unwrap());
        h
    }

    #[test]
    fn fingerprints_ignore_layout_but_not_content() {
        let a: serde_json::Value = serde_json::from_str(r#"{"b": 1, "a": [1, 2]}"#).unwrap();
        let b = json!({"a": [1, 2], "b": 1});
        let c = json!({"a": [2, 1], "b": 1});
        let fp = |v| fingerprint("POST", "/x", v);
        assert_eq!(fp(&a), fp(&b));
        assert_ne!(fp(&a), fp(&c));
        assert_ne!(fp(&a), fingerprint("POST", "/y", &a));
    }

    #[test]
    fn replays_are_marked_and_reuse_is_422() {
        let res = replay(201, r#"{"success":true}"#.into());
        assert_eq!(res.status(), StatusCode::CREATED);
        assert_eq!(res.headers()[REPLAYED], "true");
        assert_eq!(res.headers()[header::CONTENT_TYPE], "application/json");
        let e = key_reused();
        assert_eq!(
            (e.status, e.code),
            (StatusCode::UNPROCESSABLE_ENTITY, "IDEMPOTENCY_KEY_REUSED")
        );
        let keyed = Keyed::from_request(&headers("k"), "u1", "POST", "/x", &json!({}))
            .unwrap()
            .unwrap();
        assert_eq!((keyed.caller.as_str(), keyed.key.as_str()), ("u1", "k"));
        assert_eq!(keyed.request_hash, fingerprint("POST", "/x", &json!({})));
        assert_eq!(
            Keyed::from_request(&HeaderMap::new(), "u1", "POST", "/x", &json!({})).unwrap(),
            None
        );
    }

    #[test]
    fn keys_are_visible_ascii_up_to_255() {
        assert_eq!(key_from(&HeaderMap::new()).unwrap(), None);
        assert_eq!(key_from(&headers(" k-1 ")).unwrap().as_deref(), Some("k-1"));
        assert!(key_from(&headers("")).is_err());
        assert!(key_from(&headers("a b")).is_err());
        assert!(key_from(&headers(&"k".repeat(256))).is_err());
        assert!(key_from(&headers(&"k".repeat(255))).is_ok());
    }
}

//! `Idempotency-Key` for every mutating endpoint: one layer where a
//! service's router is built ([`crate::http::ServiceApp::idempotency`]),
//! so a client that got a 502, a timeout or no answer at all can send the
//! same request again and get the first answer instead of a second effect.
//!
//! For a POST, PUT, PATCH or DELETE with the header, from a signed-in
//! caller, to a route that does not use the in-transaction flow of the
//! parent module:
//!
//! 1. **Claim**: a row in the service's `idempotency_keys` (scope: the
//!    caller's user id and the key; fingerprint: method, path with query
//!    and the exact body bytes, hashed), committed at once with status 0
//!    and, in `body`, a random holder token. A key seen before with
//!    another request is refused (`IDEMPOTENCY_KEY_REUSED`, 422); one with
//!    a stored answer is answered with it (`Idempotent-Replayed: true`);
//!    one whose first request is still running is waited for (up to
//!    [`IN_FLIGHT_WAIT`]), then refused with `IDEMPOTENCY_KEY_IN_FLIGHT`
//!    (409, `Retry-After`).
//! 2. **Run** the handler in a task of its own, so a client (or gateway)
//!    that hangs up does not cancel it half-way: it finishes, and its
//!    answer is stored for the retry. While it runs the claim is renewed
//!    every [`HEARTBEAT`].
//! 3. **Store** status, content type and body (status ≠ 0 marks it done),
//!    for answers that are final: 2xx, 3xx and 4xx except 408 and 429.
//!    A 5xx, 408 or 429 says the request did not take effect (its
//!    transaction rolled back, or it was refused before it started), so
//!    the claim is deleted and a retry runs it again.
//!
//! **The residual window.** The handler commits its own transaction; the
//! answer is stored by a second statement afterwards. A process that dies
//! between the two (SIGKILL, power loss) leaves the effect committed and
//! the claim unfinished. Its renewals stop, and a retry after the claim
//! went stale ([`STALE_AFTER`]) takes it over and runs the handler again:
//! the effect can happen twice, or the retry gets the refusal of a second
//! attempt (an order already shipped: 409). Retries within that time get
//! 409 `IDEMPOTENCY_KEY_IN_FLIGHT`. This is why endpoints that move money
//! or stock (shop orders and payments, accounting postings, factory stock
//! moves) do not use this layer: they claim the key inside the transaction
//! of their effect (the parent module), so effect and answer commit
//! together or not at all, and such routes are named to the layer with
//! [`Layer::in_transaction`] so their keys are not claimed twice.
//!
//! Not covered, on purpose: requests without a valid bearer token (there
//! is no caller to scope the key to — sign-in, registration, token
//! refresh, whose answers carry secrets that must not be stored — or the
//! handler answers 401 anyway); answers that are not UTF-8 text or are
//! larger than [`MAX_STORED`] (no endpoint has such; they pass through
//! unremembered, with a warning).
//!
//! Stored rows: `status` is the answer's status, `body` is the content
//! type, a newline, then the body. (The in-transaction flow stores its
//! JSON body alone; a row is only ever read back by the flow that wrote
//! it, as the fingerprints of the two flows never match.)

use std::{
    panic::AssertUnwindSafe,
    sync::Arc,
    time::{Duration, Instant},
};

use axum::{
    body::Body,
    extract::{MatchedPath, Request, State},
    http::{HeaderValue, Method, StatusCode, header},
    middleware::Next,
    response::{IntoResponse, Response},
};
use futures_util::FutureExt;
use http_body_util::BodyExt;
use sha2::{Digest, Sha256};
use sqlx::Row;
use tokio_util::task::TaskTracker;
use tracing::Instrument;

use super::{HEADER, REPLAYED, key_from, key_reused};
use crate::{
    ApiError, ErrorCode,
    auth::{JwtKeys, caller::bearer},
    db::{Db, DbError, DbPool, Prepared, Schema},
    http::request_id,
    ids::new_id,
    service::{ServiceContext, StartError},
    telemetry::{Metrics, trace},
};

/// How long a repeat waits for the first request with its key to finish.
pub const IN_FLIGHT_WAIT: Duration = Duration::from_secs(5);
/// How often a running request renews its claim.
pub const HEARTBEAT: Duration = Duration::from_secs(2);
/// A claim not renewed for this long belongs to a process that died: a
/// retry may take it over.
pub const STALE_AFTER: Duration = Duration::from_secs(10);
/// The largest answer that is stored.
pub const MAX_STORED: usize = 1024 * 1024;

/// The table, for services whose migrations do not create it (users,
/// config, worker); the same definition as those that do (shop,
/// accounting, factory), where this is a no-op.
const DDL: &str = "CREATE TABLE IF NOT EXISTS idempotency_keys (
    caller       TEXT NOT NULL,
    idem_key     TEXT NOT NULL,
    request_hash TEXT NOT NULL,
    status       BIGINT NOT NULL,
    body         TEXT NOT NULL,
    created_at   TEXT NOT NULL,
    PRIMARY KEY (caller, idem_key)
);
CREATE INDEX IF NOT EXISTS idempotency_keys_created_idx ON idempotency_keys (created_at)";

/// The layer's state; apply it with [`crate::http::ServiceApp::idempotency`].
#[derive(Clone)]
pub struct Layer {
    inner: Arc<Inner>,
}

struct Inner {
    db: Db,
    jwt: Arc<JwtKeys>,
    tasks: TaskTracker,
    metrics: Metrics,
    max_body: usize,
    /// Routes (method, route pattern) that claim keys in their own
    /// transaction.
    in_transaction: Vec<(Method, String)>,
}

impl Layer {
    /// The layer of a service with a database: creates `idempotency_keys`
    /// when missing (a schema part, so nothing but reads on a current
    /// schema). Call it after the service's own migrations.
    pub async fn prepare(ctx: &ServiceContext) -> Result<Self, StartError> {
        let db = ctx
            .db
            .clone()
            .ok_or("the idempotency layer needs the service's database")?;
        prepare_table(&db).await?;
        Ok(Self {
            inner: Arc::new(Inner {
                db,
                jwt: ctx.jwt.clone(),
                tasks: ctx.tasks.clone(),
                metrics: ctx.metrics.clone(),
                max_body: ctx.settings.max_body_bytes,
                in_transaction: Vec::new(),
            }),
        })
    }

    /// Routes (`method`, route pattern as given to the router, e.g.
    /// `/api/shop/orders/{id}/pay`) whose handlers claim the key inside
    /// their own transaction: the layer leaves their keys alone.
    pub fn in_transaction(mut self, routes: &[(Method, &str)]) -> Self {
        let list = routes
            .iter()
            .map(|(m, p)| (m.clone(), (*p).to_owned()))
            .collect();
        match Arc::get_mut(&mut self.inner) {
            Some(inner) => inner.in_transaction = list,
            None => {
                // Only reachable if the layer was cloned before being
                // configured; rebuild rather than lose the routes.
                let old = &self.inner;
                self.inner = Arc::new(Inner {
                    db: old.db.clone(),
                    jwt: old.jwt.clone(),
                    tasks: old.tasks.clone(),
                    metrics: old.metrics.clone(),
                    max_body: old.max_body,
                    in_transaction: list,
                });
            }
        }
        self
    }
}

/// Whether two route templates name the same endpoint, whichever API
/// prefix each is written under (`/api/v1/...` or its `/api/...` alias), so
/// a service's in-transaction list holds however its routes are declared.
fn same_route(a: &str, b: &str) -> bool {
    fn unversioned(p: &str) -> &str {
        p.strip_prefix(crate::http::version::V1_PREFIX)
            .or_else(|| p.strip_prefix("/api"))
            .unwrap_or(p)
    }
    unversioned(a) == unversioned(b)
}

/// Creates the table unless it is there (nothing but reads when it is).
pub async fn prepare_table(db: &Db) -> Result<Prepared, DbError> {
    db.prepare(&Schema::new().part("idempotency", DDL)).await
}

/// The middleware (see the module docs).
pub async fn middleware(State(layer): State<Layer>, req: Request, next: Next) -> Response {
    let inner = layer.inner;
    if !matches!(
        *req.method(),
        Method::POST | Method::PUT | Method::PATCH | Method::DELETE
    ) || !req.headers().contains_key(HEADER)
    {
        return next.run(req).await;
    }
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map(|p| p.as_str().to_owned());
    let Some(route) = route else {
        // No such route: the 404 needs no key.
        return next.run(req).await;
    };
    if inner
        .in_transaction
        .iter()
        .any(|(m, p)| m == req.method() && same_route(p, &route))
    {
        return next.run(req).await;
    }
    let key = match key_from(req.headers()) {
        Ok(Some(key)) => key,
        Ok(None) => return next.run(req).await,
        Err(e) => return e.into_response(),
    };
    let (parts, body) = req.into_parts();
    let caller = match bearer(&parts).map(|t| inner.jwt.verify_identity(t)) {
        Some(Ok(identity)) => identity.tenant.scope(&identity.user_id),
        // No caller to scope the key to; the handler decides (401, or a
        // public endpoint whose answer must not be stored).
        _ => return next.run(Request::from_parts(parts, body)).await,
    };
    let bytes = match http_body_util::Limited::new(body, inner.max_body)
        .collect()
        .await
    {
        Ok(collected) => collected.to_bytes(),
        Err(e) if e.is::<http_body_util::LengthLimitError>() => {
            return ApiError::of(ErrorCode::PayloadTooLarge, "the request body is too large")
                .into_response();
        }
        Err(_) => {
            return ApiError::validation("the request body could not be read").into_response();
        }
    };
    let path = parts
        .uri
        .path_and_query()
        .map_or_else(|| parts.uri.path().to_owned(), |pq| pq.as_str().to_owned());
    let claim = Claimed {
        caller,
        key,
        holder: new_id(),
    };
    let hash = fingerprint(parts.method.as_str(), &path, &bytes);

    let deadline = Instant::now() + IN_FLIGHT_WAIT;
    let mut pause = Duration::from_millis(25);
    let mut waited = false;
    loop {
        match claim.take(inner.db.pool(), &hash).await {
            Ok(Outcome::Fresh) => break,
            Ok(Outcome::Replay(stored)) => {
                count(&inner.metrics, "replayed");
                return stored.into_response();
            }
            Ok(Outcome::Mismatch) => {
                count(&inner.metrics, "mismatch");
                return key_reused().into_response();
            }
            Ok(Outcome::InFlight) if Instant::now() < deadline => {
                if !waited {
                    waited = true;
                    count(&inner.metrics, "waited");
                }
                tokio::time::sleep(pause).await;
                pause = (pause * 2).min(Duration::from_millis(250));
            }
            Ok(Outcome::InFlight) => {
                count(&inner.metrics, "in_flight");
                return key_in_flight().into_response();
            }
            Err(e) => return ApiError::from(e).into_response(),
        }
    }
    count(&inner.metrics, "claimed");

    // The handler and the storing of its answer run in a task of their
    // own, in this request's trace, log span and request id.
    let req = Request::from_parts(parts, Body::from(bytes));
    let tasks = inner.tasks.clone();
    let scope = trace::capture();
    let request_id = request_id::current();
    let span = tracing::Span::current();
    let run = async move {
        let work = trace::resume(scope, run_claimed(inner, claim, next, req));
        match request_id {
            Some(id) => request_id::scope(id, work).await,
            None => work.await,
        }
    }
    .instrument(span);
    match tasks.spawn(run).await {
        Ok(res) => res,
        // The task itself cannot panic (the handler's panic is caught in
        // it); a runtime shutting down is all that is left.
        Err(_) => ApiError::unavailable("the service is shutting down, try again shortly")
            .retry_after(1)
            .into_response(),
    }
}

/// Runs the handler with the claim held, then stores or releases it.
async fn run_claimed(inner: Arc<Inner>, claim: Claimed, next: Next, req: Request) -> Response {
    let handler = AssertUnwindSafe(next.run(req)).catch_unwind();
    tokio::pin!(handler);
    let mut heartbeat =
        tokio::time::interval_at(tokio::time::Instant::now() + HEARTBEAT, HEARTBEAT);
    let outcome = loop {
        tokio::select! {
            outcome = &mut handler => break outcome,
            _ = heartbeat.tick() => {
                if let Err(e) = claim.renew(inner.db.pool()).await {
                    tracing::warn!(error = %e, "renewing an Idempotency-Key claim failed");
                }
            }
        }
    };
    let Ok(res) = outcome else {
        tracing::error!("handler panicked");
        claim.release(inner.db.pool()).await;
        return ApiError::internal("internal error").into_response();
    };
    let status = res.status();
    if !is_final(status) {
        claim.release(inner.db.pool()).await;
        count(&inner.metrics, "released");
        return res;
    }
    let (mut parts, body) = res.into_parts();
    let bytes = match body.collect().await {
        Ok(collected) => collected.to_bytes(),
        Err(e) => {
            tracing::error!(error = %e, "the answer's body failed");
            claim.release(inner.db.pool()).await;
            return ApiError::internal("internal error").into_response();
        }
    };
    let content_type = parts
        .headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_owned();
    match std::str::from_utf8(&bytes) {
        Ok(text) if bytes.len() <= MAX_STORED => {
            if let Err(e) = claim
                .complete(inner.db.pool(), status, &content_type, text)
                .await
            {
                // The effect happened; the claim goes stale and a retry
                // would run it again (the residual window, widened by a
                // database that failed right now).
                tracing::error!(error = %e, "storing the answer of an Idempotency-Key failed");
            }
        }
        _ => {
            tracing::warn!(
                bytes = bytes.len(),
                "an answer that is not UTF-8 text or too large is not remembered for its Idempotency-Key"
            );
            claim.release(inner.db.pool()).await;
        }
    }
    parts.headers.remove(header::CONTENT_LENGTH);
    Response::from_parts(parts, Body::from(bytes))
}

/// Whether an answer is the request's outcome (stored) rather than "not
/// done, try again" (5xx, 408, 429: released).
fn is_final(status: StatusCode) -> bool {
    !(status.is_server_error()
        || status == StatusCode::REQUEST_TIMEOUT
        || status == StatusCode::TOO_MANY_REQUESTS)
}

/// The answer to a repeat while the first request with the key runs.
pub fn key_in_flight() -> ApiError {
    ApiError::new(
        StatusCode::CONFLICT,
        "IDEMPOTENCY_KEY_IN_FLIGHT",
        "a request with this Idempotency-Key is still being processed; retry shortly",
    )
    .retry_after(1)
}

/// Method, path with query and the exact body bytes, hashed: a retry
/// sends the same bytes.
pub fn fingerprint(method: &str, path_and_query: &str, body: &[u8]) -> String {
    let mut h = Sha256::new();
    h.update(method.as_bytes());
    h.update(b" ");
    h.update(path_and_query.as_bytes());
    h.update(b"\n");
    h.update(body);
    hex::encode(h.finalize())
}

fn count(metrics: &Metrics, outcome: &'static str) {
    metrics.record(|| {
        metrics::counter!("idempotency_requests_total", "outcome" => outcome).increment(1);
    });
}

/// An answer stored for a key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stored {
    pub status: u16,
    pub content_type: String,
    pub body: String,
}

impl Stored {
    fn decode(status: i64, body: String) -> Self {
        let (content_type, body) = match body.split_once('\n') {
            Some((ct, rest)) => (ct.to_owned(), rest.to_owned()),
            None => (String::new(), body),
        };
        Self {
            status: u16::try_from(status).unwrap_or(500),
            content_type,
            body,
        }
    }

    fn encode(content_type: &str, body: &str) -> String {
        format!("{content_type}\n{body}")
    }
}

impl IntoResponse for Stored {
    fn into_response(self) -> Response {
        let status = StatusCode::from_u16(self.status).unwrap_or(StatusCode::OK);
        let mut res = (status, self.body).into_response();
        res.headers_mut().remove(header::CONTENT_TYPE);
        if let Ok(ct) = HeaderValue::from_str(&self.content_type)
            && !self.content_type.is_empty()
        {
            res.headers_mut().insert(header::CONTENT_TYPE, ct);
        }
        res.headers_mut()
            .insert(REPLAYED, HeaderValue::from_static("true"));
        res
    }
}

/// What a claim attempt found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// Ours now: run the request.
    Fresh,
    /// Done before with the same request: this answer.
    Replay(Stored),
    /// Used before with another request.
    Mismatch,
    /// The first request with the key is still running.
    InFlight,
}

/// A key claimed (or to claim) by this request.
#[derive(Debug, Clone)]
pub struct Claimed {
    pub caller: String,
    pub key: String,
    /// Stored in `body` while in flight: only the holder may finish,
    /// renew or release the claim.
    pub holder: String,
}

impl Claimed {
    /// Claims the key for a request with fingerprint `hash`.
    pub async fn take(&self, pool: &DbPool, hash: &str) -> Result<Outcome, sqlx::Error> {
        let now = crate::clock::now();
        let now_text = crate::clock::format(now);
        // A row can vanish between the insert and the read (its holder
        // released it): then the insert is tried again.
        for _ in 0..3 {
            let inserted = sqlx::query(
                "INSERT INTO idempotency_keys (caller, idem_key, request_hash, status, body, created_at)
                 VALUES ($1, $2, $3, 0, $4, $5)
                 ON CONFLICT (caller, idem_key) DO NOTHING",
            )
            .bind(&self.caller)
            .bind(&self.key)
            .bind(hash)
            .bind(&self.holder)
            .bind(&now_text)
            .execute(pool)
            .await?
            .rows_affected();
            if inserted == 1 {
                return Ok(Outcome::Fresh);
            }
            let Some(row) = sqlx::query(
                "SELECT request_hash, status, body, created_at FROM idempotency_keys
                 WHERE caller = $1 AND idem_key = $2",
            )
            .bind(&self.caller)
            .bind(&self.key)
            .fetch_optional(pool)
            .await?
            else {
                continue;
            };
            let found: String = row.try_get("request_hash")?;
            if found != hash {
                return Ok(Outcome::Mismatch);
            }
            let status: i64 = row.try_get("status")?;
            let body: String = row.try_get("body")?;
            if status != 0 {
                return Ok(Outcome::Replay(Stored::decode(status, body)));
            }
            let renewed: String = row.try_get("created_at")?;
            let stale = crate::clock::parse(&renewed).is_none_or(|at| now - at >= STALE_AFTER);
            if !stale {
                return Ok(Outcome::InFlight);
            }
            // Its holder stopped renewing it: take it over, unless another
            // retry did first.
            let taken = sqlx::query(
                "UPDATE idempotency_keys SET body = $3, created_at = $4
                 WHERE caller = $1 AND idem_key = $2 AND status = 0 AND body = $5 AND created_at = $6",
            )
            .bind(&self.caller)
            .bind(&self.key)
            .bind(&self.holder)
            .bind(&now_text)
            .bind(&body)
            .bind(&renewed)
            .execute(pool)
            .await?
            .rows_affected();
            if taken == 1 {
                tracing::warn!(
                    key = %self.key,
                    "took over a stale Idempotency-Key claim: its first request's process stopped renewing it"
                );
                return Ok(Outcome::Fresh);
            }
        }
        Ok(Outcome::InFlight)
    }

    /// Keeps the claim fresh while the request runs.
    pub async fn renew(&self, pool: &DbPool) -> Result<bool, sqlx::Error> {
        let n = sqlx::query(
            "UPDATE idempotency_keys SET created_at = $3
             WHERE caller = $1 AND idem_key = $2 AND status = 0 AND body = $4",
        )
        .bind(&self.caller)
        .bind(&self.key)
        .bind(crate::clock::now_text())
        .bind(&self.holder)
        .execute(pool)
        .await?
        .rows_affected();
        Ok(n == 1)
    }

    /// Stores the answer; `false` when the claim was no longer ours.
    pub async fn complete(
        &self,
        pool: &DbPool,
        status: StatusCode,
        content_type: &str,
        body: &str,
    ) -> Result<bool, sqlx::Error> {
        let n = sqlx::query(
            "UPDATE idempotency_keys SET status = $3, body = $4
             WHERE caller = $1 AND idem_key = $2 AND status = 0 AND body = $5",
        )
        .bind(&self.caller)
        .bind(&self.key)
        .bind(i64::from(status.as_u16()))
        .bind(Stored::encode(content_type, body))
        .bind(&self.holder)
        .execute(pool)
        .await?
        .rows_affected();
        if n == 0 {
            tracing::warn!(key = %self.key, "an Idempotency-Key claim was taken over before its answer was stored");
        }
        Ok(n == 1)
    }

    /// Gives the key up (the request did not take effect); a failure only
    /// leaves the claim to go stale.
    pub async fn release(&self, pool: &DbPool) {
        let done = sqlx::query(
            "DELETE FROM idempotency_keys
             WHERE caller = $1 AND idem_key = $2 AND status = 0 AND body = $3",
        )
        .bind(&self.caller)
        .bind(&self.key)
        .bind(&self.holder)
        .execute(pool)
        .await;
        if let Err(e) = done {
            tracing::warn!(error = %e, "releasing an Idempotency-Key claim failed; it goes stale instead");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_final_answers_are_stored() {
        for s in [200, 201, 204, 400, 403, 404, 409, 422] {
            assert!(is_final(StatusCode::from_u16(s).unwrap()), "{s}");
        }
        for s in [408, 429, 500, 502, 503, 504] {
            assert!(!is_final(StatusCode::from_u16(s).unwrap()), "{s}");
        }
    }

    #[test]
    fn stored_answers_keep_status_type_and_body() {
        let row = Stored::encode("application/json", "{\"a\":\n1}");
        let back = Stored::decode(201, row);
        assert_eq!(
            back,
            Stored {
                status: 201,
                content_type: "application/json".into(),
                body: "{\"a\":\n1}".into()
            }
        );
        let res = back.into_response();
        assert_eq!(res.status(), StatusCode::CREATED);
        assert_eq!(res.headers()[header::CONTENT_TYPE], "application/json");
        assert_eq!(res.headers()[REPLAYED], "true");
        // No body, no type.
        let empty = Stored::decode(204, Stored::encode("", "")).into_response();
        assert_eq!(empty.status(), StatusCode::NO_CONTENT);
        assert!(empty.headers().get(header::CONTENT_TYPE).is_none());
    }

    #[test]
    fn fingerprints_are_exact_about_the_request() {
        let a = fingerprint("POST", "/x", b"{\"a\":1}");
        assert_eq!(a, fingerprint("POST", "/x", b"{\"a\":1}"));
        assert_ne!(a, fingerprint("POST", "/x", b"{\"a\":2}"));
        assert_ne!(a, fingerprint("PUT", "/x", b"{\"a\":1}"));
        assert_ne!(a, fingerprint("POST", "/x?y=1", b"{\"a\":1}"));
        let e = key_in_flight();
        assert_eq!(e.status, StatusCode::CONFLICT);
        assert_eq!(e.code, "IDEMPOTENCY_KEY_IN_FLIGHT");
        assert_eq!(e.retry_after, Some(1));
    }
}

//! The response cache for GET on cacheable routes.
//!
//! | route                         | scope                              |
//! |-------------------------------|------------------------------------|
//! | `/api/shop/products*`         | public: shared per role (or anon)  |
//! | `/api/shop/categories`        | public: shared per role (or anon)  |
//! | `/api/config*` (settings, reference data) | per role               |
//!
//! **Keys**: `<path>?<query pairs sorted>␟GET␟<scope>`, scoped to the
//! request's tenant (`TenantId::scope`: unchanged in the default tenant,
//! `<tenant>/…` in any other), so one tenant's cached catalog never
//! answers another's. The path comes first (after the tenant) so that a
//! prefix invalidates every key of a tenant under it. The scope is
//! `anon` for anonymous callers and `role:<role>` for signed-in ones — the
//! routes above answer the same to every caller of one role, and the token
//! is verified at the edge before the key is built, so a response is never
//! served across roles. [`Scope::User`] keys on the user id for routes that
//! answer per user.
//!
//! Paths are canonical before they get here (the platform's path step), so
//! `/api/shop/products/../orders` is `/api/shop/orders` and not in the
//! table. Services send `Cache-Control: private, no-store` on every answer
//! to a signed-in request unless the route declares a shared policy
//! (`marimo_platform::http::cache_control`), so per-user answers are never
//! stored even on a cacheable route. A request carrying credentials that
//! did not verify (a bad token on a public route, a cookie) skips the cache
//! both ways.
//!
//! **Stored**: only 200 answers without `Cache-Control: no-store` or
//! `private` and without `Set-Cookie`, up to [`MAX_ENTRY_BYTES`]; for the
//! TTL (`MARIMO_CACHE=ttl_secs=300`, default 5 min; `MARIMO_CACHE=off`).
//! Answers carry `X-Cache: HIT|MISS`; both are counted in
//! `cache_hits_total` / `cache_misses_total` with `store=memory|redis`.
//!
//! **Store**: in process (moka, [`STORE_BYTES`]) by default; in Redis when
//! `REDIS_ADDR` is set, shared by every gateway replica, so one replica's
//! invalidation is every replica's. Redis away: reads miss and go upstream,
//! nothing is stored, and no request fails because of it.
//!
//! **Invalidation**: a successful POST/PUT/PATCH/DELETE under `/api/shop/`
//! or `/api/config/` drops that prefix in the writer's tenant; an event
//! drops it in the event's tenant.
//!
//! **Coalescing**: concurrent misses on one key wait on a per-key gate
//! (an async mutex); the first fetches, the rest find its stored answer and
//! never go upstream. Waiting is only worth it when an answer will be
//! stored, so nobody waits longer than one upstream call:
//!
//! - If the first's answer was not stored (not storable, an error, or the
//!   store dropped it), the gate opens: everyone behind it goes upstream
//!   at once, side by side, not one by one.
//! - While the store is known to be away (Redis's breaker is open), misses
//!   skip the gate altogether: nothing could be stored for them to find.

use std::{
    collections::HashMap,
    sync::{
        Arc, Mutex,
        atomic::{AtomicBool, Ordering},
    },
    time::Duration,
};

use axum::{body::Body, response::Response};
use bytes::{BufMut, Bytes, BytesMut};
use futures_util::StreamExt;
use http::{HeaderMap, HeaderName, HeaderValue, Method, StatusCode, header};
use marimo_platform::{
    ApiError, ErrorCode, auth::jwt::Identity, cache::CacheStore, http::version::unversioned,
    telemetry::Metrics, tenant::TenantId,
};

/// Largest answer stored (bigger ones are passed through, not stored).
pub const MAX_ENTRY_BYTES: usize = 4 * 1024 * 1024;
/// Total size of the in-process store.
pub const STORE_BYTES: u64 = 64 * 1024 * 1024;

static X_CACHE: HeaderName = HeaderName::from_static("x-cache");

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    /// Shared by every caller of one role (anonymous callers share too).
    Role,
    /// One entry per user.
    User,
}

/// Cacheable routes: (path prefix, whole-prefix match, scope).
const TABLE: [(&str, bool, Scope); 3] = [
    ("/api/shop/products", true, Scope::Role),
    ("/api/shop/categories", false, Scope::Role),
    ("/api/config", true, Scope::Role),
];

/// Prefixes a successful write invalidates.
const RESOURCES: [&str; 2] = ["/api/shop/", "/api/config"];

/// The scope of a cacheable GET path, `None` when not cacheable.
pub fn rule(path: &str) -> Option<Scope> {
    // `/api/v1/...` and its alias are one resource.
    let path = &*unversioned(path);
    TABLE.iter().find_map(|(prefix, prefix_match, scope)| {
        let hit = if *prefix_match {
            path.strip_prefix(prefix)
                .is_some_and(|rest| rest.is_empty() || rest.starts_with('/'))
        } else {
            path == *prefix || path.strip_prefix(prefix) == Some("/")
        };
        hit.then_some(*scope)
    })
}

/// Events that change what cached routes answer without a write passing
/// through the gateway (stock raised by production, an order reserving
/// stock through another replica, a setting changed elsewhere). Only
/// events the owning service publishes *after* its change count: reacting
/// to the cause (e.g. factory.work_order.completed) would race with the
/// owner applying it and could cache the old answer again.
pub const INVALIDATING_EVENTS: &[&str] = &["shop.#", "config.#"];

/// The cached prefix an event makes stale.
pub fn prefix_for_event(event_type: &str) -> Option<&'static str> {
    if event_type.starts_with("shop.") {
        Some("/api/shop/")
    } else if event_type.starts_with("config.") {
        Some("/api/config")
    } else {
        None
    }
}

/// The prefix a write to `path` invalidates.
pub fn invalidation_prefix(path: &str) -> Option<&'static str> {
    let path = &*unversioned(path);
    RESOURCES.iter().copied().find(|p| {
        path.strip_prefix(p)
            .is_some_and(|rest| p.ends_with('/') || rest.is_empty() || rest.starts_with('/'))
    })
}

/// The cache key of a request in `tenant` (see the module docs).
pub fn key(
    tenant: &TenantId,
    path: &str,
    query: Option<&str>,
    scope: Scope,
    who: Option<&Identity>,
) -> String {
    // Keys are unversioned, like the invalidation prefixes; the answers
    // are the same under both prefixes (the deprecation headers are added
    // after the cache).
    let path = &*unversioned(path);
    let mut pairs: Vec<&str> = query
        .unwrap_or("")
        .split('&')
        .filter(|p| !p.is_empty())
        .collect();
    pairs.sort_unstable();
    let caller = match (scope, who) {
        (_, None) => "anon".to_owned(),
        (Scope::Role, Some(w)) => format!("role:{}", w.role.as_str()),
        (Scope::User, Some(w)) => format!("user:{}", w.user_id),
    };
    tenant.scope(&format!(
        "{path}?{}\u{1f}GET\u{1f}{caller}",
        pairs.join("&")
    ))
}

pub fn is_write(method: &Method) -> bool {
    matches!(
        *method,
        Method::POST | Method::PUT | Method::PATCH | Method::DELETE
    )
}

/// Whether the upstream allows storing its answer.
fn storable(res: &Response) -> bool {
    if res.status() != StatusCode::OK || res.headers().contains_key(header::SET_COOKIE) {
        return false;
    }
    !res.headers()
        .get_all(header::CACHE_CONTROL)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(|d| d.trim().to_ascii_lowercase())
        .any(|d| d == "no-store" || d == "private" || d.starts_with("private="))
}

/// The response cache: a store plus the per-key gates that coalesce misses.
pub struct ResponseCache {
    store: Arc<dyn CacheStore>,
    ttl: Duration,
    inflight: Mutex<HashMap<String, Arc<Gate>>>,
    metrics: Metrics,
}

/// Concurrent misses on one key (see the module docs).
#[derive(Default)]
struct Gate {
    /// Held by the miss that fetches; the others wait for its answer.
    turn: tokio::sync::Mutex<()>,
    /// A fetch under this gate did not store its answer: those behind it
    /// would not find one either, so they stop waiting for each other.
    open: AtomicBool,
}

impl ResponseCache {
    pub fn new(store: Arc<dyn CacheStore>, ttl: Duration, metrics: Metrics) -> Self {
        Self {
            store,
            ttl,
            inflight: Mutex::new(HashMap::new()),
            metrics,
        }
    }

    /// Whether every gateway replica sees the same entries (Redis), or
    /// each holds its own (in process).
    pub fn is_shared(&self) -> bool {
        self.store.kind() != "memory"
    }

    /// `MARIMO_CACHE`: `None` when `off`; `store` is called only when on.
    pub fn from_spec(
        spec: Option<&str>,
        store: impl FnOnce() -> Arc<dyn CacheStore>,
        metrics: Metrics,
    ) -> Result<Option<Self>, String> {
        let mut ttl = Duration::from_secs(300);
        for part in spec
            .unwrap_or("")
            .split(',')
            .map(str::trim)
            .filter(|p| !p.is_empty())
        {
            if part == "off" {
                return Ok(None);
            }
            let secs = part
                .strip_prefix("ttl_secs=")
                .and_then(|v| v.trim().parse::<u64>().ok())
                .filter(|n| *n > 0)
                .ok_or_else(|| format!("MARIMO_CACHE: bad entry '{part}' (off | ttl_secs=N)"))?;
            ttl = Duration::from_secs(secs);
        }
        Ok(Some(Self::new(store(), ttl, metrics)))
    }

    fn count(&self, hit: bool) {
        let store = self.store.kind();
        self.metrics.record(|| {
            if hit {
                metrics::counter!("cache_hits_total", "store" => store).increment(1);
            } else {
                metrics::counter!("cache_misses_total", "store" => store).increment(1);
            }
        });
    }

    pub async fn invalidate(&self, prefix: &str) {
        self.store.invalidate_prefix(prefix.to_owned()).await;
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Arc<Gate>>> {
        self.inflight
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// The cached answer for `key`, or `fetch`'s (stored when allowed).
    pub async fn fetch<F, Fut>(&self, key: String, fetch: F) -> Result<Response, ApiError>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<Response, ApiError>>,
    {
        if !self.store.available() {
            // Redis away: a read would miss and a write be dropped, so
            // there is no answer worth waiting for — straight upstream.
            self.count(false);
            return self.miss(&key, fetch).await.map(|(res, _)| res);
        }
        if let Some(hit) = self.lookup(&key).await {
            self.count(true);
            return Ok(hit);
        }
        let gate = self.lock().entry(key.clone()).or_default().clone();
        let outcome = {
            let turn = gate.turn.lock().await;
            let found = self.lookup(&key).await;
            self.count(found.is_some());
            match found {
                Some(hit) => Ok(hit),
                None if gate.open.load(Ordering::Acquire) => {
                    drop(turn);
                    self.miss(&key, fetch).await.map(|(res, _)| res)
                }
                None => {
                    let fetched = self.miss(&key, fetch).await;
                    if !matches!(fetched, Ok((_, true))) {
                        gate.open.store(true, Ordering::Release);
                    }
                    fetched.map(|(res, _)| res)
                }
            }
        };
        {
            let mut map = self.lock();
            // Ours and the map's: nobody else waits on this key.
            if Arc::strong_count(&gate) <= 2 {
                map.remove(&key);
            }
        }
        outcome
    }

    async fn lookup(&self, key: &str) -> Option<Response> {
        let bytes = self.store.get(key).await?;
        let mut res = decode(bytes)?;
        res.headers_mut()
            .insert(X_CACHE.clone(), HeaderValue::from_static("HIT"));
        Some(res)
    }

    /// The upstream's answer, and whether it was stored.
    async fn miss<F, Fut>(&self, key: &str, fetch: F) -> Result<(Response, bool), ApiError>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<Response, ApiError>>,
    {
        let mut res = fetch().await?;
        res.headers_mut()
            .insert(X_CACHE.clone(), HeaderValue::from_static("MISS"));
        let too_big = res
            .headers()
            .get(header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok()?.parse::<usize>().ok())
            .is_some_and(|n| n > MAX_ENTRY_BYTES);
        if !storable(&res) || too_big {
            return Ok((res, false));
        }
        let (parts, body) = res.into_parts();
        let mut stream = body.into_data_stream();
        let mut buf = BytesMut::new();
        while let Some(chunk) = stream.next().await {
            let chunk = chunk.map_err(|_| {
                ApiError::of(
                    ErrorCode::BadGateway,
                    "the upstream answer could not be read",
                )
            })?;
            if buf.len() + chunk.len() > MAX_ENTRY_BYTES {
                // Too big to store: pass what was read and the rest through.
                let head = futures_util::stream::iter([Ok(buf.freeze()), Ok(chunk)]);
                let body = Body::from_stream(head.chain(stream));
                return Ok((Response::from_parts(parts, body), false));
            }
            buf.extend_from_slice(&chunk);
        }
        let body = buf.freeze();
        let mut headers = parts.headers.clone();
        headers.remove(&X_CACHE);
        headers.remove("x-request-id");
        let stored = self
            .store
            .put(key.to_owned(), encode(&headers, &body), self.ttl)
            .await;
        Ok((Response::from_parts(parts, Body::from(body)), stored))
    }
}

/// `u16 header count, (u16 name len, name, u32 value len, value)*, body`.
fn encode(headers: &HeaderMap, body: &Bytes) -> Bytes {
    let mut out = BytesMut::with_capacity(body.len() + 256);
    let list: Vec<_> = headers
        .iter()
        .filter(|(n, _)| n.as_str().len() <= usize::from(u16::MAX))
        .take(usize::from(u16::MAX))
        .collect();
    out.put_u16(list.len() as u16);
    for (name, value) in list {
        out.put_u16(name.as_str().len() as u16);
        out.put_slice(name.as_str().as_bytes());
        out.put_u32(u32::try_from(value.len()).unwrap_or(0));
        out.put_slice(value.as_bytes());
    }
    out.put_slice(body);
    out.freeze()
}

fn decode(mut bytes: Bytes) -> Option<Response> {
    use bytes::Buf;
    let mut headers = HeaderMap::new();
    if bytes.remaining() < 2 {
        return None;
    }
    let count = bytes.get_u16();
    for _ in 0..count {
        if bytes.remaining() < 2 {
            return None;
        }
        let n = usize::from(bytes.get_u16());
        if bytes.remaining() < n + 4 {
            return None;
        }
        let name = HeaderName::from_bytes(&bytes.split_to(n)).ok()?;
        let v = usize::try_from(bytes.get_u32()).ok()?;
        if bytes.remaining() < v {
            return None;
        }
        let value = HeaderValue::from_maybe_shared(bytes.split_to(v)).ok()?;
        headers.append(name, value);
    }
    let mut res = Response::new(Body::from(bytes));
    *res.headers_mut() = headers;
    Some(res)
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::AtomicUsize;

    use marimo_platform::{auth::Role, bus::BoxFuture, cache::MokaStore};
    use tokio::sync::{Barrier, Notify};

    use super::*;

    /// A store that reads nothing and drops every write; `up` is what it
    /// reports as [`CacheStore::available`].
    struct Forgetful {
        up: bool,
    }

    impl CacheStore for Forgetful {
        fn kind(&self) -> &'static str {
            "redis"
        }
        fn available(&self) -> bool {
            self.up
        }
        fn get<'a>(&'a self, _key: &'a str) -> BoxFuture<'a, Option<Bytes>> {
            Box::pin(async { None })
        }
        fn put(&self, _key: String, _value: Bytes, _ttl: Duration) -> BoxFuture<'_, bool> {
            Box::pin(async { false })
        }
        fn invalidate_prefix(&self, _prefix: String) -> BoxFuture<'_, ()> {
            Box::pin(async {})
        }
    }

    fn cache(store: impl CacheStore + 'static) -> Arc<ResponseCache> {
        Arc::new(ResponseCache::new(
            Arc::new(store),
            Duration::from_secs(60),
            Metrics::new("gateway"),
        ))
    }

    fn ok() -> Response {
        Response::new(Body::from("{}"))
    }

    /// Guards a test that would hang if misses waited for each other.
    async fn without_waiting_in_line<T>(what: &str, f: impl Future<Output = T>) -> T {
        tokio::time::timeout(Duration::from_secs(20), f)
            .await
            .unwrap_or_else(|_| panic!("{what}: misses waited for each other"))
    }

    /// Starts a miss whose upstream call waits for `release`; returns once
    /// that call began (so it holds the key's gate).
    async fn first_miss(
        cache: &Arc<ResponseCache>,
        release: Arc<Notify>,
    ) -> tokio::task::JoinHandle<Result<Response, ApiError>> {
        let began = Arc::new(Notify::new());
        let task = {
            let (cache, began) = (cache.clone(), began.clone());
            tokio::spawn(async move {
                cache
                    .fetch("k".into(), || async move {
                        began.notify_one();
                        release.notified().await;
                        Ok(ok())
                    })
                    .await
            })
        };
        began.notified().await;
        task
    }

    /// `n` more misses on the same key; each upstream call counts in
    /// `calls`, then waits on `barrier` (`None`: answers at once).
    fn more_misses(
        cache: &Arc<ResponseCache>,
        n: usize,
        calls: &Arc<AtomicUsize>,
        barrier: Option<Arc<Barrier>>,
    ) -> Vec<tokio::task::JoinHandle<Result<Response, ApiError>>> {
        (0..n)
            .map(|_| {
                let (cache, calls, barrier) = (cache.clone(), calls.clone(), barrier.clone());
                tokio::spawn(async move {
                    cache
                        .fetch("k".into(), || async move {
                            calls.fetch_add(1, Ordering::SeqCst);
                            if let Some(b) = barrier {
                                b.wait().await;
                            }
                            Ok(ok())
                        })
                        .await
                })
            })
            .collect()
    }

    /// Lets every spawned task run until it waits (current-thread runtime).
    async fn settle() {
        for _ in 0..50 {
            tokio::task::yield_now().await;
        }
    }

    #[tokio::test]
    async fn a_stored_answer_serves_everyone_who_waited_for_it() {
        let cache = cache(MokaStore::new(1 << 20));
        let release = Arc::new(Notify::new());
        let first = first_miss(&cache, release.clone()).await;
        let calls = Arc::new(AtomicUsize::new(0));
        let rest = more_misses(&cache, 7, &calls, None);
        settle().await;
        release.notify_one();
        assert_eq!(first.await.unwrap().unwrap().headers()[&X_CACHE], "MISS");
        for t in rest {
            assert_eq!(t.await.unwrap().unwrap().headers()[&X_CACHE], "HIT");
        }
        assert_eq!(calls.load(Ordering::SeqCst), 0, "one upstream call in all");
    }

    #[tokio::test]
    async fn an_answer_not_stored_lets_those_behind_it_go_upstream_side_by_side() {
        let cache = cache(Forgetful { up: true });
        let release = Arc::new(Notify::new());
        let first = first_miss(&cache, release.clone()).await;
        // Seven misses queue behind the first; each of their upstream
        // calls waits until all seven are in flight together.
        let calls = Arc::new(AtomicUsize::new(0));
        let rest = more_misses(&cache, 7, &calls, Some(Arc::new(Barrier::new(7))));
        settle().await;
        assert_eq!(calls.load(Ordering::SeqCst), 0, "they wait for the first");
        release.notify_one();
        without_waiting_in_line("after an unstored answer", async {
            first.await.unwrap().unwrap();
            for t in rest {
                assert_eq!(t.await.unwrap().unwrap().headers()[&X_CACHE], "MISS");
            }
        })
        .await;
        assert_eq!(calls.load(Ordering::SeqCst), 7);
    }

    #[tokio::test]
    async fn with_the_store_away_misses_do_not_wait_for_each_other() {
        let cache = cache(Forgetful { up: false });
        // Eight misses at once: each upstream call waits until all eight
        // are in flight, which only happens if none waits on another.
        let calls = Arc::new(AtomicUsize::new(0));
        let all = more_misses(&cache, 8, &calls, Some(Arc::new(Barrier::new(8))));
        without_waiting_in_line("with the store away", async {
            for t in all {
                assert_eq!(t.await.unwrap().unwrap().headers()[&X_CACHE], "MISS");
            }
        })
        .await;
        assert_eq!(calls.load(Ordering::SeqCst), 8);
    }

    fn who(id: &str, role: Role) -> Identity {
        Identity {
            user_id: id.into(),
            email: format!("{id}@x"),
            role,
            tenant: Default::default(),
        }
    }

    #[test]
    fn routes_in_the_table_are_cacheable() {
        assert_eq!(rule("/api/shop/products"), Some(Scope::Role));
        assert_eq!(rule("/api/shop/products/p1"), Some(Scope::Role));
        assert_eq!(rule("/api/shop/categories"), Some(Scope::Role));
        assert_eq!(rule("/api/config/currencies"), Some(Scope::Role));
        assert_eq!(rule("/api/shop/categoriesx"), None);
        assert_eq!(rule("/api/shop/productsx"), None);
        assert_eq!(rule("/api/shop/orders"), None);
        assert_eq!(rule("/api/users/profile"), None);
        assert_eq!(invalidation_prefix("/api/shop/orders"), Some("/api/shop/"));
        assert_eq!(invalidation_prefix("/api/config/x"), Some("/api/config"));
        assert_eq!(invalidation_prefix("/api/users/x"), None);
        assert_eq!(prefix_for_event("factory.work_order.completed"), None);
        assert_eq!(
            prefix_for_event("shop.product.restocked"),
            Some("/api/shop/")
        );
        assert_eq!(prefix_for_event("shop.order.paid"), Some("/api/shop/"));
        assert_eq!(
            prefix_for_event("config.setting.changed"),
            Some("/api/config")
        );
        assert_eq!(prefix_for_event("factory.stock.low"), None);
    }

    #[test]
    fn keys_sort_the_query_and_carry_the_caller() {
        let d = TenantId::default_tenant();
        let a = key(
            &d,
            "/api/shop/products",
            Some("b=2&a=1&&c"),
            Scope::Role,
            None,
        );
        let b = key(
            &d,
            "/api/shop/products",
            Some("c&a=1&b=2"),
            Scope::Role,
            None,
        );
        assert_eq!(a, b);
        assert!(a.starts_with("/api/shop/products?a=1&b=2&c"));
        let admin = who("u1", Role::Admin);
        let user = who("u2", Role::User);
        let user2 = who("u3", Role::User);
        let p = "/api/config/x";
        assert_ne!(
            key(&d, p, None, Scope::Role, Some(&admin)),
            key(&d, p, None, Scope::Role, Some(&user))
        );
        assert_eq!(
            key(&d, p, None, Scope::Role, Some(&user)),
            key(&d, p, None, Scope::Role, Some(&user2))
        );
        assert_ne!(
            key(&d, p, None, Scope::User, Some(&user)),
            key(&d, p, None, Scope::User, Some(&user2))
        );
        assert_ne!(
            key(&d, p, None, Scope::Role, None),
            key(&d, p, None, Scope::Role, Some(&user))
        );
        assert_ne!(
            key(&d, p, Some("a=1"), Scope::Role, None),
            key(&d, p, Some("a=2"), Scope::Role, None)
        );
    }

    #[test]
    fn keys_carry_the_tenant_and_the_default_tenant_keeps_the_old_form() {
        let d = TenantId::default_tenant();
        let acme = TenantId::parse("acme-1").unwrap();
        let p = "/api/shop/products";
        let old = key(&d, p, None, Scope::Role, None);
        assert!(old.starts_with("/api/shop/products?"));
        let theirs = key(&acme, p, None, Scope::Role, None);
        assert_ne!(old, theirs);
        assert!(theirs.starts_with("acme-1//api/shop/products?"));
        // A tenant's invalidation prefix covers its keys only.
        assert!(theirs.starts_with(&acme.scope("/api/shop/")));
        assert!(!old.starts_with(&acme.scope("/api/shop/")));
    }

    #[test]
    fn entries_round_trip_and_garbage_is_a_miss() {
        let mut h = HeaderMap::new();
        h.insert("content-type", HeaderValue::from_static("application/json"));
        h.append("x-a", HeaderValue::from_static("1"));
        h.append("x-a", HeaderValue::from_static("2"));
        let res = decode(encode(&h, &Bytes::from_static(b"{}"))).unwrap();
        assert_eq!(res.headers().get_all("x-a").iter().count(), 2);
        assert_eq!(res.headers()["content-type"], "application/json");
        for junk in [
            &b""[..],
            b"\x00",
            b"\x00\x01\x00\x05ab",
            b"\x00\x01\x00\x01a\x00\x00\x00\x09x",
        ] {
            assert!(decode(Bytes::copy_from_slice(junk)).is_none());
        }
    }
}

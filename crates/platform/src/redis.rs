//! The connection to Redis (`REDIS_ADDR`, `REDIS_PASSWORD`) shared by the
//! response-cache store ([`crate::cache::RedisStore`]), the gateway's rate
//! limits and the locks ([`crate::lock`]).
//!
//! Redis is an optimisation and a coordinator here, never a dependency a
//! request may fail on, so [`Redis`] is built to fail fast:
//!
//! - Connecting is lazy: a service starts while Redis is down.
//! - Every command has a short deadline ([`COMMAND_TIMEOUT`], 50 ms): a
//!   Redis that stops answering (a blackhole, not only a refused
//!   connection) costs a request at most that.
//! - Calls go through a local circuit breaker
//!   ([`crate::resilience::breaker`], probed use): once most of the last
//!   few calls failed it opens, and from then on every call fails at once
//!   without touching the network, however long the outage lasts. No
//!   caller's command is ever the trial that finds Redis back (it would pay
//!   the deadline, and on a blackholed Redis it would pay it every time):
//!   a background task of this handle sends `PING` every [`PROBE_EVERY`],
//!   on a fresh connection after each one that failed (a stuck connection
//!   is not reused), and the first answer closes the breaker. So an outage
//!   costs requests next to nothing — each caller falls back to its local
//!   behaviour — and a returning Redis is used again within that period.
//! - An outage is the breaker being open: its start is logged once (warn)
//!   and counted in `redis_outages_total`, its end once (info, with
//!   `down_ms`). Every failed command counts in `redis_errors_total{op}`;
//!   failed probes count nowhere (they are the outage, already counted).
//!
//! Keys are namespaced: `<namespace>:<kind>:<rest>`, the namespace from
//! `MARIMO_REDIS_NAMESPACE` (default `marimo`), so several deployments (or
//! test runs) can share one Redis.

use std::{
    future::Future,
    sync::{Arc, Mutex, RwLock, Weak},
    time::{Duration, Instant},
};

use ::redis::{
    Client, ConnectionAddr, FromRedisValue, IntoConnectionInfo, RedisConnectionInfo, ToRedisArgs,
    aio::{ConnectionManager, ConnectionManagerConfig},
};

use crate::{
    config::Settings,
    resilience::breaker::{Breaker, BreakerConfig},
    telemetry::Metrics,
};

/// The namespace when `MARIMO_REDIS_NAMESPACE` is unset.
pub const DEFAULT_NAMESPACE: &str = "marimo";
/// A command's deadline, connecting included. Redis answers in well under
/// a millisecond on its network; this bounds what a dead or stuck Redis
/// can cost a request.
pub const COMMAND_TIMEOUT: Duration = Duration::from_millis(50);
/// While Redis is down, the background probe sends `PING` this often; a
/// returning Redis is used again at most this long after it answers.
pub const PROBE_EVERY: Duration = Duration::from_millis(250);

/// The breaker in front of Redis: judged over the last 2 s, it opens once
/// at least 5 calls were made and half of them failed (a single slow
/// answer on a busy machine does not cut Redis off). It is used probed
/// (callers only ask whether it is closed), so `open_for` and `half_open`
/// never admit a caller; only a probe's answer closes it.
fn breaker_config() -> BreakerConfig {
    BreakerConfig {
        window: Duration::from_secs(2),
        min_requests: 5,
        failure_rate: 50,
        open_for: PROBE_EVERY,
        half_open: 1,
    }
}

#[derive(Debug, thiserror::Error)]
pub enum RedisError {
    /// Known down (the breaker is open): not tried.
    #[error("redis is unreachable")]
    Down,
    #[error("redis did not answer within {0:?}")]
    Timeout(Duration),
    #[error("redis: {0}")]
    Command(#[from] ::redis::RedisError),
}

/// A Lua script called by hash (EVALSHA), sent whole (EVAL) only when the
/// server does not know it yet (NOSCRIPT: first use, or after a restart or
/// SCRIPT FLUSH); EVAL caches it again.
pub struct LuaScript {
    source: &'static str,
    hash: String,
}

impl LuaScript {
    pub fn new(source: &'static str) -> Self {
        let hash = ::redis::Script::new(source).get_hash().to_owned();
        Self { source, hash }
    }

    /// The SHA-1 the server knows the script by.
    pub fn hash(&self) -> &str {
        &self.hash
    }
}

/// A handle on one Redis; cheap to clone.
#[derive(Clone)]
pub struct Redis {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for Redis {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Redis")
            .field("addr", &self.inner.addr)
            .field("namespace", &self.inner.namespace)
            .finish_non_exhaustive()
    }
}

struct Inner {
    client: Client,
    /// Replaced by a fresh one when timeouts open the breaker and after
    /// each failed probe: the manager reconnects by itself when a
    /// connection drops, but not when one merely stops answering.
    conn: RwLock<ConnectionManager>,
    addr: String,
    namespace: String,
    metrics: Metrics,
    timeout: Duration,
    breaker: Breaker,
    health: Mutex<Health>,
}

/// The outage, if any. Its lock orders an outage's start (the breaker
/// opened: warn, start the probe) and its end (close the breaker, log), so
/// each outage is announced, probed and ended exactly once.
#[derive(Default)]
struct Health {
    /// Since when the breaker is open (a probe runs), `None` while closed.
    down_since: Option<Instant>,
}

impl Redis {
    /// The Redis of `REDIS_ADDR` / `REDIS_PASSWORD` /
    /// `MARIMO_REDIS_NAMESPACE`, `None` when `REDIS_ADDR` is unset.
    pub fn from_settings(settings: &Settings, metrics: Metrics) -> Result<Option<Self>, String> {
        let Some(addr) = settings.redis_addr.as_deref() else {
            return Ok(None);
        };
        Self::new(
            addr,
            settings.redis_password.as_deref(),
            &settings.redis_namespace,
            metrics,
        )
        .map(Some)
    }

    /// `addr` is `host:port` (port 6379 when left out) or a `redis://` URL;
    /// `password`, when given, wins over one in the URL. Does not connect.
    pub fn new(
        addr: &str,
        password: Option<&str>,
        namespace: &str,
        metrics: Metrics,
    ) -> Result<Self, String> {
        let info = connection_info(addr, password)?;
        let shown = match info.addr() {
            ConnectionAddr::Tcp(host, port) => format!("{host}:{port}"),
            other => other.to_string(),
        };
        let client = Client::open(info).map_err(|e| format!("REDIS_ADDR: {e}"))?;
        let conn = manager(&client)?;
        if namespace.is_empty() || namespace.contains(['*', '?', '[', ']', '\\']) {
            return Err(format!(
                "MARIMO_REDIS_NAMESPACE: '{namespace}' must be non-empty, without * ? [ ] \\"
            ));
        }
        Ok(Self {
            inner: Arc::new(Inner {
                client,
                conn: RwLock::new(conn),
                addr: shown,
                namespace: namespace.to_owned(),
                metrics,
                timeout: COMMAND_TIMEOUT,
                breaker: Breaker::new(breaker_config()),
                health: Mutex::new(Health::default()),
            }),
        })
    }

    pub fn namespace(&self) -> &str {
        &self.inner.namespace
    }

    /// `<namespace>:<kind>:<rest>`.
    pub fn key(&self, kind: &str, rest: &str) -> String {
        format!("{}:{kind}:{rest}", self.inner.namespace)
    }

    /// Whether calls go to Redis (the breaker is closed); `false` during
    /// an outage, until a probe got an answer.
    pub fn is_up(&self) -> bool {
        self.inner.breaker.is_closed()
    }

    /// Runs one command; `op` names it in metrics and logs.
    pub async fn query<T: FromRedisValue + Send>(
        &self,
        op: &'static str,
        cmd: &::redis::Cmd,
    ) -> Result<T, RedisError> {
        self.run(
            op,
            |mut conn| async move { cmd.query_async(&mut conn).await },
        )
        .await
    }

    /// Runs a script (EVALSHA, and EVAL on NOSCRIPT) in one deadline.
    pub async fn eval<T: FromRedisValue + Send>(
        &self,
        op: &'static str,
        script: &LuaScript,
        keys: &[&str],
        args: &[&dyn ToRedisArgsDyn],
    ) -> Result<T, RedisError> {
        let build = |name: &str, body: &str| {
            let mut cmd = ::redis::cmd(name);
            cmd.arg(body).arg(keys.len()).arg(keys);
            for a in args {
                a.push_to(&mut cmd);
            }
            cmd
        };
        let by_hash = build("EVALSHA", &script.hash);
        self.run(op, |mut conn| async move {
            match by_hash.query_async(&mut conn).await {
                Err(e)
                    if e.kind()
                        == ::redis::ErrorKind::Server(::redis::ServerErrorKind::NoScript) =>
                {
                    build("EVAL", script.source).query_async(&mut conn).await
                }
                other => other,
            }
        })
        .await
    }

    /// Runs `f` on a connection under the deadline and the outage rules.
    pub async fn run<T, F, Fut>(&self, op: &'static str, f: F) -> Result<T, RedisError>
    where
        F: FnOnce(ConnectionManager) -> Fut,
        Fut: Future<Output = ::redis::RedisResult<T>>,
    {
        // Open: fail at once. Never a trial — the probe finds Redis back.
        if !self.inner.breaker.is_closed() {
            return Err(RedisError::Down);
        }
        match tokio::time::timeout(self.inner.timeout, f(self.conn())).await {
            Ok(Ok(v)) => {
                self.inner.breaker.record_success();
                Ok(v)
            }
            Ok(Err(e)) if answered(&e) => {
                // Redis is up and refused this command (a bug or a full
                // memory): counted, but no outage.
                self.inner.breaker.record_success();
                self.count_error(op);
                tracing::warn!(op, error = %e, "redis refused a command");
                Err(e.into())
            }
            Ok(Err(e)) => {
                self.failed(op, &e.to_string(), e.is_timeout());
                Err(e.into())
            }
            Err(_) => {
                self.failed(op, "timed out", true);
                Err(RedisError::Timeout(self.inner.timeout))
            }
        }
    }

    fn health(&self) -> std::sync::MutexGuard<'_, Health> {
        self.inner
            .health
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn conn(&self) -> ConnectionManager {
        self.inner
            .conn
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }

    /// A call that did not reach Redis; `stuck`: it timed out (the
    /// connection may hang rather than be closed).
    fn failed(&self, op: &'static str, error: &str, stuck: bool) {
        self.count_error(op);
        let breaker = &self.inner.breaker;
        breaker.record_failure();
        if breaker.is_closed() {
            // Below the breaker's threshold: a slow moment, not an outage.
            return;
        }
        let mut h = self.health();
        if h.down_since.is_some() {
            // A late failure of a call made before it opened: this outage
            // is announced and probed already.
            return;
        }
        h.down_since = Some(Instant::now());
        drop(h);
        // A connection that stopped answering is replaced when the breaker
        // opens on it, not after every slow answer: a busy moment must not
        // cost every caller a reconnect.
        if stuck {
            self.renew_connection();
        }
        tracing::warn!(
            addr = %self.inner.addr,
            op,
            error,
            "redis unreachable: cache passes through, rate limits are local, \
             scheduled jobs skip their turns until it is back"
        );
        self.inner.metrics.record(|| {
            metrics::counter!("redis_outages_total").increment(1);
        });
        self.start_probe();
    }

    /// Starts the outage's probe: a task that holds the handle only
    /// weakly (it ends when the last handle is dropped) and PINGs every
    /// [`PROBE_EVERY`] until Redis answers.
    fn start_probe(&self) {
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            // No runtime to probe from (not reached: `failed` runs inside
            // a call): end the outage now, so calls try Redis again rather
            // than fail for ever.
            self.recovered();
            return;
        };
        let handle: Weak<Inner> = Arc::downgrade(&self.inner);
        runtime.spawn(async move {
            loop {
                tokio::time::sleep(PROBE_EVERY).await;
                let Some(inner) = handle.upgrade() else {
                    return;
                };
                if (Redis { inner }).probe().await {
                    return;
                }
            }
        });
    }

    /// One `PING` under the command deadline; on an answer the outage
    /// ends, otherwise the connection is replaced for the next probe (and
    /// for the callers after it).
    async fn probe(&self) -> bool {
        let mut conn = self.conn();
        let ping = async move {
            ::redis::cmd("PING")
                .query_async::<::redis::Value>(&mut conn)
                .await
        };
        match tokio::time::timeout(self.inner.timeout, ping).await {
            Ok(Ok(_)) => {}
            // An error reply comes from a live server: callers get answers.
            Ok(Err(e)) if answered(&e) => {}
            Ok(Err(_)) | Err(_) => {
                self.renew_connection();
                return false;
            }
        }
        self.recovered();
        true
    }

    /// Ends the outage: the breaker closes, the end is logged once.
    fn recovered(&self) {
        let mut h = self.health();
        let since = h.down_since.take();
        self.inner.breaker.close();
        drop(h);
        if let Some(since) = since {
            tracing::info!(
                addr = %self.inner.addr,
                down_ms = since.elapsed().as_millis() as u64,
                "redis reachable again"
            );
        }
    }

    fn count_error(&self, op: &'static str) {
        self.inner.metrics.record(|| {
            metrics::counter!("redis_errors_total", "op" => op).increment(1);
        });
    }

    fn renew_connection(&self) {
        if let Ok(fresh) = manager(&self.inner.client) {
            *self
                .inner
                .conn
                .write()
                .unwrap_or_else(std::sync::PoisonError::into_inner) = fresh;
        }
    }
}

/// Arguments of [`Redis::eval`] of mixed types.
pub trait ToRedisArgsDyn: Sync {
    fn push_to(&self, cmd: &mut ::redis::Cmd);
}

impl<T: ToRedisArgs + Sync> ToRedisArgsDyn for T {
    fn push_to(&self, cmd: &mut ::redis::Cmd) {
        cmd.arg(self);
    }
}

/// A reply error from a live server (not a lost or refused connection).
fn answered(e: &::redis::RedisError) -> bool {
    use ::redis::{ErrorKind, ServerErrorKind};
    match e.kind() {
        ErrorKind::Server(
            ServerErrorKind::BusyLoading
            | ServerErrorKind::MasterDown
            | ServerErrorKind::TryAgain
            | ServerErrorKind::ClusterDown,
        ) => false,
        ErrorKind::Server(_) | ErrorKind::UnexpectedReturnType => true,
        _ => false,
    }
}

fn manager(client: &Client) -> Result<ConnectionManager, String> {
    let config = ConnectionManagerConfig::new()
        .set_connection_timeout(Some(COMMAND_TIMEOUT))
        .set_response_timeout(Some(COMMAND_TIMEOUT))
        // One attempt per reconnect: outages are paced by the probe
        // (`PROBE_EVERY`), not by backoff inside the client.
        .set_number_of_retries(0);
    ConnectionManager::new_lazy_with_config(client.clone(), config)
        .map_err(|e| format!("REDIS_ADDR: {e}"))
}

/// `host:port`, `host`, `[v6]:port` or `redis://...`.
fn connection_info(addr: &str, password: Option<&str>) -> Result<::redis::ConnectionInfo, String> {
    let addr = addr.trim();
    let bad = |why: &str| format!("REDIS_ADDR: '{addr}' {why} (host:port or redis://host:port)");
    let info = if addr.starts_with("redis://") {
        addr.into_connection_info()
            .map_err(|e| bad(&e.to_string()))?
    } else {
        let (host, port) = match addr.rsplit_once(':') {
            Some((h, p)) if !h.is_empty() && (!h.contains(':') || h.starts_with('[')) => {
                let port = p.parse::<u16>().map_err(|_| bad("has a bad port"))?;
                (h.trim_start_matches('[').trim_end_matches(']'), port)
            }
            _ => (addr, 6379),
        };
        if host.is_empty() || host.contains(|c: char| c == '/' || c.is_whitespace()) {
            return Err(bad("is not an address"));
        }
        (host.to_owned(), port)
            .into_connection_info()
            .map_err(|e| bad(&e.to_string()))?
    };
    Ok(match password {
        Some(pw) => {
            let settings = RedisConnectionInfo::clone(info.redis_settings()).set_password(pw);
            info.set_redis_settings(settings)
        }
        None => info,
    })
}

/// Escapes a literal for a SCAN MATCH glob.
pub fn glob_escape(literal: &str) -> String {
    let mut out = String::with_capacity(literal.len());
    for c in literal.chars() {
        if matches!(c, '*' | '?' | '[' | ']' | '\\') {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tcp(addr: &str) -> (String, u16) {
        match connection_info(addr, None).unwrap().addr() {
            ConnectionAddr::Tcp(h, p) => (h.clone(), *p),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn addresses_parse() {
        assert_eq!(tcp("redis:6379"), ("redis".into(), 6379));
        assert_eq!(tcp("10.0.0.5"), ("10.0.0.5".into(), 6379));
        assert_eq!(tcp("[::1]:6380"), ("::1".into(), 6380));
        assert_eq!(tcp("redis://127.0.0.1:6390"), ("127.0.0.1".into(), 6390));
        for bad in ["", "host:port", "a b:1", "http//x"] {
            assert!(connection_info(bad, None).is_err(), "{bad}");
        }
        let info = connection_info("h:1", Some("p@ss:word")).unwrap();
        assert_eq!(info.redis_settings().password(), Some("p@ss:word"));
    }

    #[test]
    fn globs_are_escaped() {
        assert_eq!(glob_escape("/api/shop/"), "/api/shop/");
        assert_eq!(glob_escape("a*b?[c]\\"), "a\\*b\\?\\[c\\]\\\\");
    }
}

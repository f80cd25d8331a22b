//! Test support for Marimo ERP crates.
//!
//! The harness every suite shares (one copy, here):
//!
//! - [`each_backend`]: run a test once per backend, each time on a fresh
//!   [`Fixture`] (a crate's `App`, or just the [`Backend`]).
//! - [`eventually`] / [`eventually_within`]: poll an async check until it is
//!   [`Ready`], failing after a deadline with a message naming what was
//!   awaited (and what the check last saw).
//! - [`token_for`] / [`token_for_user`] / [`sign`]: access tokens signed
//!   with [`TEST_JWT_SECRET`], the key [`Backend::settings`] configures.
//! - [`start_service`]: a service's context and router, served on an
//!   ephemeral port.
//!
//! Building blocks:
//!
//! - [`backends`]: the database backends a suite must run on: SQLite always,
//!   PostgreSQL when `MARIMO_TEST_DATABASE_URL` is set. Under `CI=true` a
//!   missing PostgreSQL is a failure, not a skip.
//! - [`rabbitmq_url`] / [`redis_url`]: the RabbitMQ and Redis to test
//!   against, likewise; [`TestRedis`] puts a test on its own Redis key
//!   namespace.
//! - [`TcpProxy`]: cut a backend away under traffic and bring it back.
//! - [`AppRole`]: a PostgreSQL connection as an ordinary role, which the
//!   tenant row policies bind (superusers bypass them).
//! - [`Backend::settings`]: settings on a fresh, empty database.
//! - [`context`] / [`spawn`]: a service context and a real server on an
//!   ephemeral port (no fixed ports, no sleeps).
//! - [`Http`]: a small client that returns status, headers and JSON.
//! - [`consul`]: a Consul-compatible server of the documented endpoints.
//! - [`openapi::assert_coverage`]: a service's routes and its OpenAPI
//!   document agree.
//! - [`scrape::sample`]: one value of a `/metrics` exposition.
//! - [`otlp::OtlpReceiver`]: an OTLP/HTTP trace receiver (what Jaeger or a
//!   collector would be).

pub mod consul;
pub mod openapi;
pub mod otlp;
pub mod scrape;

mod app_role;
mod harness;
mod proxy;

use std::{collections::HashMap, sync::Arc};

use axum::Router;
use marimo_platform::{
    bus::Bus,
    config::Settings,
    ids::new_id,
    service::{ServiceContext, ServiceName},
};
use serde_json::Value;
use tokio_util::{sync::CancellationToken, task::TaskTracker};

pub use self::{
    app_role::AppRole,
    harness::{
        EVENTUALLY, Fixture, Ready, Service, each_backend, eventually, eventually_within, sign,
        start_service, token_for, token_for_user,
    },
    proxy::TcpProxy,
};

/// A fixed signing key for tests (≥ 32 bytes).
pub const TEST_JWT_SECRET: &str = "marimo-test-secret-marimo-test-secret-0123456789";

#[derive(Debug, Clone)]
pub enum Backend {
    Sqlite,
    /// Server URL (any database on it); each test gets a new database.
    Postgres {
        server_url: String,
    },
}

/// The backends every database-backed suite runs on.
pub fn backends() -> Vec<Backend> {
    let mut list = vec![Backend::Sqlite];
    match std::env::var("MARIMO_TEST_DATABASE_URL") {
        Ok(url) if !url.is_empty() => list.push(Backend::Postgres { server_url: url }),
        _ if is_ci() => panic!(
            "CI=true but MARIMO_TEST_DATABASE_URL is not set: PostgreSQL tests must run in CI"
        ),
        _ => eprintln!(
            "note: MARIMO_TEST_DATABASE_URL unset; PostgreSQL variants skipped (they run in CI)"
        ),
    }
    list
}

/// The PostgreSQL backend, for tests that only PostgreSQL can answer
/// (row policies, real conflicts): `None` when it is not configured,
/// which under `CI=true` is a failure (through [`backends`]).
pub fn postgres() -> Option<Backend> {
    backends()
        .into_iter()
        .find(|b| matches!(b, Backend::Postgres { .. }))
}

/// The RabbitMQ a suite runs against (`MARIMO_TEST_RABBITMQ_URL`), or
/// `None` to skip it; under `CI=true` a missing URL is a failure.
pub fn rabbitmq_url() -> Option<String> {
    match std::env::var("MARIMO_TEST_RABBITMQ_URL") {
        Ok(url) if !url.is_empty() => Some(url),
        _ if is_ci() => {
            panic!("CI=true but MARIMO_TEST_RABBITMQ_URL is not set: RabbitMQ tests must run in CI")
        }
        _ => {
            eprintln!(
                "note: MARIMO_TEST_RABBITMQ_URL unset; RabbitMQ tests skipped (they run in CI)"
            );
            None
        }
    }
}

/// The Redis a suite runs against (`MARIMO_TEST_REDIS_URL`, e.g.
/// `redis://127.0.0.1:6379`), or `None` to skip it; under `CI=true` a
/// missing URL is a failure.
pub fn redis_url() -> Option<String> {
    match std::env::var("MARIMO_TEST_REDIS_URL") {
        Ok(url) if !url.is_empty() => Some(url),
        _ if is_ci() => {
            panic!("CI=true but MARIMO_TEST_REDIS_URL is not set: Redis tests must run in CI")
        }
        _ => {
            eprintln!("note: MARIMO_TEST_REDIS_URL unset; Redis tests skipped (they run in CI)");
            None
        }
    }
}

/// A Redis address with a key namespace of its own, so tests sharing one
/// Redis never see each other's keys.
#[derive(Debug, Clone)]
pub struct TestRedis {
    /// A `redis://` URL or host:port.
    pub addr: String,
    pub namespace: String,
}

impl TestRedis {
    /// `addr` under a fresh namespace.
    pub fn new(addr: &str) -> Self {
        Self {
            addr: addr.to_owned(),
            namespace: format!("marimo-test-{}", new_id()),
        }
    }

    /// The same namespace through another address (e.g. a [`TcpProxy`]).
    pub fn via(&self, addr: &str) -> Self {
        Self {
            addr: addr.to_owned(),
            namespace: self.namespace.clone(),
        }
    }

    /// Overrides for [`Backend::settings`]: `REDIS_ADDR` and
    /// `MARIMO_REDIS_NAMESPACE`.
    pub fn vars(&self) -> [(&str, &str); 2] {
        [
            ("REDIS_ADDR", self.addr.as_str()),
            ("MARIMO_REDIS_NAMESPACE", self.namespace.as_str()),
        ]
    }

    /// A client of this Redis in this namespace (metrics of `service`).
    pub fn client(&self, service: &'static str) -> marimo_platform::redis::Redis {
        marimo_platform::redis::Redis::new(
            &self.addr,
            None,
            &self.namespace,
            marimo_platform::telemetry::Metrics::new(service),
        )
        .expect("a valid Redis address")
    }
}

pub fn is_ci() -> bool {
    std::env::var("CI").is_ok_and(|v| v == "true" || v == "1")
}

impl Backend {
    pub fn name(&self) -> &'static str {
        match self {
            Backend::Sqlite => "sqlite",
            Backend::Postgres { .. } => "postgres",
        }
    }

    /// Settings on a fresh, empty database and data directory, with
    /// `overrides` applied on top (environment variable names).
    pub async fn settings(&self, overrides: &[(&str, &str)]) -> Settings {
        let data_dir = std::env::temp_dir().join(format!("marimo-test-{}", new_id()));
        let mut vars: HashMap<String, String> = HashMap::from([
            (
                "MARIMO_DATA_DIR".into(),
                data_dir.to_string_lossy().into_owned(),
            ),
            ("JWT_SECRET".into(), TEST_JWT_SECRET.into()),
        ]);
        if let Backend::Postgres { server_url } = self {
            vars.insert(
                "DATABASE_URL".into(),
                fresh_postgres_database(server_url).await,
            );
        }
        for (k, v) in overrides {
            vars.insert((*k).into(), (*v).into());
        }
        Settings::from_source(|k| vars.get(k).cloned()).expect("test settings are valid")
    }
}

/// Creates an empty database on the server and returns its URL.
async fn fresh_postgres_database(server_url: &str) -> String {
    use sqlx::Connection;
    sqlx::any::install_default_drivers();
    let name = format!("marimo_t_{}", new_id().replace('-', ""));
    let mut conn = sqlx::AnyConnection::connect(server_url)
        .await
        .unwrap_or_else(|e| panic!("cannot reach PostgreSQL at MARIMO_TEST_DATABASE_URL: {e}"));
    sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
        .execute(&mut conn)
        .await
        .expect("create test database");
    let _ = conn.close().await;
    replace_database(server_url, &name)
}

/// `postgres://u@h:5432/postgres?x=y` with database `name`.
fn replace_database(url: &str, name: &str) -> String {
    let (base, query) = url
        .split_once('?')
        .map_or((url, None), |(b, q)| (b, Some(q)));
    let authority_start = base.find("://").map_or(0, |i| i + 3);
    let base = match base[authority_start..].find('/') {
        Some(slash) => &base[..authority_start + slash],
        None => base,
    };
    match query {
        Some(q) => format!("{base}/{name}?{q}"),
        None => format!("{base}/{name}"),
    }
}

/// A started service's context: connected database, keys, metrics, and
/// its own embedded bus.
pub async fn context(name: ServiceName, settings: Settings) -> ServiceContext {
    context_on(name, settings, Bus::embedded()).await
}

/// A service context on a given bus (several services sharing one bus).
pub async fn context_on(name: ServiceName, settings: Settings, bus: Bus) -> ServiceContext {
    ServiceContext::new(
        name,
        Arc::new(settings),
        bus,
        CancellationToken::new(),
        TaskTracker::new(),
    )
    .await
    .expect("service context")
}

/// A server on an ephemeral port, stopped when dropped.
pub struct TestServer {
    pub url: String,
    pub http: Http,
    stop: CancellationToken,
}

impl Drop for TestServer {
    fn drop(&mut self) {
        self.stop.cancel();
    }
}

/// Serves `router` on 127.0.0.1:0.
pub async fn spawn(router: Router) -> TestServer {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let url = format!("http://{}", listener.local_addr().expect("addr"));
    let stop = CancellationToken::new();
    let token = stop.clone();
    tokio::spawn(async move {
        let _ =
            marimo_platform::http::serve(listener, router, async move { token.cancelled().await })
                .await;
    });
    TestServer {
        http: Http::new(&url),
        url,
        stop,
    }
}

/// An HTTP client bound to a base URL.
#[derive(Clone)]
pub struct Http {
    base: String,
    client: reqwest::Client,
}

impl Http {
    pub fn new(base: &str) -> Self {
        Self {
            base: base.trim_end_matches('/').to_owned(),
            client: reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .pool_idle_timeout(marimo_platform::http::serve::CLIENT_POOL_IDLE)
                .build()
                .expect("client"),
        }
    }

    pub fn request(&self, method: reqwest::Method, path: &str) -> Req {
        Req(self.client.request(method, format!("{}{path}", self.base)))
    }
    pub fn get(&self, path: &str) -> Req {
        self.request(reqwest::Method::GET, path)
    }
    pub fn post(&self, path: &str) -> Req {
        self.request(reqwest::Method::POST, path)
    }
    pub fn put(&self, path: &str) -> Req {
        self.request(reqwest::Method::PUT, path)
    }
    pub fn delete(&self, path: &str) -> Req {
        self.request(reqwest::Method::DELETE, path)
    }
}

pub struct Req(reqwest::RequestBuilder);

impl Req {
    pub fn json(self, body: Value) -> Self {
        Self(self.0.json(&body))
    }
    pub fn bearer(self, token: &str) -> Self {
        Self(self.0.bearer_auth(token))
    }
    pub fn header(self, name: &str, value: &str) -> Self {
        Self(self.0.header(name, value))
    }
    pub fn body(self, body: impl Into<reqwest::Body>) -> Self {
        Self(self.0.body(body))
    }
    pub async fn send(self) -> Res {
        let res = self.0.send().await.expect("request reaches the server");
        let status = res.status().as_u16();
        let headers = res.headers().clone();
        let text = res.text().await.unwrap_or_default();
        let json = serde_json::from_str(&text).unwrap_or(Value::Null);
        Res {
            status,
            headers,
            text,
            json,
        }
    }
}

#[derive(Debug)]
pub struct Res {
    pub status: u16,
    pub headers: reqwest::header::HeaderMap,
    pub text: String,
    pub json: Value,
}

impl Res {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// Panics with the body when the status differs (readable failures).
    #[track_caller]
    pub fn expect(self, status: u16) -> Self {
        assert_eq!(
            self.status, status,
            "unexpected status; body: {}",
            self.text
        );
        self
    }

    /// The error code of an error body.
    pub fn code(&self) -> &str {
        self.json["error"]["code"].as_str().unwrap_or("")
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn replaces_the_database_in_a_url() {
        assert_eq!(
            super::replace_database("postgres://postgres@127.0.0.1:5432/postgres", "x"),
            "postgres://postgres@127.0.0.1:5432/x"
        );
        assert_eq!(
            super::replace_database("postgres://u@h:1?sslmode=disable", "x"),
            "postgres://u@h:1/x?sslmode=disable"
        );
    }
}

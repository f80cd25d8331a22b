//! Consul: registration, health-filtered resolution with blocking queries,
//! and a KV client — all over Consul's HTTP API (`CONSUL_ADDR`).
//!
//! - [`register`]: `PUT /v1/agent/service/register` on start (retried with
//!   backoff until it succeeds), `PUT /v1/agent/service/deregister/<id>`
//!   when the service shuts down gracefully.
//! - [`ConsulDiscovery`]: one background task per watched service runs
//!   `GET /v1/health/service/<name>?passing=true&index=<X-Consul-Index>&wait=30s`
//!   and keeps the answer in a local cache; lookups read the cache. On an
//!   error the last good list stays in use and the watch retries with
//!   backoff. Until Consul first answered, the static lists are used.
//! - [`ConsulClient`] `kv_*`: get, put, check-and-set (`?cas=`), recurse,
//!   and watch by blocking query.
//!
//! With `CONSUL_HTTP_TOKEN` set, every call carries it as `X-Consul-Token`,
//! so the services work against a cluster whose ACLs deny by default.

use std::{
    collections::HashMap,
    net::SocketAddr,
    sync::{Arc, RwLock},
    time::Duration,
};

use base64::Engine;
use serde::{Deserialize, Serialize};
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

use super::{Discovery, Instance, StaticDiscovery};
use crate::{resilience::Backoff, service::ServiceContext, service::ServiceName};

/// How long a blocking query may wait in Consul.
pub const WAIT: Duration = Duration::from_secs(30);

#[derive(Debug, thiserror::Error)]
pub enum ConsulError {
    #[error("consul unreachable: {0}")]
    Http(#[from] reqwest::Error),
    #[error("consul answered {status}: {body}")]
    Status { status: u16, body: String },
    #[error("bad consul address '{0}'")]
    Address(String),
    #[error("bad consul answer: {0}")]
    Decode(String),
    #[error("CONSUL_HTTP_TOKEN is not a valid header value")]
    Token,
}

/// The header that carries the ACL token.
pub const TOKEN_HEADER: &str = "x-consul-token";

/// A service registration (Consul's agent API shape).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "PascalCase")]
pub struct Registration {
    #[serde(rename = "ID")]
    pub id: String,
    pub name: String,
    pub address: String,
    pub port: u16,
    pub tags: Vec<String>,
    pub check: Check,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "PascalCase")]
pub struct Check {
    #[serde(rename = "HTTP")]
    pub http: String,
    pub interval: String,
    pub timeout: String,
    pub deregister_critical_service_after: String,
}

/// The registration of `service` listening on `addr` (an unspecified
/// address is advertised as 127.0.0.1: set `MARIMO_BIND` to a routable one).
pub fn registration(service: ServiceName, addr: SocketAddr) -> Registration {
    let host = if addr.ip().is_unspecified() {
        "127.0.0.1".to_owned()
    } else {
        addr.ip().to_string()
    };
    let url_host = if addr.is_ipv6() && !addr.ip().is_unspecified() {
        format!("[{host}]")
    } else {
        host.clone()
    };
    Registration {
        id: format!("{service}-{host}-{}", addr.port()),
        name: service.as_str().to_owned(),
        address: host,
        port: addr.port(),
        tags: vec![
            "marimo".to_owned(),
            format!("version={}", env!("CARGO_PKG_VERSION")),
        ],
        check: Check {
            http: format!("http://{url_host}:{}/health", addr.port()),
            interval: "10s".into(),
            timeout: "5s".into(),
            deregister_critical_service_after: "1m".into(),
        },
    }
}

/// One entry of `/v1/health/service/<name>` (the fields used).
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct ServiceEntry {
    node: Node,
    service: AgentService,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct Node {
    #[serde(default)]
    address: String,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct AgentService {
    #[serde(default)]
    address: String,
    port: u16,
}

/// A KV entry; `value` is decoded from Consul's base64.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KvEntry {
    pub key: String,
    pub value: Option<Vec<u8>>,
    pub flags: u64,
    pub create_index: u64,
    pub modify_index: u64,
    pub lock_index: u64,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct RawKv {
    key: String,
    value: Option<String>,
    #[serde(default)]
    flags: u64,
    create_index: u64,
    modify_index: u64,
    #[serde(default)]
    lock_index: u64,
}

impl TryFrom<RawKv> for KvEntry {
    type Error = ConsulError;
    fn try_from(raw: RawKv) -> Result<Self, ConsulError> {
        let value = raw
            .value
            .map(|v| base64::engine::general_purpose::STANDARD.decode(v))
            .transpose()
            .map_err(|e| ConsulError::Decode(e.to_string()))?;
        Ok(Self {
            key: raw.key,
            value,
            flags: raw.flags,
            create_index: raw.create_index,
            modify_index: raw.modify_index,
            lock_index: raw.lock_index,
        })
    }
}

/// Consul's HTTP API.
#[derive(Debug, Clone)]
pub struct ConsulClient {
    base: String,
    http: reqwest::Client,
}

impl ConsulClient {
    /// `addr` is `host:port` (the seed's `CONSUL_ADDR`) or a full URL.
    pub fn new(addr: &str) -> Result<Self, ConsulError> {
        Self::with_token(addr, None)
    }

    /// The client of the settings: `CONSUL_ADDR`, and `CONSUL_HTTP_TOKEN`
    /// when set. `None` without `CONSUL_ADDR`.
    pub fn from_settings(settings: &crate::config::Settings) -> Option<Result<Self, ConsulError>> {
        let addr = settings.consul_addr.as_deref()?;
        Some(Self::with_token(
            addr,
            settings.consul_token.as_ref().map(|t| t.expose()),
        ))
    }

    /// Like [`ConsulClient::new`], sending `token` as `X-Consul-Token` on
    /// every call (a cluster with ACLs in default-deny answers 403 without).
    pub fn with_token(addr: &str, token: Option<&str>) -> Result<Self, ConsulError> {
        let addr = addr.trim().trim_end_matches('/');
        let base = if addr.starts_with("http://") || addr.starts_with("https://") {
            addr.to_owned()
        } else {
            format!("http://{addr}")
        };
        if reqwest::Url::parse(&base).is_err() || addr.is_empty() {
            return Err(ConsulError::Address(addr.to_owned()));
        }
        let mut headers = reqwest::header::HeaderMap::new();
        if let Some(token) = token.map(str::trim).filter(|t| !t.is_empty()) {
            let mut value =
                reqwest::header::HeaderValue::from_str(token).map_err(|_| ConsulError::Token)?;
            value.set_sensitive(true);
            headers.insert(TOKEN_HEADER, value);
        }
        let http = reqwest::Client::builder()
            .default_headers(headers)
            .connect_timeout(Duration::from_secs(2))
            // Longer than a blocking query's wait (Consul adds up to wait/16).
            .timeout(WAIT + Duration::from_secs(10))
            .no_proxy()
            .build()?;
        Ok(Self { base, http })
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    async fn check(res: reqwest::Response) -> Result<reqwest::Response, ConsulError> {
        if res.status().is_success() {
            return Ok(res);
        }
        let status = res.status().as_u16();
        let body = res.text().await.unwrap_or_default();
        Err(ConsulError::Status { status, body })
    }

    pub async fn register(&self, reg: &Registration) -> Result<(), ConsulError> {
        let res = self
            .http
            .put(self.url("/v1/agent/service/register"))
            .json(reg)
            .send()
            .await?;
        Self::check(res).await.map(drop)
    }

    pub async fn deregister(&self, id: &str) -> Result<(), ConsulError> {
        let res = self
            .http
            .put(self.url(&format!("/v1/agent/service/deregister/{}", encode(id))))
            .send()
            .await?;
        Self::check(res).await.map(drop)
    }

    /// Passing instances of `service` as base URLs, and the index to wait
    /// on next. With `index`, blocks up to `wait` for a change.
    pub async fn healthy(
        &self,
        service: &str,
        index: Option<u64>,
        wait: Duration,
    ) -> Result<(Vec<Instance>, u64), ConsulError> {
        let mut req = self
            .http
            .get(self.url(&format!("/v1/health/service/{}", encode(service))))
            .query(&[("passing", "true")]);
        if let Some(i) = index {
            req = req.query(&[("index", i.to_string()), ("wait", wait_param(wait))]);
        }
        let res = Self::check(req.send().await?).await?;
        let index = consul_index(&res);
        let entries: Vec<ServiceEntry> = res
            .json()
            .await
            .map_err(|e| ConsulError::Decode(e.to_string()))?;
        let instances = entries
            .into_iter()
            .map(|e| {
                let host = if e.service.address.is_empty() {
                    e.node.address
                } else {
                    e.service.address
                };
                let host = if host.contains(':') && !host.starts_with('[') {
                    format!("[{host}]")
                } else {
                    host
                };
                Instance {
                    base_url: format!("http://{host}:{}", e.service.port).into(),
                }
            })
            .collect();
        Ok((instances, index))
    }

    async fn kv_read(
        &self,
        key: &str,
        recurse: bool,
        index: Option<u64>,
        wait: Duration,
    ) -> Result<(Vec<KvEntry>, u64), ConsulError> {
        let mut req = self
            .http
            .get(self.url(&format!("/v1/kv/{}", encode_key(key))));
        if recurse {
            req = req.query(&[("recurse", "true")]);
        }
        if let Some(i) = index {
            req = req.query(&[("index", i.to_string()), ("wait", wait_param(wait))]);
        }
        let res = req.send().await?;
        if res.status() == reqwest::StatusCode::NOT_FOUND {
            return Ok((Vec::new(), consul_index(&res)));
        }
        let res = Self::check(res).await?;
        let index = consul_index(&res);
        let raw: Vec<RawKv> = res
            .json()
            .await
            .map_err(|e| ConsulError::Decode(e.to_string()))?;
        let entries = raw
            .into_iter()
            .map(KvEntry::try_from)
            .collect::<Result<_, _>>()?;
        Ok((entries, index))
    }

    pub async fn kv_get(&self, key: &str) -> Result<Option<KvEntry>, ConsulError> {
        let (entries, _) = self.kv_read(key, false, None, WAIT).await?;
        Ok(entries.into_iter().next())
    }

    /// Every entry under `prefix`.
    pub async fn kv_list(&self, prefix: &str) -> Result<Vec<KvEntry>, ConsulError> {
        Ok(self.kv_read(prefix, true, None, WAIT).await?.0)
    }

    /// Blocks until entries under `prefix` change after `index` (or `wait`
    /// passes); returns them and the next index.
    pub async fn kv_watch(
        &self,
        prefix: &str,
        index: u64,
        wait: Duration,
    ) -> Result<(Vec<KvEntry>, u64), ConsulError> {
        self.kv_read(prefix, true, Some(index), wait).await
    }

    pub async fn kv_put(&self, key: &str, value: &[u8]) -> Result<bool, ConsulError> {
        self.kv_write(key, value, None).await
    }

    /// Writes only if the key's `ModifyIndex` is still `modify_index`
    /// (0: only if absent); `false` on a conflict.
    pub async fn kv_cas(
        &self,
        key: &str,
        value: &[u8],
        modify_index: u64,
    ) -> Result<bool, ConsulError> {
        self.kv_write(key, value, Some(modify_index)).await
    }

    /// Deletes one key; `true` when Consul accepted it (also when the
    /// key was already absent).
    pub async fn kv_delete(&self, key: &str) -> Result<bool, ConsulError> {
        let req = self
            .http
            .delete(self.url(&format!("/v1/kv/{}", encode_key(key))));
        let res = Self::check(req.send().await?).await?;
        Ok(res.text().await?.trim() == "true")
    }

    async fn kv_write(
        &self,
        key: &str,
        value: &[u8],
        cas: Option<u64>,
    ) -> Result<bool, ConsulError> {
        let mut req = self
            .http
            .put(self.url(&format!("/v1/kv/{}", encode_key(key))))
            .body(value.to_vec());
        if let Some(i) = cas {
            req = req.query(&[("cas", i.to_string())]);
        }
        let res = Self::check(req.send().await?).await?;
        let text = res.text().await?;
        Ok(text.trim() == "true")
    }
}

fn wait_param(wait: Duration) -> String {
    format!("{}s", wait.as_secs().max(1))
}

fn consul_index(res: &reqwest::Response) -> u64 {
    res.headers()
        .get("x-consul-index")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

/// Percent-encodes one path segment.
fn encode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// Percent-encodes a KV key, keeping its `/` separators.
fn encode_key(key: &str) -> String {
    key.split('/').map(encode).collect::<Vec<_>>().join("/")
}

/// Registers `ctx`'s service listening on `addr` with Consul (retrying
/// with backoff until it succeeds or the service stops) and deregisters it
/// on graceful shutdown. Runs on `ctx.tasks`.
pub fn register(ctx: &ServiceContext, client: ConsulClient, addr: SocketAddr) {
    let reg = registration(ctx.name, addr);
    let shutdown = ctx.shutdown.clone();
    ctx.tasks.spawn(async move {
        let backoff = Backoff::default();
        let mut attempt = 0u32;
        loop {
            match client.register(&reg).await {
                Ok(()) => {
                    tracing::info!(id = %reg.id, "registered with consul");
                    break;
                }
                Err(e) => {
                    tracing::warn!(id = %reg.id, error = %e, "consul registration failed; retrying");
                    let wait = backoff.delay(attempt.min(16)).max(Duration::from_millis(50));
                    attempt = attempt.saturating_add(1);
                    tokio::select! {
                        () = shutdown.cancelled() => return,
                        () = tokio::time::sleep(wait) => {}
                    }
                }
            }
        }
        shutdown.cancelled().await;
        match client.deregister(&reg.id).await {
            Ok(()) => tracing::info!(id = %reg.id, "deregistered from consul"),
            Err(e) => tracing::warn!(id = %reg.id, error = %e, "consul deregistration failed"),
        }
    });
}

type Lists = Arc<RwLock<HashMap<ServiceName, Vec<Instance>>>>;

/// Instances from Consul's health API, cached locally and refreshed by one
/// blocking-query watch per service.
#[derive(Clone)]
pub struct ConsulDiscovery {
    lists: Lists,
    fallback: StaticDiscovery,
    changed: watch::Receiver<u64>,
}

impl ConsulDiscovery {
    /// Starts watching `services`; the watches stop on `shutdown`.
    pub fn start(
        client: ConsulClient,
        services: &[ServiceName],
        fallback: StaticDiscovery,
        shutdown: CancellationToken,
        wait: Duration,
    ) -> Self {
        let lists: Lists = Arc::default();
        let (tx, changed) = watch::channel(0u64);
        let tx = Arc::new(tx);
        for &service in services {
            let (client, lists, tx, shutdown) =
                (client.clone(), lists.clone(), tx.clone(), shutdown.clone());
            tokio::spawn(async move {
                let backoff = Backoff::default();
                let mut index: Option<u64> = None;
                let mut failures = 0u32;
                loop {
                    let outcome = tokio::select! {
                        () = shutdown.cancelled() => return,
                        r = client.healthy(service.as_str(), index, wait) => r,
                    };
                    match outcome {
                        Ok((instances, next)) => {
                            failures = 0;
                            // An index going backwards means Consul was
                            // reset: start over (Consul's documented rule).
                            index = match index {
                                Some(i) if next < i => None,
                                _ if next == 0 => None,
                                _ => Some(next),
                            };
                            let mut guard = lists
                                .write()
                                .unwrap_or_else(std::sync::PoisonError::into_inner);
                            if guard.get(&service) != Some(&instances) {
                                guard.insert(service, instances);
                                drop(guard);
                                tx.send_modify(|v| *v += 1);
                            }
                        }
                        Err(e) => {
                            // Keep the last good list; retry with backoff.
                            tracing::warn!(service = service.as_str(), error = %e, "consul watch failed; keeping the last instances");
                            let delay = backoff
                                .delay(failures.min(16))
                                .max(Duration::from_millis(50));
                            failures = failures.saturating_add(1);
                            index = None;
                            tokio::select! {
                                () = shutdown.cancelled() => return,
                                () = tokio::time::sleep(delay) => {}
                            }
                        }
                    }
                }
            });
        }
        Self {
            lists,
            fallback,
            changed,
        }
    }
}

impl Discovery for ConsulDiscovery {
    fn instances(&self, service: ServiceName) -> Vec<Instance> {
        let guard = self
            .lists
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        match guard.get(&service) {
            Some(list) => list.clone(),
            None => self.fallback.instances(service),
        }
    }

    fn changes(&self) -> Option<watch::Receiver<u64>> {
        Some(self.changed.clone())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn registration_body_has_consuls_shape() {
        let reg = registration(ServiceName::Shop, "10.0.0.5:8085".parse().unwrap());
        let v = serde_json::to_value(&reg).unwrap();
        assert_eq!(v["ID"], "shop-10.0.0.5-8085");
        assert_eq!(v["Name"], "shop");
        assert_eq!(v["Address"], "10.0.0.5");
        assert_eq!(v["Port"], 8085);
        assert_eq!(v["Check"]["HTTP"], "http://10.0.0.5:8085/health");
        assert_eq!(v["Check"]["Interval"], "10s");
        assert_eq!(v["Check"]["Timeout"], "5s");
        assert_eq!(v["Check"]["DeregisterCriticalServiceAfter"], "1m");
        assert!(
            v["Tags"]
                .as_array()
                .unwrap()
                .contains(&serde_json::json!(format!(
                    "version={}",
                    env!("CARGO_PKG_VERSION")
                )))
        );
        assert_eq!(encode_key("config/a b/c"), "config/a%20b/c");
        assert!(ConsulClient::new("127.0.0.1:8500").is_ok());
        assert!(ConsulClient::new("").is_err());
    }
}

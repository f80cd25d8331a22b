//! A Consul-compatible HTTP server for tests (no Consul binary can be
//! installed on the project's machines): the agent registration endpoints,
//! `/v1/health/service/:name` and `/v1/kv/...` (GET with `?recurse`, PUT
//! with `?cas=`, DELETE), with `X-Consul-Index` and `?index=&wait=`
//! blocking queries, in Consul's documented JSON shapes. `down` makes every
//! endpoint answer 500 like a cluster without a leader; [`FakeConsul::with_acl`]
//! makes it deny (403) every request without its `X-Consul-Token`, like a
//! cluster with ACLs in default-deny mode.

use std::{
    collections::{BTreeMap, HashMap},
    net::SocketAddr,
    sync::{Arc, Mutex},
    time::Duration,
};

use axum::{
    Json, Router,
    body::Bytes,
    extract::{Path, Query, State},
    http::{HeaderValue, StatusCode},
    response::{IntoResponse, Response},
    routing::{get, put},
};
use base64::Engine;
use serde_json::{Value, json};
use tokio::sync::watch;

/// What the server holds; tests read and change it through
/// [`FakeConsul::with`] and [`FakeConsul::change`].
#[derive(Default)]
pub struct Data {
    pub index: u64,
    /// id → (registration body, passing)
    pub services: BTreeMap<String, (Value, bool)>,
    pub registered: Vec<Value>,
    pub deregistered: Vec<String>,
    pub kv: BTreeMap<String, (Vec<u8>, u64, u64)>, // value, create, modify
    pub down: bool,
    pub errors: u64,
    /// With ACLs on (default deny): the one token accepted; requests
    /// without it answer 403 like Consul. Counted in `denied`.
    pub acl_token: Option<String>,
    pub denied: u64,
}

#[derive(Clone)]
pub struct FakeConsul {
    data: Arc<Mutex<Data>>,
    tx: Arc<watch::Sender<u64>>,
}

impl Default for FakeConsul {
    fn default() -> Self {
        Self::new()
    }
}

impl FakeConsul {
    pub fn new() -> Self {
        let data = Data {
            index: 1,
            ..Data::default()
        };
        Self {
            data: Arc::new(Mutex::new(data)),
            tx: Arc::new(watch::channel(1).0),
        }
    }

    /// A server with ACLs in default-deny mode that accepts only `token`.
    pub fn with_acl(token: &str) -> Self {
        let consul = Self::new();
        consul.data.lock().unwrap().acl_token = Some(token.to_owned());
        consul
    }

    pub fn change(&self, f: impl FnOnce(&mut Data)) {
        let index = {
            let mut d = self.data.lock().unwrap();
            f(&mut d);
            d.index += 1;
            d.index
        };
        self.tx.send_replace(index);
    }

    pub fn index(&self) -> u64 {
        self.data.lock().unwrap().index
    }

    pub fn with<R>(&self, f: impl FnOnce(&Data) -> R) -> R {
        f(&self.data.lock().unwrap())
    }

    /// Waits for a change after `index` for up to `wait` (a blocking query).
    async fn block(&self, index: Option<u64>, wait: Option<&String>) {
        let Some(index) = index else { return };
        let wait = wait.map_or(Duration::from_secs(300), |w| parse_wait(w));
        let mut rx = self.tx.subscribe();
        let _ = tokio::time::timeout(wait, async {
            while *rx.borrow_and_update() <= index {
                if rx.changed().await.is_err() {
                    return;
                }
            }
        })
        .await;
    }

    fn failing(&self) -> Option<Response> {
        let mut d = self.data.lock().unwrap();
        d.down.then(|| {
            d.errors += 1;
            (
                StatusCode::INTERNAL_SERVER_ERROR,
                "rpc error: No cluster leader",
            )
                .into_response()
        })
    }
}

pub fn parse_wait(w: &str) -> Duration {
    if let Some(ms) = w.strip_suffix("ms") {
        return Duration::from_millis(ms.parse().unwrap_or(0));
    }
    if let Some(s) = w.strip_suffix('s') {
        return Duration::from_secs(s.parse().unwrap_or(0));
    }
    if let Some(m) = w.strip_suffix('m') {
        return Duration::from_secs(60 * m.parse::<u64>().unwrap_or(0));
    }
    Duration::from_secs(w.parse().unwrap_or(0))
}

fn indexed(index: u64, body: impl IntoResponse) -> Response {
    let mut res = body.into_response();
    res.headers_mut()
        .insert("x-consul-index", HeaderValue::from(index));
    res
}

async fn agent_register(State(c): State<FakeConsul>, Json(body): Json<Value>) -> Response {
    if let Some(res) = c.failing() {
        return res;
    }
    let Some(id) = body["ID"].as_str().map(str::to_owned) else {
        return (StatusCode::BAD_REQUEST, "missing ID").into_response();
    };
    c.change(|d| {
        d.registered.push(body.clone());
        d.services.insert(id, (body, true));
    });
    StatusCode::OK.into_response()
}

async fn agent_deregister(State(c): State<FakeConsul>, Path(id): Path<String>) -> Response {
    if let Some(res) = c.failing() {
        return res;
    }
    c.change(|d| {
        d.services.remove(&id);
        d.deregistered.push(id);
    });
    StatusCode::OK.into_response()
}

async fn health_service(
    State(c): State<FakeConsul>,
    Path(name): Path<String>,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    c.block(q.get("index").and_then(|i| i.parse().ok()), q.get("wait"))
        .await;
    if let Some(res) = c.failing() {
        return res;
    }
    let passing_only = q.contains_key("passing");
    let (index, entries) = c.with(|d| {
        let entries: Vec<Value> = d
            .services
            .values()
            .filter(|(s, passing)| s["Name"] == name.as_str() && (*passing || !passing_only))
            .map(|(s, passing)| {
                let status = if *passing { "passing" } else { "critical" };
                json!({
                    "Node": {"ID": "n1", "Node": "node-1", "Address": "127.0.0.1", "Datacenter": "dc1",
                             "TaggedAddresses": {}, "Meta": {}},
                    "Service": {"ID": s["ID"], "Service": s["Name"], "Tags": s["Tags"],
                                "Address": s["Address"], "Port": s["Port"], "Meta": {},
                                "Weights": {"Passing": 1, "Warning": 1}, "EnableTagOverride": false},
                    "Checks": [
                        {"Node": "node-1", "CheckID": "serfHealth", "Name": "Serf Health Status",
                         "Status": "passing", "ServiceID": "", "ServiceName": ""},
                        {"Node": "node-1", "CheckID": format!("service:{}", s["ID"].as_str().unwrap_or("")),
                         "Name": format!("Service '{name}' check"), "Status": status,
                         "ServiceID": s["ID"], "ServiceName": s["Name"]}
                    ]
                })
            })
            .collect();
        (d.index, entries)
    });
    indexed(index, Json(Value::Array(entries)))
}

fn kv_json(key: &str, value: &[u8], create: u64, modify: u64) -> Value {
    json!({
        "Key": key,
        "Value": base64::engine::general_purpose::STANDARD.encode(value),
        "Flags": 0,
        "CreateIndex": create,
        "ModifyIndex": modify,
        "LockIndex": 0,
    })
}

async fn kv_get(
    State(c): State<FakeConsul>,
    Path(key): Path<String>,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    c.block(q.get("index").and_then(|i| i.parse().ok()), q.get("wait"))
        .await;
    if let Some(res) = c.failing() {
        return res;
    }
    let recurse = q.contains_key("recurse");
    let (index, list) = c.with(|d| {
        let list: Vec<Value> =
            d.kv.iter()
                .filter(|(k, _)| {
                    if recurse {
                        k.starts_with(&key)
                    } else {
                        **k == key
                    }
                })
                .map(|(k, (v, c, m))| kv_json(k, v, *c, *m))
                .collect();
        (d.index, list)
    });
    if list.is_empty() {
        return indexed(index, StatusCode::NOT_FOUND);
    }
    indexed(index, Json(Value::Array(list)))
}

async fn kv_put(
    State(c): State<FakeConsul>,
    Path(key): Path<String>,
    Query(q): Query<HashMap<String, String>>,
    body: Bytes,
) -> Response {
    if let Some(res) = c.failing() {
        return res;
    }
    let cas: Option<u64> = q.get("cas").and_then(|v| v.parse().ok());
    let current = c.with(|d| d.kv.get(&key).map(|(_, _, m)| *m));
    let allowed = match cas {
        None => true,
        Some(0) => current.is_none(),
        Some(i) => current == Some(i),
    };
    if !allowed {
        return Json(false).into_response();
    }
    c.change(|d| {
        let next = d.index + 1;
        let create = d.kv.get(&key).map_or(next, |(_, c, _)| *c);
        d.kv.insert(key, (body.to_vec(), create, next));
    });
    Json(true).into_response()
}

/// `DELETE /v1/kv/:key` (`?recurse` for a prefix, `?cas=` to delete only
/// at that ModifyIndex); answers `true` or `false` like Consul.
async fn kv_delete(
    State(c): State<FakeConsul>,
    Path(key): Path<String>,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    if let Some(res) = c.failing() {
        return res;
    }
    let recurse = q.contains_key("recurse");
    if let Some(cas) = q.get("cas").and_then(|v| v.parse::<u64>().ok()) {
        let current = c.with(|d| d.kv.get(&key).map(|(_, _, m)| *m));
        if current != Some(cas) {
            return Json(false).into_response();
        }
    }
    c.change(|d| {
        if recurse {
            d.kv.retain(|k, _| !k.starts_with(&key));
        } else {
            d.kv.remove(&key);
        }
    });
    Json(true).into_response()
}

pub struct Running {
    pub addr: SocketAddr,
    pub handle: tokio::task::JoinHandle<()>,
}

/// ACLs in default-deny mode: without the configured token, 403 with
/// Consul's text, before any handler runs.
async fn acl(
    State(c): State<FakeConsul>,
    req: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
    let allowed = {
        let mut d = c.data.lock().unwrap();
        let ok = match &d.acl_token {
            None => true,
            Some(token) => req
                .headers()
                .get("x-consul-token")
                .is_some_and(|v| v.as_bytes() == token.as_bytes()),
        };
        if !ok {
            d.denied += 1;
        }
        ok
    };
    if !allowed {
        return (
            StatusCode::FORBIDDEN,
            "Permission denied: token lacks permission",
        )
            .into_response();
    }
    next.run(req).await
}

/// Serves `consul` on an ephemeral loopback port.
pub async fn serve(consul: FakeConsul) -> Running {
    let router = Router::new()
        .route("/v1/agent/service/register", put(agent_register))
        .route("/v1/agent/service/deregister/{id}", put(agent_deregister))
        .route("/v1/health/service/{name}", get(health_service))
        .route("/v1/kv/{*key}", get(kv_get).put(kv_put).delete(kv_delete))
        .layer(axum::middleware::from_fn_with_state(consul.clone(), acl))
        .with_state(consul);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let handle = tokio::spawn(async move {
        let _ = axum::serve(listener, router).await;
    });
    Running { addr, handle }
}

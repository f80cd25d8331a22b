//! The Consul adapter against a small Consul-compatible server: the agent
//! registration endpoints, `/v1/health/service/:name` and `/v1/kv/...`,
//! with `X-Consul-Index` and `?index=&wait=` blocking queries, in Consul's
//! documented JSON shapes.

use std::{
    collections::{BTreeMap, HashMap},
    net::SocketAddr,
    sync::{Arc, Mutex},
    time::{Duration, Instant},
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
use marimo_platform::{
    discovery::{
        Discovery, StaticDiscovery,
        consul::{ConsulClient, ConsulDiscovery, register, registration},
    },
    service::ServiceName,
};
use marimo_testkit::{Backend, context};
use serde_json::{Value, json};
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

#[derive(Default)]
struct Data {
    index: u64,
    /// id → (registration body, passing)
    services: BTreeMap<String, (Value, bool)>,
    registered: Vec<Value>,
    deregistered: Vec<String>,
    kv: BTreeMap<String, (Vec<u8>, u64, u64)>, // value, create, modify
    down: bool,
    errors: u64,
}

#[derive(Clone)]
struct FakeConsul {
    data: Arc<Mutex<Data>>,
    tx: Arc<watch::Sender<u64>>,
}

impl FakeConsul {
    fn new() -> Self {
        let data = Data {
            index: 1,
            ..Data::default()
        };
        Self {
            data: Arc::new(Mutex::new(data)),
            tx: Arc::new(watch::channel(1).0),
        }
    }

    fn change(&self, f: impl FnOnce(&mut Data)) {
        let index = {
            let mut d = self.data.lock().unwrap();
            f(&mut d);
            d.index += 1;
            d.index
        };
        self.tx.send_replace(index);
    }

    fn index(&self) -> u64 {
        self.data.lock().unwrap().index
    }

    fn with<R>(&self, f: impl FnOnce(&Data) -> R) -> R {
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

fn parse_wait(w: &str) -> Duration {
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

struct Running {
    addr: SocketAddr,
    handle: tokio::task::JoinHandle<()>,
}

async fn serve(consul: FakeConsul) -> Running {
    let router = Router::new()
        .route("/v1/agent/service/register", put(agent_register))
        .route("/v1/agent/service/deregister/{id}", put(agent_deregister))
        .route("/v1/health/service/{name}", get(health_service))
        .route("/v1/kv/{*key}", get(kv_get).put(kv_put))
        .with_state(consul);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let handle = tokio::spawn(async move {
        let _ = axum::serve(listener, router).await;
    });
    Running { addr, handle }
}

async fn eventually(what: &str, mut check: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while !check() {
        assert!(Instant::now() < deadline, "timed out waiting for: {what}");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

#[tokio::test]
async fn registers_on_start_and_deregisters_on_shutdown() {
    let consul = FakeConsul::new();
    let running = serve(consul.clone()).await;
    let settings = Backend::Sqlite.settings(&[]).await;
    let ctx = context(ServiceName::Main, settings).await;
    let client = ConsulClient::new(&running.addr.to_string()).unwrap();
    let addr: SocketAddr = "127.0.0.1:18086".parse().unwrap();
    register(&ctx, client, addr);
    eventually("registration", || consul.with(|d| d.registered.len() == 1)).await;
    let body = consul.with(|d| d.registered[0].clone());
    assert_eq!(
        body,
        serde_json::to_value(registration(ServiceName::Main, addr)).unwrap()
    );
    assert_eq!(body["ID"], "main-127.0.0.1-18086");
    assert_eq!(body["Name"], "main");
    assert_eq!(body["Address"], "127.0.0.1");
    assert_eq!(body["Port"], 18086);
    assert_eq!(body["Check"]["HTTP"], "http://127.0.0.1:18086/health");
    assert_eq!(body["Check"]["Interval"], "10s");
    assert_eq!(body["Check"]["Timeout"], "5s");
    assert_eq!(body["Check"]["DeregisterCriticalServiceAfter"], "1m");
    assert!(
        body["Tags"]
            .as_array()
            .unwrap()
            .iter()
            .any(|t| t.as_str().is_some_and(|t| t.starts_with("version=")))
    );
    assert!(consul.with(|d| d.deregistered.is_empty()));

    ctx.shutdown.cancel();
    ctx.tasks.close();
    ctx.tasks.wait().await;
    assert_eq!(
        consul.with(|d| d.deregistered.clone()),
        ["main-127.0.0.1-18086"]
    );
    assert!(consul.with(|d| d.services.is_empty()));
    running.handle.abort();
}

fn urls(d: &dyn Discovery, s: ServiceName) -> Vec<String> {
    let mut v: Vec<String> = d
        .instances(s)
        .iter()
        .map(|i| i.base_url.to_string())
        .collect();
    v.sort();
    v
}

#[tokio::test]
async fn resolves_passing_instances_and_follows_changes() {
    let consul = FakeConsul::new();
    let running = serve(consul.clone()).await;
    let client = ConsulClient::new(&format!("http://{}", running.addr)).unwrap();
    for port in [9001u16, 9002] {
        client
            .register(&registration(
                ServiceName::Shop,
                SocketAddr::from(([127, 0, 0, 1], port)),
            ))
            .await
            .unwrap();
    }
    // One of them fails its check.
    consul.change(|d| {
        if let Some(s) = d.services.get_mut("shop-127.0.0.1-9002") {
            s.1 = false;
        }
    });
    let stop = CancellationToken::new();
    let d = ConsulDiscovery::start(
        client.clone(),
        &[ServiceName::Shop, ServiceName::Users],
        StaticDiscovery::default(),
        stop.clone(),
        Duration::from_secs(30),
    );
    let mut changes = d.changes().unwrap();
    eventually("first resolution", || {
        urls(&d, ServiceName::Shop).len() == 1
    })
    .await;
    assert_eq!(urls(&d, ServiceName::Shop), ["http://127.0.0.1:9001"]);
    assert!(urls(&d, ServiceName::Users).is_empty());

    // The watch is a blocking query: a new instance shows up at once,
    // well before the 30 s wait ends.
    changes.borrow_and_update();
    let started = Instant::now();
    client
        .register(&registration(
            ServiceName::Shop,
            SocketAddr::from(([127, 0, 0, 1], 9003)),
        ))
        .await
        .unwrap();
    tokio::time::timeout(Duration::from_secs(10), async {
        while urls(&d, ServiceName::Shop).len() != 2 {
            changes.changed().await.unwrap();
        }
    })
    .await
    .expect("the blocking query returned the change");
    assert!(started.elapsed() < Duration::from_secs(25));
    assert_eq!(
        urls(&d, ServiceName::Shop),
        ["http://127.0.0.1:9001", "http://127.0.0.1:9003"]
    );

    // Consul errors: the last good list stays.
    consul.change(|d| d.down = true);
    eventually("failed watches", || consul.with(|d| d.errors >= 3)).await;
    assert_eq!(
        urls(&d, ServiceName::Shop),
        ["http://127.0.0.1:9001", "http://127.0.0.1:9003"]
    );
    // Consul gone altogether: still the last good list.
    running.handle.abort();
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(urls(&d, ServiceName::Shop).len(), 2);
    stop.cancel();
}

#[tokio::test]
async fn static_lists_serve_until_consul_first_answers() {
    let closed = {
        let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        l.local_addr().unwrap()
    };
    let settings = Backend::Sqlite
        .settings(&[("SHOP_URLS", "http://10.1.1.1:8085")])
        .await;
    let stop = CancellationToken::new();
    let d = ConsulDiscovery::start(
        ConsulClient::new(&closed.to_string()).unwrap(),
        &[ServiceName::Shop],
        StaticDiscovery::from_settings(&settings),
        stop.clone(),
        Duration::from_secs(1),
    );
    assert_eq!(urls(&d, ServiceName::Shop), ["http://10.1.1.1:8085"]);
    stop.cancel();
}

#[tokio::test]
async fn kv_get_put_cas_recurse_and_watch() {
    let consul = FakeConsul::new();
    let running = serve(consul.clone()).await;
    let client = ConsulClient::new(&running.addr.to_string()).unwrap();
    assert_eq!(client.kv_get("config/app_name").await.unwrap(), None);
    assert!(client.kv_put("config/app_name", b"Marimo").await.unwrap());
    let e = client.kv_get("config/app_name").await.unwrap().unwrap();
    assert_eq!(e.key, "config/app_name");
    assert_eq!(e.value.as_deref(), Some(&b"Marimo"[..]));
    assert_eq!(e.create_index, e.modify_index);
    assert_eq!(e.flags, 0);
    assert_eq!(e.lock_index, 0);

    // Check-and-set: the current ModifyIndex wins, a stale one conflicts.
    assert!(
        client
            .kv_cas("config/app_name", b"Marimo ERP", e.modify_index)
            .await
            .unwrap()
    );
    assert!(
        !client
            .kv_cas("config/app_name", b"stale", e.modify_index)
            .await
            .unwrap()
    );
    let e2 = client.kv_get("config/app_name").await.unwrap().unwrap();
    assert_eq!(e2.value.as_deref(), Some(&b"Marimo ERP"[..]));
    assert!(e2.modify_index > e.modify_index);
    assert_eq!(e2.create_index, e.create_index);
    // cas=0: only if absent.
    assert!(!client.kv_cas("config/app_name", b"x", 0).await.unwrap());
    assert!(client.kv_cas("config/currency", b"EUR", 0).await.unwrap());
    client.kv_put("other/x", b"1").await.unwrap();

    let list = client.kv_list("config/").await.unwrap();
    let keys: Vec<_> = list.iter().map(|e| e.key.as_str()).collect();
    assert_eq!(keys, ["config/app_name", "config/currency"]);

    // Watch: blocks until a change after the index.
    let index = consul.index();
    let watcher = {
        let client = client.clone();
        tokio::spawn(async move {
            client
                .kv_watch("config/", index, Duration::from_secs(30))
                .await
        })
    };
    client.kv_put("config/currency", b"USD").await.unwrap();
    let (entries, next) = tokio::time::timeout(Duration::from_secs(10), watcher)
        .await
        .expect("the watch returned on the change")
        .unwrap()
        .unwrap();
    assert!(next > index);
    let usd = entries.iter().find(|e| e.key == "config/currency").unwrap();
    assert_eq!(usd.value.as_deref(), Some(&b"USD"[..]));
    running.handle.abort();
}

#[test]
fn the_fake_parses_waits() {
    assert_eq!(parse_wait("30s"), Duration::from_secs(30));
    assert_eq!(parse_wait("1m"), Duration::from_secs(60));
    assert_eq!(parse_wait("200ms"), Duration::from_millis(200));
}

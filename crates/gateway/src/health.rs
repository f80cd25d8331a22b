//! `GET /health`: the gateway and every service behind it.
//!
//! Each instance's `/health` is probed concurrently with a short timeout.
//! A service is up when at least one of its instances is. 200 when every
//! service is up; otherwise 503 naming the ones down, in the one error
//! shape plus the same status fields.
//!
//! Probes are shared: callers within [`PROBE_TTL`] of the last probe get
//! its result, and concurrent callers wait for one probe, so `/health`
//! cannot be used to multiply traffic to the services.

use std::{
    sync::Arc,
    time::{Duration, Instant},
};

use axum::{
    Json,
    extract::State,
    http::StatusCode,
    response::{IntoResponse, Response},
};
use marimo_platform::{ApiError, http::request_id, service::ServiceName};
use serde_json::{Map, Value, json};
use tokio::sync::Mutex;

use crate::upstreams::{Instance, Upstreams};

/// Time allowed for one instance's `/health`.
pub const PROBE_TIMEOUT: Duration = Duration::from_secs(1);
/// How long a probe result is reused.
pub const PROBE_TTL: Duration = Duration::from_secs(1);

#[derive(Debug, Clone)]
struct InstanceHealth {
    url: Arc<str>,
    up: bool,
    breaker: &'static str,
    latency_ms: u64,
    error: Option<String>,
}

type Snapshot = Vec<(ServiceName, Vec<InstanceHealth>)>;

pub struct Health {
    upstreams: Upstreams,
    client: reqwest::Client,
    started: Instant,
    last: Mutex<Option<(Instant, Arc<Snapshot>)>>,
}

impl Health {
    pub fn new(upstreams: Upstreams, client: reqwest::Client) -> Self {
        Self {
            upstreams,
            client,
            started: Instant::now(),
            last: Mutex::new(None),
        }
    }

    async fn snapshot(&self) -> Arc<Snapshot> {
        let mut last = self.last.lock().await;
        if let Some((at, snap)) = last.as_ref()
            && at.elapsed() < PROBE_TTL
        {
            return snap.clone();
        }
        let snap = Arc::new(self.probe_all().await);
        *last = Some((Instant::now(), snap.clone()));
        snap
    }

    async fn probe_all(&self) -> Snapshot {
        let services = ServiceName::UPSTREAMS.map(|service| {
            let members = self.upstreams.members(service);
            async move {
                let probes = members.iter().map(|m| async move {
                    let mut h = probe(&self.client, &m.instance).await;
                    h.breaker = m.breaker.state().as_str();
                    h
                });
                (service, futures_util::future::join_all(probes).await)
            }
        });
        futures_util::future::join_all(services).await
    }
}

async fn probe(client: &reqwest::Client, instance: &Instance) -> InstanceHealth {
    let start = Instant::now();
    let outcome = client
        .get(instance.url("/health"))
        .timeout(PROBE_TIMEOUT)
        .send()
        .await;
    let error = match outcome {
        Ok(res) if res.status().is_success() => None,
        Ok(res) => Some(format!("status {}", res.status().as_u16())),
        Err(e) if e.is_timeout() => Some("timed out".to_owned()),
        Err(e) if e.is_connect() => Some("unreachable".to_owned()),
        Err(_) => Some("failed".to_owned()),
    };
    InstanceHealth {
        url: instance.base.clone(),
        up: error.is_none(),
        breaker: "closed",
        latency_ms: u64::try_from(start.elapsed().as_millis()).unwrap_or(u64::MAX),
        error,
    }
}

/// The `/health` handler.
pub async fn handler(State(health): State<Arc<Health>>) -> Response {
    let snap = health.snapshot().await;
    let mut services = Map::new();
    let mut down = Vec::new();
    for (service, instances) in snap.iter() {
        let up = instances.iter().any(|i| i.up);
        if !up {
            down.push(service.as_str());
        }
        let list: Vec<Value> = instances
            .iter()
            .map(|i| {
                let mut v = json!({
                    "url": &*i.url,
                    "status": if i.up { "up" } else { "down" },
                    "latency_ms": i.latency_ms,
                    "circuit_breaker": i.breaker,
                });
                if let Some(e) = &i.error {
                    v["error"] = json!(e);
                }
                v
            })
            .collect();
        services.insert(
            service.as_str().to_owned(),
            json!({ "status": if up { "up" } else { "down" }, "instances": list }),
        );
    }
    let healthy = down.is_empty();
    let mut body = json!({
        "success": healthy,
        "status": if healthy { "ok" } else { "degraded" },
        "service": ServiceName::Gateway.as_str(),
        "version": env!("CARGO_PKG_VERSION"),
        "uptime_seconds": health.started.elapsed().as_secs(),
        "services": services,
        "down": down,
        "request_id": request_id::current(),
    });
    if healthy {
        return (StatusCode::OK, Json(body)).into_response();
    }
    let err = ApiError::unavailable(format!("services down: {}", down.join(", ")))
        .with_details(json!({ "down": down }));
    // The one error shape, with the status fields alongside.
    if let (Some(obj), Value::Object(shape)) = (body.as_object_mut(), err.body()) {
        for (k, v) in shape {
            obj.insert(k, v);
        }
    }
    (StatusCode::SERVICE_UNAVAILABLE, Json(body)).into_response()
}

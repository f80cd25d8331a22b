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
    collections::BTreeMap,
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
use serde::Serialize;
use serde_json::{Value, json};
use tokio::sync::Mutex;
use utoipa::ToSchema;

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

/// One instance of a service, as `/health` shows it.
#[derive(Debug, Serialize, ToSchema)]
pub struct InstanceHealthView {
    pub url: String,
    /// `up` or `down`.
    pub status: &'static str,
    pub latency_ms: u64,
    /// `closed`, `open` or `half_open`.
    pub circuit_breaker: &'static str,
    /// Why it is down.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// A service: up when at least one instance is.
#[derive(Debug, Serialize, ToSchema)]
pub struct ServiceHealthView {
    /// `up` or `down`.
    pub status: &'static str,
    pub instances: Vec<InstanceHealthView>,
}

/// `GET /health`: the gateway and every service behind it. When a service
/// is down (503) the one error shape's `message` and `error` are added.
#[derive(Debug, Serialize, ToSchema)]
pub struct GatewayHealth {
    pub success: bool,
    /// `ok` or `degraded`.
    pub status: &'static str,
    /// `gateway`.
    pub service: &'static str,
    pub version: &'static str,
    pub uptime_seconds: u64,
    /// By service name.
    pub services: BTreeMap<String, ServiceHealthView>,
    /// The services that are down.
    pub down: Vec<&'static str>,
    pub request_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<marimo_platform::openapi::ErrorDetail>)]
    pub error: Option<Value>,
}

/// The `/health` handler.
pub async fn handler(State(health): State<Arc<Health>>) -> Response {
    let snap = health.snapshot().await;
    let mut services = BTreeMap::new();
    let mut down = Vec::new();
    for (service, instances) in snap.iter() {
        let up = instances.iter().any(|i| i.up);
        if !up {
            down.push(service.as_str());
        }
        let list = instances
            .iter()
            .map(|i| InstanceHealthView {
                url: i.url.to_string(),
                status: if i.up { "up" } else { "down" },
                latency_ms: i.latency_ms,
                circuit_breaker: i.breaker,
                error: i.error.clone(),
            })
            .collect();
        services.insert(
            service.as_str().to_owned(),
            ServiceHealthView {
                status: if up { "up" } else { "down" },
                instances: list,
            },
        );
    }
    let healthy = down.is_empty();
    let mut body = GatewayHealth {
        success: healthy,
        status: if healthy { "ok" } else { "degraded" },
        service: ServiceName::Gateway.as_str(),
        version: env!("CARGO_PKG_VERSION"),
        uptime_seconds: health.started.elapsed().as_secs(),
        services,
        down,
        request_id: request_id::current(),
        message: None,
        error: None,
    };
    if healthy {
        return (StatusCode::OK, Json(body)).into_response();
    }
    // The one error shape, with the status fields alongside.
    let err = ApiError::unavailable(format!("services down: {}", body.down.join(", ")))
        .with_details(json!({ "down": body.down }));
    let shape = err.body();
    body.message = Some(err.message.clone());
    body.error = shape.get("error").cloned();
    (StatusCode::SERVICE_UNAVAILABLE, Json(body)).into_response()
}

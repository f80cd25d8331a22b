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
//!
//! **Re-admission** ([`spawn_readmission`]): an instance ejected for a
//! refused or broken connection ([`crate::upstreams`]) is probed on its
//! `/ready` every [`READMIT_EVERY`] and is back in rotation after the first
//! 2xx. `/ready` rather than `/health`: it is the platform's readiness (its
//! database reachable), which is what taking traffic needs. Only ejected
//! instances are probed; those in rotation prove themselves with every
//! request.

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
use marimo_platform::{
    ApiError,
    http::request_id,
    service::{ServiceContext, ServiceName},
    telemetry::Metrics,
};
use serde::Serialize;
use serde_json::{Value, json};
use tokio::sync::Mutex;
use utoipa::ToSchema;

use crate::upstreams::{Instance, Member, Upstreams};

/// Time allowed for one instance's `/health`.
pub const PROBE_TIMEOUT: Duration = Duration::from_secs(1);
/// How long a probe result is reused.
pub const PROBE_TTL: Duration = Duration::from_secs(1);
/// How often ejected instances are probed.
pub const READMIT_EVERY: Duration = Duration::from_millis(500);
/// The path an ejected instance must answer 2xx on to come back.
pub const READY_PATH: &str = "/ready";

#[derive(Debug, Clone)]
struct InstanceHealth {
    url: Arc<str>,
    up: bool,
    breaker: &'static str,
    ejected: bool,
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
                    h.ejected = m.is_ejected();
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
        ejected: false,
        latency_ms: u64::try_from(start.elapsed().as_millis()).unwrap_or(u64::MAX),
        error,
    }
}

/// Probes the ejected instances every [`READMIT_EVERY`] until shutdown
/// and puts back those that answer `/ready` with 2xx.
pub fn spawn_readmission(ctx: &ServiceContext, upstreams: Upstreams, client: reqwest::Client) {
    let (shutdown, metrics) = (ctx.shutdown.clone(), ctx.metrics.clone());
    ctx.tasks.spawn(async move {
        let mut tick = tokio::time::interval(READMIT_EVERY);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                () = shutdown.cancelled() => return,
                _ = tick.tick() => {}
            }
            readmit(&upstreams, &metrics, |instance| {
                let client = client.clone();
                async move { ready(&client, &instance).await }
            })
            .await;
        }
    });
}

/// One round: probes every ejected instance at once with `probe` and
/// readmits those it finds ready. Returns how many came back.
pub async fn readmit<P, F>(upstreams: &Upstreams, metrics: &Metrics, probe: P) -> usize
where
    P: Fn(Instance) -> F,
    F: Future<Output = bool>,
{
    let ejected = upstreams.ejected();
    let checks = ejected.iter().map(|(service, member)| {
        let ready = probe(member.instance.clone());
        async move { (*service, member, ready.await) }
    });
    let mut back = 0;
    for (service, member, ready) in futures_util::future::join_all(checks).await {
        if ready && readmit_one(metrics, service, member, "probe") {
            back += 1;
        }
    }
    back
}

/// Puts one instance back into rotation (once) and says so; `by` is the
/// evidence: its readiness `probe`, or an `answer` it gave in panic mode.
/// `true` when it was out.
pub fn readmit_one(
    metrics: &Metrics,
    service: ServiceName,
    member: &Member,
    by: &'static str,
) -> bool {
    if !member.readmit() {
        return false;
    }
    tracing::info!(service = service.as_str(), instance = %member.instance.base, by, "instance ready again: back in rotation");
    metrics.record(|| {
        metrics::counter!("gateway_upstream_readmissions_total", "service" => service.as_str(), "by" => by)
            .increment(1);
    });
    crate::pipeline::ejected_gauge(metrics, service, member);
    true
}

/// Whether an instance answers its readiness probe with 2xx in time.
pub async fn ready(client: &reqwest::Client, instance: &Instance) -> bool {
    client
        .get(instance.url(READY_PATH))
        .timeout(PROBE_TIMEOUT)
        .send()
        .await
        .is_ok_and(|res| res.status().is_success())
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
    /// Out of rotation after a refused or broken connection, until its
    /// readiness probe passes.
    pub ejected: bool,
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
                ejected: i.ejected,
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

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicBool, Ordering};

    use super::*;
    use crate::upstreams::parse_base;

    fn shop_with(urls: &[&str]) -> Upstreams {
        Upstreams::new([(
            ServiceName::Shop,
            urls.iter().map(|u| parse_base(u).unwrap()).collect(),
        )])
    }

    #[tokio::test]
    async fn an_ejected_instance_comes_back_only_once_its_probe_passes() {
        let u = shop_with(&["http://a:1", "http://b:2"]);
        let metrics = Metrics::new("gateway");
        let a = u.members(ServiceName::Shop)[0].clone();
        a.eject();
        let alive = AtomicBool::new(false);
        let probed = std::sync::Mutex::new(Vec::new());
        let probe = |i: Instance| {
            probed.lock().unwrap().push(i.base.to_string());
            let up = alive.load(Ordering::SeqCst);
            async move { up }
        };
        // Still down: stays out, and only the ejected one is probed.
        assert_eq!(readmit(&u, &metrics, &probe).await, 0);
        assert!(a.is_ejected());
        assert_eq!(*probed.lock().unwrap(), ["http://a:1"]);
        // Up again: back in rotation on the next round.
        alive.store(true, Ordering::SeqCst);
        assert_eq!(readmit(&u, &metrics, &probe).await, 1);
        assert!(!a.is_ejected());
        // Nothing ejected: nothing probed.
        assert_eq!(readmit(&u, &metrics, &probe).await, 0);
        assert_eq!(probed.lock().unwrap().len(), 2);
    }

    #[tokio::test]
    async fn readiness_is_a_2xx_on_ready_in_time() {
        use axum::{Router, routing::get};
        let serve = |status: StatusCode| async move {
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
            let addr = listener.local_addr().unwrap();
            let app = Router::new().route(READY_PATH, get(move || async move { status }));
            tokio::spawn(async move { axum::serve(listener, app).await });
            parse_base(&format!("http://{addr}")).unwrap()
        };
        let client = reqwest::Client::new();
        assert!(ready(&client, &serve(StatusCode::OK).await).await);
        assert!(!ready(&client, &serve(StatusCode::SERVICE_UNAVAILABLE).await).await);
        let closed = {
            let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
            l.local_addr().unwrap()
        };
        assert!(!ready(&client, &parse_base(&format!("http://{closed}")).unwrap()).await);
    }
}

//! Metrics: each service has its own Prometheus recorder rather than one
//! global one, so that when `marimo up` runs every service in one process,
//! each `/metrics` still shows only its own service.
//!
//! Counters and histograms are recorded where things happen. Gauges that
//! describe a state (outbox backlog, dead letters, active users, memory)
//! are read by *collectors* when `/metrics` is scraped, so they are fresh
//! at every scrape and cost nothing when nobody looks.

use std::{
    future::Future,
    pin::Pin,
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use axum::{
    extract::{MatchedPath, Request, State},
    middleware::Next,
    response::Response,
};
use metrics_exporter_prometheus::{
    Matcher, PrometheusBuilder, PrometheusHandle, PrometheusRecorder,
};

type CollectFuture = Pin<Box<dyn Future<Output = ()> + Send>>;
type Collector = Arc<dyn Fn(Metrics) -> CollectFuture + Send + Sync>;

/// How long a scrape waits for its collectors; a slow one keeps its last value.
const COLLECT_TIMEOUT: Duration = Duration::from_secs(2);

/// Latency buckets from 1 ms to 10 s.
const DURATION_BUCKETS: &[f64] = &[
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];
/// Body size buckets from 100 B to 10 MB.
const SIZE_BUCKETS: &[f64] = &[
    100.0,
    1_000.0,
    10_000.0,
    100_000.0,
    1_000_000.0,
    10_000_000.0,
];

/// A service's metric registry.
#[derive(Clone)]
pub struct Metrics {
    service: &'static str,
    recorder: Arc<PrometheusRecorder>,
    handle: PrometheusHandle,
    collectors: Arc<Mutex<Vec<Collector>>>,
}

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Metrics")
            .field("service", &self.service)
            .finish()
    }
}

impl Metrics {
    pub fn new(service: &'static str) -> Self {
        let recorder = PrometheusBuilder::new()
            .set_buckets_for_metric(Matcher::Suffix("_seconds".into()), DURATION_BUCKETS)
            .and_then(|b| b.set_buckets_for_metric(Matcher::Suffix("_bytes".into()), SIZE_BUCKETS))
            .expect("bucket lists are non-empty")
            .build_recorder();
        let handle = recorder.handle();
        let metrics = Self {
            service,
            recorder: Arc::new(recorder),
            handle,
            collectors: Arc::default(),
        };
        metrics.add_collector(|m| async move { super::process::record_memory(&m) });
        metrics
    }

    pub fn service(&self) -> &'static str {
        self.service
    }

    /// Runs `f` with this service's recorder, so the `metrics` macros inside
    /// it (`counter!`, `histogram!`, `gauge!`) land in this registry.
    pub fn record<R>(&self, f: impl FnOnce() -> R) -> R {
        metrics::with_local_recorder(self.recorder.as_ref(), f)
    }

    /// Adds a collector: run at every scrape with these metrics, it sets
    /// gauges through [`Metrics::record`]. A collector lives as long as the
    /// metrics, so it must not own what owns them (hold a
    /// [`crate::db::WeakDb`], not a `Db`).
    pub fn add_collector<F, Fut>(&self, collect: F)
    where
        F: Fn(Metrics) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = ()> + Send + 'static,
    {
        let collector: Collector = Arc::new(move |m| Box::pin(collect(m)));
        self.collectors
            .lock()
            .expect("collector list is never poisoned")
            .push(collector);
    }

    /// The Prometheus text exposition as it stands (collectors not run).
    pub fn render(&self) -> String {
        self.handle.render()
    }

    /// Runs the collectors (each bounded by a timeout), then renders.
    pub async fn scrape(&self) -> String {
        let collectors: Vec<Collector> = self
            .collectors
            .lock()
            .expect("collector list is never poisoned")
            .clone();
        futures_util::future::join_all(
            collectors
                .iter()
                .map(|c| tokio::time::timeout(COLLECT_TIMEOUT, c(self.clone()))),
        )
        .await;
        self.handle.render()
    }
}

/// Records the seed's HTTP metrics for every request, labelled with the
/// route template (never a raw path with ids) and the service.
pub async fn http_metrics(State(m): State<Metrics>, req: Request, next: Next) -> Response {
    let start = Instant::now();
    let method = req.method().as_str().to_owned();
    let route = req
        .extensions()
        .get::<MatchedPath>()
        // Without the API version: one series per route whichever prefix
        // the client used, and the dashboards' and alerts' labels unchanged.
        .map_or_else(
            || "unmatched".to_owned(),
            |p| crate::http::version::unversioned(p.as_str()).into_owned(),
        );
    let req_size = content_length(req.headers());
    let res = next.run(req).await;
    let status = res.status().as_u16().to_string();
    let res_size = content_length(res.headers()).or_else(|| {
        use axum::body::HttpBody;
        res.body().size_hint().exact()
    });
    let elapsed = start.elapsed().as_secs_f64();
    m.record(|| {
        let labels = [
            ("service", m.service.to_owned()),
            ("method", method),
            ("route", route),
            ("status", status),
        ];
        metrics::counter!("http_requests_total", &labels).increment(1);
        metrics::histogram!("http_request_duration_seconds", &labels).record(elapsed);
        if let Some(n) = req_size {
            metrics::histogram!("http_request_size_bytes", &labels).record(n as f64);
        }
        if let Some(n) = res_size {
            metrics::histogram!("http_response_size_bytes", &labels).record(n as f64);
        }
    });
    res
}

fn content_length(h: &http::HeaderMap) -> Option<u64> {
    h.get(http::header::CONTENT_LENGTH)?
        .to_str()
        .ok()?
        .parse()
        .ok()
}

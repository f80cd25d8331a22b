//! Logs and metrics.
//!
//! Logs: `tracing` with `LOG_LEVEL` as the filter and `LOG_FORMAT=json` for
//! JSON lines; every request runs in a span carrying service, request_id,
//! method and route, so JSON lines carry them too.
//!
//! Metrics: each service has its own Prometheus recorder rather than one
//! global one, so that when `marimo up` runs every service in one process,
//! each `/metrics` still shows only its own service.

use std::{sync::Arc, time::Instant};

use axum::{
    extract::{MatchedPath, Request, State},
    middleware::Next,
    response::Response,
};
use metrics_exporter_prometheus::{
    Matcher, PrometheusBuilder, PrometheusHandle, PrometheusRecorder,
};

use crate::config::LogFormat;

/// Installs the global log subscriber once; later calls are no-ops.
pub fn init_logging(level: &str, format: LogFormat) {
    use tracing_subscriber::{EnvFilter, fmt};
    let filter = EnvFilter::try_new(level)
        .or_else(|_| EnvFilter::try_new("info"))
        .expect("'info' is a valid filter");
    let builder = fmt().with_env_filter(filter).with_writer(std::io::stderr);
    let _ = match format {
        LogFormat::Json => builder
            .json()
            .flatten_event(true)
            .with_current_span(true)
            .with_span_list(false)
            .try_init(),
        LogFormat::Pretty => builder.compact().try_init(),
    };
}

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
        Self {
            service,
            recorder: Arc::new(recorder),
            handle,
        }
    }

    pub fn service(&self) -> &'static str {
        self.service
    }

    /// Runs `f` with this service's recorder, so the `metrics` macros inside
    /// it (`counter!`, `histogram!`, `gauge!`) land in this registry.
    pub fn record<R>(&self, f: impl FnOnce() -> R) -> R {
        metrics::with_local_recorder(self.recorder.as_ref(), f)
    }

    /// The Prometheus text exposition.
    pub fn render(&self) -> String {
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
        .map_or_else(|| "unmatched".to_owned(), |p| p.as_str().to_owned());
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

fn content_length(h: &axum::http::HeaderMap) -> Option<u64> {
    h.get(axum::http::header::CONTENT_LENGTH)?
        .to_str()
        .ok()?
        .parse()
        .ok()
}

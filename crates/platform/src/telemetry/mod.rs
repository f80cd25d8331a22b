//! Observability: metrics, traces and logs.
//!
//! - [`metrics`]: a Prometheus registry *per service* ([`Metrics`]), the
//!   HTTP metrics middleware, scrape-time collectors.
//! - `process`: resident memory and the memory limit.
//! - [`trace`]: spans, W3C trace context, the current span of a task.
//! - [`otlp`]: the OTLP/HTTP JSON exporter behind a service's [`Tracer`].
//! - [`http`]: server spans for incoming requests, client spans for
//!   outgoing ones.
//! - [`log`]: `LOG_LEVEL` / `LOG_FORMAT`, JSON lines with trace context.

pub mod http;
pub mod log;
pub mod metrics;
pub mod otlp;
pub(crate) mod process;
pub mod trace;

pub use log::init_logging;
pub use metrics::{Metrics, http_metrics};
pub use trace::Tracer;

use tokio_util::{sync::CancellationToken, task::TaskTracker};

/// The tracer of `service`: exporting to `endpoint` (the OTLP/HTTP base
/// URL of `OTEL_EXPORTER_OTLP_ENDPOINT`) when set, until `shutdown`.
pub fn tracer(
    service: &'static str,
    endpoint: Option<&str>,
    metrics: &Metrics,
    shutdown: CancellationToken,
    tasks: &TaskTracker,
) -> Tracer {
    let Some(endpoint) = endpoint else {
        return Tracer::disabled(service);
    };
    match otlp::Exporter::start(endpoint, metrics.clone(), shutdown, tasks) {
        Ok(exporter) => Tracer::exporting(service, exporter),
        Err(e) => {
            tracing::error!(service, error = %e, "cannot start the OTLP exporter; spans are not exported");
            Tracer::disabled(service)
        }
    }
}

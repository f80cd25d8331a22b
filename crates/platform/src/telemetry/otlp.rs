//! A small OTLP/HTTP trace exporter (JSON encoding).
//!
//! Ended spans go into a bounded queue; a background task sends them in
//! batches as `POST {OTEL_EXPORTER_OTLP_ENDPOINT}/v1/traces` with an
//! `ExportTraceServiceRequest` in the OTLP/JSON encoding (lowerCamelCase
//! fields, trace and span ids as hex, 64-bit integers as decimal strings,
//! enums as numbers), which Jaeger and the OpenTelemetry Collector accept
//! on their OTLP/HTTP port (4318).
//!
//! Tracing never slows a request down: when the queue is full, or the
//! receiver refuses or cannot be reached, spans are dropped and counted in
//! `otel_spans_dropped_total`; spans sent are counted in
//! `otel_spans_exported_total`. At shutdown the queue is flushed once.

use std::{borrow::Cow, time::Duration, time::SystemTime};

use serde_json::{Value, json};
use tokio::sync::mpsc;
use tokio_util::{sync::CancellationToken, task::TaskTracker};

use super::{
    Metrics,
    trace::{AttrValue, SpanKind},
};

/// Spans waiting to be sent, per service; more are dropped.
const QUEUE: usize = 4096;
/// Spans per request.
const MAX_BATCH: usize = 512;
/// Longest a span waits before its batch is sent.
const DELAY: Duration = Duration::from_secs(1);
const SEND_TIMEOUT: Duration = Duration::from_secs(10);

/// An ended span, as exported.
#[derive(Debug)]
pub struct SpanRecord {
    pub service: &'static str,
    pub trace_id: [u8; 16],
    pub span_id: [u8; 8],
    pub parent_span_id: Option<[u8; 8]>,
    pub name: Cow<'static, str>,
    pub kind: SpanKind,
    pub start: SystemTime,
    pub end: SystemTime,
    pub attributes: Vec<(&'static str, AttrValue)>,
    pub error: Option<String>,
}

/// The sending side of a service's exporter. Cheap to clone.
#[derive(Clone, Debug)]
pub struct Exporter {
    queue: mpsc::Sender<SpanRecord>,
    metrics: Metrics,
}

impl Exporter {
    /// Starts the export task of `service`, sending to the OTLP/HTTP base
    /// URL `endpoint` until `shutdown` (then it flushes and stops).
    pub fn start(
        endpoint: &str,
        metrics: Metrics,
        shutdown: CancellationToken,
        tasks: &TaskTracker,
    ) -> Result<Self, reqwest::Error> {
        let url = traces_url(endpoint);
        let client = reqwest::Client::builder()
            .timeout(SEND_TIMEOUT)
            .no_proxy()
            .build()?;
        let (queue, rx) = mpsc::channel(QUEUE);
        let sender = Sender {
            url,
            client,
            metrics: metrics.clone(),
            instance: crate::ids::new_id(),
            failing: false,
        };
        tasks.spawn(sender.run(rx, shutdown));
        Ok(Self { queue, metrics })
    }

    /// Queues an ended span; never waits.
    pub fn export(&self, span: SpanRecord) {
        if self.queue.try_send(span).is_err() {
            self.dropped(1);
        }
    }

    fn dropped(&self, n: u64) {
        count_dropped(&self.metrics, n);
    }
}

fn count_dropped(metrics: &Metrics, n: u64) {
    metrics.record(|| {
        metrics::counter!("otel_spans_dropped_total", "service" => metrics.service()).increment(n)
    });
}

/// `{endpoint}/v1/traces`, as the OTLP exporter spec builds it from
/// `OTEL_EXPORTER_OTLP_ENDPOINT`.
pub fn traces_url(endpoint: &str) -> String {
    format!("{}/v1/traces", endpoint.trim_end_matches('/'))
}

struct Sender {
    url: String,
    client: reqwest::Client,
    metrics: Metrics,
    /// `service.instance.id`: tells replicas of a service apart.
    instance: String,
    /// Whether the last send failed (only a change is logged as a warning).
    failing: bool,
}

impl Sender {
    async fn run(mut self, mut rx: mpsc::Receiver<SpanRecord>, shutdown: CancellationToken) {
        let mut batch = Vec::with_capacity(MAX_BATCH);
        // When the oldest span of the batch must be sent.
        let mut due: Option<tokio::time::Instant> = None;
        loop {
            let wait = async move {
                match due {
                    Some(at) => tokio::time::sleep_until(at).await,
                    None => std::future::pending::<()>().await,
                }
            };
            tokio::select! {
                () = shutdown.cancelled() => {
                    while let Ok(span) = rx.try_recv() {
                        batch.push(span);
                    }
                    for chunk in batch.chunks(MAX_BATCH) {
                        self.send(chunk).await;
                    }
                    return;
                }
                span = rx.recv() => match span {
                    Some(span) => {
                        batch.push(span);
                        due.get_or_insert_with(|| tokio::time::Instant::now() + DELAY);
                        if batch.len() < MAX_BATCH {
                            continue;
                        }
                    }
                    // Every tracer is gone: send what is left.
                    None => {
                        self.send(&batch).await;
                        return;
                    }
                },
                () = wait => {}
            }
            self.send(&batch).await;
            batch.clear();
            due = None;
        }
    }

    async fn send(&mut self, spans: &[SpanRecord]) {
        if spans.is_empty() {
            return;
        }
        let body = encode(spans, &self.instance);
        let outcome = self
            .client
            .post(&self.url)
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .body(body.to_string())
            .send()
            .await;
        let n = spans.len() as u64;
        let error = match outcome {
            Ok(res) if res.status().is_success() => {
                // A partial success names the spans the receiver rejected.
                let rejected = res
                    .json::<Value>()
                    .await
                    .ok()
                    .and_then(|v| rejected_spans(&v))
                    .unwrap_or(0)
                    .min(n);
                self.metrics.record(|| {
                    metrics::counter!("otel_spans_exported_total", "service" => self.metrics.service())
                        .increment(n - rejected)
                });
                if rejected > 0 {
                    count_dropped(&self.metrics, rejected);
                }
                if self.failing {
                    self.failing = false;
                    tracing::info!(url = %self.url, "OTLP receiver accepts spans again");
                }
                return;
            }
            Ok(res) => format!("answered {}", res.status()),
            Err(e) => e.to_string(),
        };
        count_dropped(&self.metrics, n);
        if self.failing {
            tracing::debug!(url = %self.url, %error, dropped = n, "spans not exported");
        } else {
            self.failing = true;
            tracing::warn!(url = %self.url, %error, dropped = n, "cannot export spans; dropping them until the OTLP receiver is back");
        }
    }
}

/// `partialSuccess.rejectedSpans` (an int64: a string or a number).
fn rejected_spans(v: &Value) -> Option<u64> {
    let r = v.get("partialSuccess")?.get("rejectedSpans")?;
    r.as_u64().or_else(|| r.as_str()?.parse().ok())
}

fn unix_nanos(t: SystemTime) -> String {
    t.duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos())
        .to_string()
}

fn attribute(key: &str, value: &AttrValue) -> Value {
    let value = match value {
        AttrValue::Str(s) => json!({ "stringValue": s }),
        // int64 is a decimal string in OTLP/JSON.
        AttrValue::Int(i) => json!({ "intValue": i.to_string() }),
        AttrValue::Bool(b) => json!({ "boolValue": b }),
    };
    json!({ "key": key, "value": value })
}

/// The `ExportTraceServiceRequest` for `spans`, one resource per service.
pub fn encode(spans: &[SpanRecord], instance: &str) -> Value {
    let mut services: Vec<&'static str> = spans.iter().map(|s| s.service).collect();
    services.sort_unstable();
    services.dedup();
    let resource_spans: Vec<Value> = services
        .into_iter()
        .map(|service| {
            let encoded: Vec<Value> = spans
                .iter()
                .filter(|s| s.service == service)
                .map(encode_span)
                .collect();
            json!({
                "resource": {
                    "attributes": [
                        attribute("service.name", &AttrValue::from(service)),
                        attribute("service.namespace", &AttrValue::from("marimo")),
                        attribute("service.version", &AttrValue::from(env!("CARGO_PKG_VERSION"))),
                        attribute("service.instance.id", &AttrValue::from(instance)),
                    ]
                },
                "scopeSpans": [{
                    "scope": { "name": "marimo-platform", "version": env!("CARGO_PKG_VERSION") },
                    "spans": encoded,
                }],
            })
        })
        .collect();
    json!({ "resourceSpans": resource_spans })
}

fn encode_span(s: &SpanRecord) -> Value {
    let mut span = json!({
        "traceId": hex::encode(s.trace_id),
        "spanId": hex::encode(s.span_id),
        "name": s.name,
        "kind": s.kind as i32,
        "startTimeUnixNano": unix_nanos(s.start),
        "endTimeUnixNano": unix_nanos(s.end),
        "attributes": s.attributes.iter().map(|(k, v)| attribute(k, v)).collect::<Vec<_>>(),
        // STATUS_CODE_UNSET = 0, STATUS_CODE_ERROR = 2.
        "status": match &s.error {
            Some(message) => json!({ "code": 2, "message": message }),
            None => json!({ "code": 0 }),
        },
    });
    if let Some(parent) = s.parent_span_id {
        span["parentSpanId"] = json!(hex::encode(parent));
    }
    span
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_traces_path_is_appended_to_the_base_endpoint() {
        assert_eq!(
            traces_url("http://jaeger:4318"),
            "http://jaeger:4318/v1/traces"
        );
        assert_eq!(
            traces_url("http://jaeger:4318/"),
            "http://jaeger:4318/v1/traces"
        );
    }

    #[test]
    fn spans_encode_as_otlp_json() {
        let start = SystemTime::UNIX_EPOCH + Duration::from_nanos(1_700_000_000_123_456_789);
        let span = SpanRecord {
            service: "shop",
            trace_id: [0xab; 16],
            span_id: [0x01; 8],
            parent_span_id: Some([0x02; 8]),
            name: "POST /api/shop/orders".into(),
            kind: SpanKind::Server,
            start,
            end: start + Duration::from_millis(5),
            attributes: vec![
                ("http.response.status_code", AttrValue::Int(201)),
                ("http.route", AttrValue::from("/api/shop/orders")),
            ],
            error: None,
        };
        let v = encode(&[span], "i-1");
        let rs = &v["resourceSpans"][0];
        assert_eq!(rs["resource"]["attributes"][0]["key"], "service.name");
        assert_eq!(
            rs["resource"]["attributes"][0]["value"]["stringValue"],
            "shop"
        );
        let s = &rs["scopeSpans"][0]["spans"][0];
        assert_eq!(s["traceId"], "abababababababababababababababab");
        assert_eq!(s["spanId"], "0101010101010101");
        assert_eq!(s["parentSpanId"], "0202020202020202");
        assert_eq!(s["kind"], 2);
        assert_eq!(s["startTimeUnixNano"], "1700000000123456789");
        assert_eq!(s["endTimeUnixNano"], "1700000000128456789");
        assert_eq!(s["attributes"][0]["value"]["intValue"], "201");
        assert_eq!(s["status"]["code"], 0);
    }

    #[test]
    fn partial_success_counts_rejected_spans() {
        assert_eq!(
            rejected_spans(&json!({"partialSuccess": {"rejectedSpans": "3"}})),
            Some(3)
        );
        assert_eq!(
            rejected_spans(&json!({"partialSuccess": {"rejectedSpans": 2}})),
            Some(2)
        );
        assert_eq!(rejected_spans(&json!({})), None);
    }
}

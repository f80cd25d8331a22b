//! An OTLP/HTTP trace receiver for tests, standing in for Jaeger or an
//! OpenTelemetry Collector (which cannot run here).
//!
//! It follows the OTLP/HTTP specification for what the services send:
//! `POST /v1/traces` with `Content-Type: application/json` carrying an
//! `ExportTraceServiceRequest` in the OTLP/JSON encoding (lowerCamelCase
//! fields; `traceId`/`spanId`/`parentSpanId` as hex; 64-bit integers as
//! strings or numbers; enums as integers; unknown fields ignored). A
//! malformed body is answered 400 with a `Status`, another content type
//! 415; success is 200 with an `ExportTraceServiceResponse` (`{}`).

use std::{
    collections::HashMap,
    sync::{Arc, Mutex},
};

use axum::{
    Router,
    body::Bytes,
    extract::State,
    http::{HeaderMap, StatusCode, header},
    response::{IntoResponse, Response},
    routing::post,
};
use serde::Deserialize;
use serde_json::{Value, json};

use crate::{TestServer, spawn};

/// One span as received, with its resource's `service.name`.
#[derive(Debug, Clone, PartialEq)]
pub struct ReceivedSpan {
    pub service: String,
    pub trace_id: String,
    pub span_id: String,
    /// `None` for a root span (absent or empty `parentSpanId`).
    pub parent_span_id: Option<String>,
    pub name: String,
    /// 1 internal, 2 server, 3 client, 4 producer, 5 consumer.
    pub kind: i64,
    pub start_unix_nano: u64,
    pub end_unix_nano: u64,
    /// Attribute values as OTLP `AnyValue` JSON (`{"stringValue": ...}`).
    pub attributes: HashMap<String, Value>,
    /// 0 unset, 1 ok, 2 error.
    pub status_code: i64,
}

impl ReceivedSpan {
    /// A string attribute's value.
    pub fn attr(&self, key: &str) -> Option<&str> {
        self.attributes.get(key)?.get("stringValue")?.as_str()
    }
}

/// A running receiver; its base URL is `OTEL_EXPORTER_OTLP_ENDPOINT`.
pub struct OtlpReceiver {
    pub endpoint: String,
    spans: Arc<Mutex<Vec<ReceivedSpan>>>,
    _server: TestServer,
}

impl OtlpReceiver {
    pub async fn start() -> Self {
        let spans = Arc::new(Mutex::new(Vec::new()));
        let router = Router::new()
            .route("/v1/traces", post(export))
            .with_state(spans.clone());
        let server = spawn(router).await;
        Self {
            endpoint: server.url.clone(),
            spans,
            _server: server,
        }
    }

    /// Every span received so far.
    pub fn spans(&self) -> Vec<ReceivedSpan> {
        self.spans.lock().expect("not poisoned").clone()
    }

    /// The spans of one trace.
    pub fn trace(&self, trace_id: &str) -> Vec<ReceivedSpan> {
        self.spans()
            .into_iter()
            .filter(|s| s.trace_id == trace_id)
            .collect()
    }
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ExportTraceServiceRequest {
    #[serde(default)]
    resource_spans: Vec<ResourceSpans>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ResourceSpans {
    #[serde(default)]
    resource: Option<Resource>,
    #[serde(default)]
    scope_spans: Vec<ScopeSpans>,
}

#[derive(Deserialize)]
struct Resource {
    #[serde(default)]
    attributes: Vec<KeyValue>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ScopeSpans {
    #[serde(default)]
    spans: Vec<Span>,
}

#[derive(Deserialize)]
struct KeyValue {
    key: String,
    value: Value,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Span {
    trace_id: String,
    span_id: String,
    #[serde(default)]
    parent_span_id: Option<String>,
    name: String,
    #[serde(default)]
    kind: i64,
    start_time_unix_nano: Value,
    end_time_unix_nano: Value,
    #[serde(default)]
    attributes: Vec<KeyValue>,
    #[serde(default)]
    status: Option<Status>,
}

#[derive(Deserialize)]
struct Status {
    #[serde(default)]
    code: i64,
}

fn bad_request(message: String) -> Response {
    // A google.rpc.Status: code 3 is INVALID_ARGUMENT.
    (
        StatusCode::BAD_REQUEST,
        axum::Json(json!({ "code": 3, "message": message })),
    )
        .into_response()
}

/// An OTLP fixed64 in JSON: a decimal string or a number.
fn uint64(v: &Value) -> Option<u64> {
    v.as_u64().or_else(|| v.as_str()?.parse().ok())
}

fn hex_id(s: &str, bytes: usize) -> Option<String> {
    (s.len() == bytes * 2
        && s.bytes().all(|b| b.is_ascii_hexdigit())
        && s.bytes().any(|b| b != b'0'))
    .then(|| s.to_ascii_lowercase())
}

async fn export(
    State(store): State<Arc<Mutex<Vec<ReceivedSpan>>>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    if !content_type.starts_with("application/json") {
        return (
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "only application/json is accepted here",
        )
            .into_response();
    }
    let request: ExportTraceServiceRequest = match serde_json::from_slice(&body) {
        Ok(r) => r,
        Err(e) => return bad_request(format!("not an ExportTraceServiceRequest: {e}")),
    };
    let mut received = Vec::new();
    for rs in request.resource_spans {
        let service = rs
            .resource
            .iter()
            .flat_map(|r| &r.attributes)
            .find(|kv| kv.key == "service.name")
            .and_then(|kv| kv.value.get("stringValue")?.as_str())
            .unwrap_or("unknown_service")
            .to_owned();
        for span in rs.scope_spans.into_iter().flat_map(|s| s.spans) {
            let (Some(trace_id), Some(span_id)) =
                (hex_id(&span.trace_id, 16), hex_id(&span.span_id, 8))
            else {
                return bad_request(format!("span '{}': invalid traceId or spanId", span.name));
            };
            let parent_span_id = match span.parent_span_id.as_deref() {
                None | Some("") => None,
                Some(p) => match hex_id(p, 8) {
                    Some(p) => Some(p),
                    None => {
                        return bad_request(format!("span '{}': invalid parentSpanId", span.name));
                    }
                },
            };
            let (Some(start), Some(end)) = (
                uint64(&span.start_time_unix_nano),
                uint64(&span.end_time_unix_nano),
            ) else {
                return bad_request(format!("span '{}': invalid times", span.name));
            };
            if !(0..=5).contains(&span.kind) {
                return bad_request(format!("span '{}': invalid kind", span.name));
            }
            received.push(ReceivedSpan {
                service: service.clone(),
                trace_id,
                span_id,
                parent_span_id,
                name: span.name,
                kind: span.kind,
                start_unix_nano: start,
                end_unix_nano: end,
                attributes: span
                    .attributes
                    .into_iter()
                    .map(|kv| (kv.key, kv.value))
                    .collect(),
                status_code: span.status.map_or(0, |s| s.code),
            });
        }
    }
    store.lock().expect("not poisoned").extend(received);
    (StatusCode::OK, axum::Json(json!({}))).into_response()
}

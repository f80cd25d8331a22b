//! `/health` and `/ready` of every service: the bodies as types, so the
//! documents state their shape (issue 18), and the two paths as entries
//! of a document ([`document_paths`]).
//!
//! The shapes are the original API's (docs/COMPATIBILITY.md): `/health`
//! answers `{success, status, service, version, uptime_seconds, checks}`,
//! 200 when every check passes and 503 with the same fields otherwise;
//! `/ready` answers `{success: true, status: "ready"}`, or 503 in the one
//! error shape with the checks as `error.details`.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use utoipa::ToSchema;

/// The outcome of one dependency probe.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum CheckStatus {
    Ok,
    Down,
}

/// One dependency of a service (its database, the bus, ...), as probed.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct CheckView {
    pub status: CheckStatus,
    /// Why it is down (`unreachable`, `timed out`, ...); absent when ok.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

impl CheckView {
    pub fn of(outcome: Result<(), String>) -> Self {
        match outcome {
            Ok(()) => Self {
                status: CheckStatus::Ok,
                error: None,
            },
            Err(e) => Self {
                status: CheckStatus::Down,
                error: Some(e),
            },
        }
    }
}

/// Whether every check of a service passed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum HealthStatus {
    Ok,
    Unavailable,
}

/// `GET /health` of a service: 200 when every check passes, else 503 with
/// the same fields.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[schema(example = json!({
    "success": true, "status": "ok", "service": "shop", "version": "0.1.0",
    "uptime_seconds": 3600, "checks": {"database": {"status": "ok"}}
}))]
pub struct ServiceHealth {
    /// `true` when every check passed.
    pub success: bool,
    pub status: HealthStatus,
    /// The service's name.
    pub service: String,
    /// The version of the running build.
    pub version: String,
    pub uptime_seconds: u64,
    /// By dependency name (`database`, ...); empty for a service without
    /// dependencies.
    pub checks: BTreeMap<String, CheckView>,
}

/// Always `ready` in a 200 answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum ReadyStatus {
    Ready,
}

/// `GET /ready` of a service that can take traffic (every check passed).
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[schema(example = json!({"success": true, "status": "ready"}))]
pub struct Ready {
    /// Always `true`.
    pub success: bool,
    pub status: ReadyStatus,
}

impl Ready {
    pub fn new() -> Self {
        Self {
            success: true,
            status: ReadyStatus::Ready,
        }
    }
}

impl Default for Ready {
    fn default() -> Self {
        Self::new()
    }
}

/// The schemas `/health` and `/ready` refer to, for a document's
/// `components.schemas`.
pub fn schemas() -> Vec<(
    String,
    utoipa::openapi::RefOr<utoipa::openapi::schema::Schema>,
)> {
    let mut out = Vec::new();
    <ServiceHealth as ToSchema>::schemas(&mut out);
    <Ready as ToSchema>::schemas(&mut out);
    out.push((
        "ServiceHealth".to_owned(),
        <ServiceHealth as utoipa::PartialSchema>::schema(),
    ));
    out.push((
        "Ready".to_owned(),
        <Ready as utoipa::PartialSchema>::schema(),
    ));
    out
}

/// A public `GET` path item with a 200 and a 503 answer, each a JSON
/// schema of `components.schemas` (`/health` and `/ready`, here and in
/// the gateway).
pub fn probe_path(
    tag: &str,
    id: &str,
    summary: &str,
    ok: (&str, &str),
    down: (&str, &str),
) -> Value {
    let answer = |(description, schema): (&str, &str)| json!({"description": description, "content": {"application/json": {"schema": {"$ref": format!("#/components/schemas/{schema}")}}}});
    json!({"get": {
        "tags": [tag],
        "summary": summary,
        "operationId": id,
        "security": [{}],
        "responses": {"200": answer(ok), "503": answer(down)}
    }})
}

/// `GET /ready` as a path item: the platform serves it outside the
/// `routes!` of a service, so it is documented here once.
pub fn ready_path(tag: &str) -> Value {
    probe_path(
        tag,
        "get_ready",
        "Whether this instance can take traffic: every dependency check passes.",
        ("Ready.", "Ready"),
        (
            "Not ready: the one error shape, `error.details` holds the checks by name (each a `CheckView`).",
            "ErrorBody",
        ),
    )
}

/// `GET /health` of a service as a path item.
pub fn health_path(tag: &str) -> Value {
    probe_path(
        tag,
        "get_health",
        "The service's status, version, uptime and dependency checks.",
        ("Every check passed.", "ServiceHealth"),
        (
            "A check failed: the same fields, `success: false`, `status: unavailable`.",
            "ServiceHealth",
        ),
    )
}

/// Adds `/health` and `/ready` (unless the document has its own) and
/// their schemas to a finished document.
pub fn document_paths(doc: &mut Value, tag: &str) {
    if let Some(paths) = doc.get_mut("paths").and_then(Value::as_object_mut) {
        paths.entry("/health").or_insert_with(|| health_path(tag));
        paths.entry("/ready").or_insert_with(|| ready_path(tag));
    }
    if let Some(ours) = doc
        .pointer_mut("/components/schemas")
        .and_then(Value::as_object_mut)
    {
        for (name, schema) in schemas() {
            if let Ok(schema) = serde_json::to_value(schema) {
                ours.entry(name).or_insert(schema);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_bodies_keep_the_original_shapes() {
        let mut checks = BTreeMap::new();
        checks.insert("database".to_owned(), CheckView::of(Ok(())));
        checks.insert(
            "bus".to_owned(),
            CheckView::of(Err("unreachable".to_owned())),
        );
        let body = ServiceHealth {
            success: false,
            status: HealthStatus::Unavailable,
            service: "shop".to_owned(),
            version: "1.2.3".to_owned(),
            uptime_seconds: 7,
            checks,
        };
        assert_eq!(
            serde_json::to_value(body).unwrap(),
            json!({
                "success": false, "status": "unavailable", "service": "shop",
                "version": "1.2.3", "uptime_seconds": 7,
                "checks": {
                    "bus": {"status": "down", "error": "unreachable"},
                    "database": {"status": "ok"}
                }
            })
        );
        assert_eq!(
            serde_json::to_value(Ready::new()).unwrap(),
            json!({"success": true, "status": "ready"})
        );
    }
}

//! The coverage check of a service's OpenAPI document against its routes
//! (issue 18): a route without a spec entry, or a spec entry without a
//! route, fails the test that calls [`assert_coverage`].
//!
//! Both directions, on the running service:
//!
//! - every operation of the document is routed: a request with its method
//!   to its path (parameters filled with a placeholder) is answered by a
//!   handler, not by the platform's "no such endpoint" 404 or its 405;
//! - every routed method of a documented path is documented (GET, POST,
//!   PUT, PATCH and DELETE are tried on each path);
//! - no route is declared outside `utoipa-axum`'s `routes!` (which registers
//!   the route and its spec entry together): the crate's `src/api` may not
//!   call `.route(` or build a plain `Router`, except on a line marked
//!   `outside the API document` (platform paths such as
//!   `/internal/revocations`).

use std::path::Path;

use marimo_platform::openapi::operations;
use reqwest::Method;
use serde_json::Value;

use crate::Http;

/// A value for every path parameter: a UUID (ids), which other formats
/// (`YYYY-MM` periods, keys) refuse with their own 400 or 404, still from
/// a handler.
const PLACEHOLDER: &str = "00000000-0000-7000-8000-000000000000";

/// The platform's routes every service serves and documents outside its
/// `/api/v1/<service>` section.
const PLATFORM_PATHS: [&str; 2] = ["/health", "/ready"];

fn concrete(path: &str) -> String {
    let mut out = String::new();
    let mut rest = path;
    while let Some(start) = rest.find('{') {
        out.push_str(&rest[..start]);
        match rest[start..].find('}') {
            Some(end) => {
                out.push_str(PLACEHOLDER);
                rest = &rest[start + end + 1..];
            }
            None => {
                rest = &rest[start..];
                break;
            }
        }
    }
    out.push_str(rest);
    out
}

/// Whether an answer came from the platform's fallbacks, i.e. no route.
fn unrouted(status: u16, body: &Value) -> bool {
    let message = body["message"].as_str().unwrap_or("");
    (status == 404 && message == "no such endpoint")
        || (status == 405 && message == "this method is not allowed here")
}

/// The service's document, as it serves it.
pub async fn document(http: &Http, service: &str) -> Value {
    http.get(&format!("/api/v1/{service}/openapi.json"))
        .send()
        .await
        .expect(200)
        .json
}

/// Fails when the service's document and its routes disagree (see the
/// module docs). `api_src` is the crate's `src/api` directory. Returns the
/// document, for the test's own assertions.
pub async fn assert_coverage(http: &Http, service: &str, api_src: impl AsRef<Path>) -> Value {
    assert_coverage_under(http, service, &[service], api_src).await
}

/// The `$ref` of an operation's JSON request body.
pub fn request_schema(op: &Value) -> &str {
    op["requestBody"]["content"]["application/json"]["schema"]["$ref"]
        .as_str()
        .unwrap_or("")
}

/// The `$ref` of an operation's JSON answer with `status`.
pub fn answer_schema<'a>(op: &'a Value, status: &str) -> &'a str {
    op["responses"][status]["content"]["application/json"]["schema"]["$ref"]
        .as_str()
        .unwrap_or("")
}

/// Whether an operation declares the `Idempotency-Key` header.
pub fn takes_idempotency_key(op: &Value) -> bool {
    op["parameters"].as_array().is_some_and(|params| {
        params
            .iter()
            .any(|p| p["name"] == "Idempotency-Key" && p["in"] == "header")
    })
}

/// Fails unless each of `schemas` refuses unknown fields
/// (`additionalProperties: false`).
pub fn assert_strict_bodies(doc: &Value, schemas: &[&str]) {
    for name in schemas {
        assert_eq!(
            doc["components"]["schemas"][name]["additionalProperties"], false,
            "{name} refuses unknown fields"
        );
    }
}

/// A property of a component schema: what a test checks constraints on.
pub fn property<'a>(doc: &'a Value, schema: &str, field: &str) -> &'a Value {
    &doc["components"]["schemas"][schema]["properties"][field]
}

/// [`assert_coverage`] for a service whose paths sit under more than its
/// own name: `sections` are the first path segments after `/api/v1` it
/// owns (the worker's `audit`, `notifications` and `worker`, as the
/// gateway routes them).
pub async fn assert_coverage_under(
    http: &Http,
    service: &str,
    sections: &[&str],
    api_src: impl AsRef<Path>,
) -> Value {
    let doc = document(http, service).await;
    let ops = operations(&doc);
    assert!(!ops.is_empty(), "the {service} document has no operation");
    let mut problems = Vec::new();
    let mut paths: Vec<&String> = ops.iter().map(|(_, p, _)| p).collect();
    paths.dedup();
    for path in paths {
        let section = path
            .strip_prefix("/api/v1/")
            .and_then(|rest| rest.split('/').next())
            .unwrap_or("");
        if !sections.contains(&section) && !PLATFORM_PATHS.contains(&path.as_str()) {
            problems.push(format!(
                "{path}: outside /api/v1/{{{}}}",
                sections.join(",")
            ));
        }
        let url = concrete(path);
        for method in [
            Method::GET,
            Method::POST,
            Method::PUT,
            Method::PATCH,
            Method::DELETE,
        ] {
            let documented = ops
                .iter()
                .any(|(m, p, _)| p == path && m.eq_ignore_ascii_case(method.as_str()));
            let res = http.request(method.clone(), &url).send().await;
            let routed = !unrouted(res.status, &res.json);
            match (documented, routed) {
                (true, false) => problems.push(format!("{method} {path}: in the spec, not routed")),
                (false, true) => problems.push(format!(
                    "{method} {path}: routed ({}), not in the spec",
                    res.status
                )),
                _ => {}
            }
        }
    }
    problems.extend(routes_outside_the_spec(api_src.as_ref()));
    assert!(
        problems.is_empty(),
        "the {service} routes and OpenAPI document disagree:\n{}",
        problems.join("\n")
    );
    doc
}

/// Routes declared without `routes!` in the `.rs` files under `dir`.
fn routes_outside_the_spec(dir: &Path) -> Vec<String> {
    let mut found = Vec::new();
    let Ok(entries) = std::fs::read_dir(dir) else {
        return vec![format!("{}: cannot read", dir.display())];
    };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() {
            found.extend(routes_outside_the_spec(&path));
            continue;
        }
        if path.extension().is_none_or(|e| e != "rs") {
            continue;
        }
        let Ok(text) = std::fs::read_to_string(&path) else {
            continue;
        };
        let mut previous = "";
        for (n, line) in text.lines().enumerate() {
            let code = line
                .split("//")
                .next()
                .unwrap_or("")
                .replace("OpenApiRouter::new(", "");
            let declares = code.contains(".route(")
                || code.contains("Router::new(")
                || code.contains(".nest_service(");
            let marked = previous.contains("outside the API document")
                || line.contains("outside the API document");
            if declares && !marked {
                found.push(format!(
                    "{}:{}: a route declared outside routes!: {}",
                    path.display(),
                    n + 1,
                    line.trim()
                ));
            }
            if !line.trim().is_empty() {
                previous = line;
            }
        }
    }
    found
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parameters_get_a_placeholder() {
        assert_eq!(
            concrete("/api/v1/shop/orders/{id}/pay"),
            format!("/api/v1/shop/orders/{PLACEHOLDER}/pay")
        );
        assert_eq!(
            concrete("/api/v1/config/{key}"),
            format!("/api/v1/config/{PLACEHOLDER}")
        );
        assert_eq!(concrete("/api/v1/x"), "/api/v1/x");
    }
}

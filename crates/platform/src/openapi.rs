//! OpenAPI 3.1 documents generated from the code.
//!
//! A service declares its routes with `utoipa-axum` (`OpenApiRouter` and
//! `routes!`), so a route and its spec entry are registered together, and
//! hands the router to [`crate::http::ServiceApp::api`], which serves the
//! document at `/api/v1/<service>/openapi.json`. The gateway merges the
//! documents into one at `/api/v1/openapi.json`.
//!
//! Shared here, once, for every document ([`document`], [`finish`]):
//!
//! - the one error shape ([`ErrorBody`]) and the error answers every
//!   operation may give (400, 401, 403, 404, 413 and 415 for bodies, 429
//!   with `Retry-After` and `RateLimit-*`, 502, 503 with `Retry-After`,
//!   504), added to each operation by [`finish`];
//! - the bearer JWT security scheme ([`BEARER`]), required by default;
//!   public operations say `security(())`;
//! - pagination ([`crate::http::Page`] as parameters, [`PageFields`]);
//! - the `Idempotency-Key` header ([`IdempotencyKeyHeader`]);
//! - the deprecated unversioned aliases, described once in
//!   `info.description` ([`ALIASES`]).
//!
//! [`QueryRules`] reads each operation's declared query parameters back
//! from the document: a parameter an operation does not declare is
//! refused with 400 naming it (`strict_query`, installed by
//! `ServiceApp::api`).

use std::{
    collections::{BTreeSet, HashMap},
    sync::Arc,
};

use axum::{
    extract::{MatchedPath, Request, State},
    http::Method,
    middleware::Next,
    response::{IntoResponse, Response},
};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};
use utoipa::{IntoParams, ToSchema};

use crate::error::ApiError;

/// The security scheme of access tokens: `Authorization: Bearer <JWT>`.
pub const BEARER: &str = "bearer";

/// How the deprecated aliases are documented: once, as a rule, rather than
/// as a second copy of every operation (docs/API.md says why).
pub const ALIASES: &str = "Every operation below also answers at its original \
unversioned path, `/api/<service>/...` for `/api/v1/<service>/...`, with the \
same request and answer. Those aliases are **deprecated**: their answers carry \
`Deprecation: @1796083200` (RFC 9745) and `Link: </api/v1/...>; \
rel=\"successor-version\"`. See docs/API.md for the versioning policy.";

/// The one error shape of every service.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[schema(example = json!({
    "success": false,
    "message": "items[0].quantity must be a whole number from 1 to 1000",
    "error": {"code": "VALIDATION_ERROR", "details": {"field": "items[0].quantity"}},
    "request_id": "0192f1c4-7c3e-7d2a-9c1e-2b9d2b7e4a10"
}))]
pub struct ErrorBody {
    /// Always `false`.
    pub success: bool,
    /// What went wrong, for a person.
    pub message: String,
    pub error: ErrorDetail,
    /// The request's id (also the `X-Request-Id` header), for support.
    pub request_id: Option<String>,
}

/// The machine-readable part of an error.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct ErrorDetail {
    /// `VALIDATION_ERROR`, `INVALID_JSON`, `UNAUTHORIZED`, `FORBIDDEN`,
    /// `NOT_FOUND`, `METHOD_NOT_ALLOWED`, `CONFLICT`, `PAYLOAD_TOO_LARGE`,
    /// `UNSUPPORTED_MEDIA_TYPE`, `UNPROCESSABLE`, `RATE_LIMITED`,
    /// `INTERNAL_ERROR`, `BAD_GATEWAY`, `SERVICE_UNAVAILABLE`,
    /// `GATEWAY_TIMEOUT`, or a service's own code (`PERIOD_CLOSED`,
    /// `INSUFFICIENT_STOCK`, ...). An open set: new codes may appear.
    pub code: String,
    /// More about the error: `field` names the input at fault.
    pub details: Option<Value>,
}

/// `{success: true, message}`: the answer of actions that return nothing
/// else.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[schema(example = json!({"success": true, "message": "logged out"}))]
pub struct Done {
    /// Always `true`.
    pub success: bool,
    /// What happened, for a person.
    pub message: String,
}

impl Done {
    pub fn new(message: impl Into<String>) -> Self {
        Self {
            success: true,
            message: message.into(),
        }
    }
}

/// The fields a page of a list carries besides its items.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, ToSchema)]
pub struct PageFields {
    /// Items matching the query, on every page.
    pub total: i64,
    /// This page, from 1.
    pub page: u32,
    /// Items per page.
    pub limit: u32,
}

/// The `Idempotency-Key` request header of POSTs that must not happen
/// twice: a retry with the same key and request gets the first answer
/// again (with `Idempotent-Replayed: true`); the same key with another
/// request is 422 `IDEMPOTENCY_KEY_REUSED`.
#[derive(Debug, Clone, Deserialize, IntoParams)]
#[into_params(parameter_in = Header)]
pub struct IdempotencyKeyHeader {
    /// 1 to 255 visible ASCII characters, chosen by the client per
    /// intended operation (a UUID is a good key).
    #[serde(rename = "Idempotency-Key")]
    #[param(
        rename = "Idempotency-Key",
        min_length = 1,
        max_length = 255,
        pattern = "^[!-~]+$",
        example = "order-2026-12-01-0001"
    )]
    pub key: Option<String>,
}

fn error_response(description: &str, headers: Value) -> Value {
    let mut r = json!({
        "description": description,
        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/ErrorBody"}}},
    });
    if headers.as_object().is_some_and(|h| !h.is_empty()) {
        r["headers"] = headers;
    }
    r
}

fn header(description: &str, schema: Value) -> Value {
    json!({"description": description, "schema": schema})
}

/// The error answers of [`finish`], by name in `components.responses`.
fn error_responses() -> Vec<(&'static str, &'static str, Value)> {
    let retry_after = header(
        "Seconds to wait before trying again.",
        json!({"type": "integer", "minimum": 1}),
    );
    vec![
        (
            "400",
            "BadRequest",
            error_response(
                "The request is malformed: a field, parameter, path or header is invalid, or a query parameter or body field is unknown (`VALIDATION_ERROR`, `INVALID_JSON`; `details.field` names it).",
                json!({}),
            ),
        ),
        (
            "401",
            "Unauthorized",
            error_response(
                "No valid access token (missing, expired, revoked, or for another audience). Sign in or refresh.",
                json!({"WWW-Authenticate": header("`Bearer`.", json!({"type": "string"}))}),
            ),
        ),
        (
            "403",
            "Forbidden",
            error_response("The caller's role may not do this.", json!({})),
        ),
        (
            "404",
            "NotFound",
            error_response("No such resource.", json!({})),
        ),
        (
            "413",
            "PayloadTooLarge",
            error_response(
                "The request body is larger than the limit (`MAX_BODY_BYTES`).",
                json!({}),
            ),
        ),
        (
            "415",
            "UnsupportedMediaType",
            error_response(
                "A body was sent without `Content-Type: application/json`.",
                json!({}),
            ),
        ),
        (
            "429",
            "TooManyRequests",
            error_response(
                "Rate limited (per client address for sign-in, registration and refresh; per user otherwise).",
                json!({
                    "Retry-After": retry_after,
                    "RateLimit-Remaining": header("Requests left in the current window: 0.", json!({"type": "integer", "minimum": 0})),
                    "RateLimit-Reset": header("Seconds until a request is admitted again.", json!({"type": "integer", "minimum": 1})),
                }),
            ),
        ),
        (
            "502",
            "BadGateway",
            error_response(
                "The service behind the gateway gave no usable answer.",
                json!({}),
            ),
        ),
        (
            "503",
            "Unavailable",
            error_response(
                "The service or its database is unavailable for now, or its circuit breaker is open.",
                json!({"Retry-After": retry_after}),
            ),
        ),
        (
            "504",
            "GatewayTimeout",
            error_response(
                "The service behind the gateway did not answer in time.",
                json!({}),
            ),
        ),
    ]
}

/// The base document of a service: info, the shared components and the
/// default security (a bearer token).
pub fn document(service: &str, description: &str) -> utoipa::openapi::OpenApi {
    use utoipa::openapi::{
        ComponentsBuilder, InfoBuilder, OpenApiBuilder,
        security::{HttpAuthScheme, HttpBuilder, SecurityRequirement, SecurityScheme},
    };
    let components = ComponentsBuilder::new()
        .schema_from::<ErrorBody>()
        .schema_from::<ErrorDetail>()
        .schema_from::<Done>()
        .schema_from::<PageFields>()
        .security_scheme(
            BEARER,
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .bearer_format("JWT")
                    .description(Some(
                        "An access token from `POST /api/v1/users/login` (or `/refresh`): JWT HS256, 15 minutes.",
                    ))
                    .build(),
            ),
        )
        .build();
    OpenApiBuilder::new()
        .info(
            InfoBuilder::new()
                .title(format!("Marimo ERP {service} API"))
                .version("1")
                .description(Some(format!("{description}\n\n{ALIASES}")))
                .build(),
        )
        .components(Some(components))
        .security(Some(vec![SecurityRequirement::new(
            BEARER,
            Vec::<String>::new(),
        )]))
        .build()
}

const METHODS: [&str; 8] = [
    "get", "put", "post", "delete", "options", "head", "patch", "trace",
];

/// The operations of a document: (method, path, operation).
pub fn operations(doc: &Value) -> Vec<(String, String, &Value)> {
    let mut out = Vec::new();
    if let Some(paths) = doc.get("paths").and_then(Value::as_object) {
        for (path, item) in paths {
            for m in METHODS {
                if let Some(op) = item.get(m) {
                    out.push((m.to_owned(), path.clone(), op));
                }
            }
        }
    }
    out
}

/// The finished document as JSON: every operation gets the shared error
/// answers it may give (those it declares itself are kept) and, unless it
/// has its own, the service's name as its tag (what the merged document
/// groups by, and what the schema fuzzing selects).
pub fn finish(doc: utoipa::openapi::OpenApi, service: &str) -> Value {
    let mut doc = serde_json::to_value(doc).unwrap_or_else(|_| json!({}));
    if let Some(obj) = doc.as_object_mut() {
        obj.entry("tags").or_insert_with(
            || json!([{"name": service, "description": format!("The {service} service.")}]),
        );
    }
    let errors = error_responses();
    if let Some(components) = doc.get_mut("components").and_then(Value::as_object_mut) {
        let responses = components
            .entry("responses")
            .or_insert_with(|| Value::Object(Map::new()));
        if let Some(responses) = responses.as_object_mut() {
            for (_, name, response) in &errors {
                responses.insert((*name).to_owned(), response.clone());
            }
        }
    }
    if let Some(paths) = doc.get_mut("paths").and_then(Value::as_object_mut) {
        for (path, item) in paths.iter_mut() {
            for m in METHODS {
                let Some(op) = item.get_mut(m).and_then(Value::as_object_mut) else {
                    continue;
                };
                op.insert("operationId".to_owned(), json!(operation_id(m, path)));
                let has_body = op.contains_key("requestBody");
                op.entry("tags").or_insert_with(|| json!([service]));
                let responses = op
                    .entry("responses")
                    .or_insert_with(|| Value::Object(Map::new()));
                let Some(responses) = responses.as_object_mut() else {
                    continue;
                };
                for (status, name, _) in &errors {
                    if !has_body && matches!(*status, "413" | "415") {
                        continue;
                    }
                    responses.entry(*status).or_insert_with(
                        || json!({"$ref": format!("#/components/responses/{name}")}),
                    );
                }
            }
        }
    }
    doc
}

/// A unique, readable operation id from the method and the path
/// (`GET /api/v1/shop/products/{id}` → `get_shop_products_by_id`): the
/// handlers' names repeat across modules and services, and operation ids
/// must be unique in the merged document (client generators name their
/// functions after them).
pub fn operation_id(method: &str, path: &str) -> String {
    let rest = path
        .strip_prefix(crate::http::version::V1_PREFIX)
        .unwrap_or(path);
    let mut id = method.to_ascii_lowercase();
    for segment in rest.split('/').filter(|s| !s.is_empty()) {
        id.push('_');
        let (param, name) = match segment.strip_prefix('{').and_then(|s| s.strip_suffix('}')) {
            Some(p) => (true, p),
            None => (false, segment),
        };
        if param {
            id.push_str("by_");
        }
        id.extend(name.chars().map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_lowercase()
            } else {
                '_'
            }
        }));
    }
    // `/api/v1/config/` is a path of its own beside `/api/v1/config`.
    if rest.len() > 1 && rest.ends_with('/') {
        id.push_str("_slash");
    }
    id
}

/// Each operation's declared query parameters, read from its document.
#[derive(Debug, Clone, Default)]
pub struct QueryRules {
    /// (METHOD, axum path) → the query parameter names it takes.
    ops: HashMap<(Method, String), BTreeSet<String>>,
}

impl QueryRules {
    pub fn from_document(doc: &Value) -> Self {
        let mut ops = HashMap::new();
        for (method, path, op) in operations(doc) {
            let Ok(method) = method.to_ascii_uppercase().parse::<Method>() else {
                continue;
            };
            let names = op
                .get("parameters")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .filter(|p| p.get("in").and_then(Value::as_str) == Some("query"))
                .filter_map(|p| p.get("name").and_then(Value::as_str).map(str::to_owned))
                .collect();
            ops.insert((method, path), names);
        }
        Self { ops }
    }

    /// The parameters of `query` that the operation does not declare, or
    /// `None` when the operation is not in the document.
    pub fn unknown(&self, method: &Method, path: &str, query: &str) -> Option<Vec<String>> {
        let method = if method == Method::HEAD {
            Method::GET
        } else {
            method.clone()
        };
        let allowed = self.ops.get(&(method, path.to_owned()))?;
        let mut unknown: Vec<String> = Vec::new();
        for (name, _) in form_urlencoded_pairs(query) {
            if !allowed.contains(&name) && !unknown.contains(&name) {
                unknown.push(name);
            }
        }
        Some(unknown)
    }

    /// The declared parameters of an operation.
    pub fn allowed(&self, method: &Method, path: &str) -> Option<&BTreeSet<String>> {
        self.ops.get(&(method.clone(), path.to_owned()))
    }
}

/// The names and values of a query string, decoded.
fn form_urlencoded_pairs(query: &str) -> Vec<(String, String)> {
    serde_urlencoded::from_str::<Vec<(String, String)>>(query).unwrap_or_else(|_| {
        // Undecodable pairs are the extractor's to refuse; here only the
        // names matter, taken as written.
        query
            .split('&')
            .filter(|p| !p.is_empty())
            .map(|p| {
                let (k, v) = p.split_once('=').unwrap_or((p, ""));
                (k.to_owned(), v.to_owned())
            })
            .collect()
    })
}

/// Refuses query parameters the matched operation does not declare: 400
/// naming them (`details.unknown`) and listing the ones it takes
/// (`details.allowed`). A client's typo (`search=` for `q=`) is an error,
/// not a silently unfiltered list.
pub async fn strict_query(
    State(rules): State<Arc<QueryRules>>,
    matched: Option<MatchedPath>,
    req: Request,
    next: Next,
) -> Response {
    if let (Some(matched), Some(query)) = (matched, req.uri().query())
        && let Some(unknown) = rules.unknown(req.method(), matched.as_str(), query)
        && !unknown.is_empty()
    {
        let allowed: Vec<&String> = rules
            .allowed(
                &if req.method() == Method::HEAD {
                    Method::GET
                } else {
                    req.method().clone()
                },
                matched.as_str(),
            )
            .map(|a| a.iter().collect())
            .unwrap_or_default();
        return ApiError::validation(format!(
            "unknown query parameter{}: {}",
            if unknown.len() == 1 { "" } else { "s" },
            unknown.join(", ")
        ))
        .with_details(json!({"field": unknown[0], "unknown": unknown, "allowed": allowed}))
        .into_response();
    }
    next.run(req).await
}

#[cfg(test)]
mod tests {
    use super::*;

    fn doc() -> Value {
        let mut d = document("test", "A test.");
        d.paths.paths.insert(
            "/api/v1/test/things".into(),
            serde_json::from_value(json!({
                "get": {
                    "parameters": [
                        {"name": "q", "in": "query", "required": false, "schema": {"type": "string"}},
                        {"name": "Idempotency-Key", "in": "header", "required": false, "schema": {"type": "string"}}
                    ],
                    "responses": {"200": {"description": "ok"}}
                },
                "post": {
                    "requestBody": {"content": {"application/json": {"schema": {"type": "object"}}}},
                    "responses": {"201": {"description": "created"}, "409": {"description": "taken"}}
                }
            }))
            .unwrap(),
        );
        finish(d, "test")
    }

    #[test]
    fn every_operation_gets_the_shared_error_answers() {
        let d = doc();
        let get = &d["paths"]["/api/v1/test/things"]["get"]["responses"];
        let post = &d["paths"]["/api/v1/test/things"]["post"]["responses"];
        for status in ["400", "401", "403", "404", "429", "502", "503", "504"] {
            assert!(get.get(status).is_some(), "GET {status}");
            assert!(post.get(status).is_some(), "POST {status}");
        }
        // Body errors only where there is a body; own answers are kept.
        assert!(get.get("415").is_none() && post.get("415").is_some());
        assert_eq!(post["409"]["description"], "taken");
        assert_eq!(
            d["paths"]["/api/v1/test/things"]["get"]["tags"],
            json!(["test"])
        );
        assert_eq!(
            d["components"]["responses"]["TooManyRequests"]["headers"]["Retry-After"]["schema"]["minimum"],
            1
        );
        assert_eq!(d["openapi"], "3.1.0");
        assert_eq!(d["security"][0]["bearer"], json!([]));
        assert!(
            d["info"]["description"]
                .as_str()
                .unwrap()
                .contains("Deprecation")
        );
    }

    #[test]
    fn undeclared_query_parameters_are_named() {
        let rules = QueryRules::from_document(&doc());
        let path = "/api/v1/test/things";
        assert_eq!(rules.unknown(&Method::GET, path, "q=a"), Some(vec![]));
        assert_eq!(
            rules.unknown(
                &Method::GET,
                path,
                "q=a&search=b&search=c&Idempotency-Key=x"
            ),
            Some(vec!["search".to_owned(), "Idempotency-Key".to_owned()])
        );
        assert_eq!(rules.unknown(&Method::HEAD, path, "q=a"), Some(vec![]));
        assert_eq!(
            rules.unknown(&Method::POST, path, "q=a"),
            Some(vec!["q".to_owned()])
        );
        assert_eq!(rules.unknown(&Method::GET, "/elsewhere", "x=1"), None);
        // Encoded names are compared decoded.
        assert_eq!(rules.unknown(&Method::GET, path, "%71=a"), Some(vec![]));
    }
}

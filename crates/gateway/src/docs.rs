//! The API reference: one OpenAPI 3.1 document for the whole system at
//! `GET /api/v1/openapi.json`, browsable at `/api/docs`.
//!
//! Each service serves its own document, generated from its handlers, at
//! `/api/v1/<service>/openapi.json` (`marimo_platform::openapi`). The
//! gateway fetches them from one instance of each service (signed like
//! every forwarded request when `MARIMO_EDGE_SECRET` is set) and merges
//! them with its own operations: paths side by side, shared components
//! once, and a schema name two services use for different shapes
//! prefixed with the service's name. A merged document is reused for
//! [`MERGED_TTL`]; one that lacks a service that could not be reached is
//! not reused, and says which one is missing. A service that serves no
//! document yet (404) is listed as not documented.
//!
//! `/api/docs` is Swagger UI, compiled into the binary
//! (`utoipa-swagger-ui`'s `vendored` feature): nothing is downloaded at
//! build or run time. Its page needs inline styles and `data:` images, so
//! it gets a content security policy of its own.

use std::{
    sync::Arc,
    time::{Duration, Instant},
};

use axum::{
    Router,
    extract::State,
    http::{HeaderValue, header},
    response::{IntoResponse, Response},
};
use marimo_platform::{
    client::ServiceClient,
    discovery::Discovery,
    http::edge::EdgeKey,
    openapi,
    resilience::BreakerConfig,
    service::{ServiceName, StartError},
};
use serde_json::{Map, Value, json};
use tokio::sync::Mutex;
use tower_http::set_header::SetResponseHeaderLayer;
use utoipa_axum::{router::OpenApiRouter, routes};

use crate::routes::{DOCS_PATH, OPENAPI_PATH};

/// How long a complete merged document is reused.
pub const MERGED_TTL: Duration = Duration::from_secs(60);
/// Time allowed for one service's document.
pub const FETCH_TIMEOUT: Duration = Duration::from_secs(3);

/// The policy of the Swagger UI page: its own files only, plus the inline
/// styles and `data:` images it draws with.
pub const DOCS_CSP: &str = "default-src 'self'; img-src 'self' data:; style-src 'self' 'unsafe-inline'; frame-ancestors 'none'; base-uri 'self'; form-action 'self'";

const DESCRIPTION: &str = "Marimo ERP: users and roles, configuration, a \
double-entry ledger, production, an online shop and a dashboard, behind one \
gateway. Sign in with `POST /api/v1/users/login` and send the `access_token` \
as `Authorization: Bearer <token>`. Errors have one shape (`ErrorBody`); \
lists take `page` and `limit`; POSTs that must not happen twice take an \
`Idempotency-Key` header.";

/// The merged document's sources and its last result.
pub struct Docs {
    clients: Vec<ServiceClient>,
    last: Mutex<Option<(Instant, Arc<str>)>>,
    own: Value,
}

/// What one service said about its document.
enum Part {
    Document(Value),
    /// It serves none yet (404).
    Undocumented,
    /// It could not be asked.
    Unreachable(String),
}

impl Docs {
    pub fn new(
        discovery: Arc<dyn Discovery>,
        edge: Option<EdgeKey>,
        own: Value,
    ) -> Result<Self, StartError> {
        let mut clients = Vec::new();
        for service in ServiceName::UPSTREAMS {
            let client = ServiceClient::new(
                service,
                discovery.clone(),
                FETCH_TIMEOUT,
                BreakerConfig::default(),
            )
            .map_err(|e| format!("cannot build the documents' client: {e}"))?;
            clients.push(client.with_edge(edge.clone()));
        }
        Ok(Self {
            clients,
            last: Mutex::new(None),
            own,
        })
    }

    async fn fetch(client: &ServiceClient) -> Part {
        let path = format!("/api/v1/{}/openapi.json", client.service().as_str());
        match client.get(&path, None).await {
            Ok(res) if res.status() == reqwest::StatusCode::NOT_FOUND => Part::Undocumented,
            Ok(res) if res.status().is_success() => match res.json::<Value>().await {
                Ok(doc) => Part::Document(doc),
                Err(e) => Part::Unreachable(format!("unreadable document: {e}")),
            },
            Ok(res) => Part::Unreachable(format!("answered {}", res.status())),
            Err(e) => Part::Unreachable(e.to_string()),
        }
    }

    /// The merged document (fresh, or the last complete one while young).
    pub async fn merged(&self) -> Arc<str> {
        let mut last = self.last.lock().await;
        if let Some((at, doc)) = last.as_ref()
            && at.elapsed() < MERGED_TTL
        {
            return doc.clone();
        }
        let parts = futures_util::future::join_all(
            self.clients
                .iter()
                .map(|c| async move { (c.service(), Self::fetch(c).await) }),
        )
        .await;
        let complete = parts
            .iter()
            .all(|(_, p)| !matches!(p, Part::Unreachable(_)));
        let doc: Arc<str> = Arc::from(merge(self.own.clone(), parts).to_string());
        *last = complete.then(|| (Instant::now(), doc.clone()));
        doc
    }
}

/// Renames `schema` to `to` in `doc`: its definition and every reference.
fn rename_schema(doc: &mut Value, schema: &str, to: &str) {
    let from_ref = format!("#/components/schemas/{schema}");
    let to_ref = format!("#/components/schemas/{to}");
    fn walk(v: &mut Value, from: &str, to: &str) {
        match v {
            Value::Object(m) => {
                for (k, v) in m.iter_mut() {
                    if k == "$ref" && v.as_str() == Some(from) {
                        *v = Value::String(to.to_owned());
                    } else {
                        walk(v, from, to);
                    }
                }
            }
            Value::Array(a) => a.iter_mut().for_each(|v| walk(v, from, to)),
            _ => {}
        }
    }
    walk(doc, &from_ref, &to_ref);
    if let Some(schemas) = doc
        .pointer_mut("/components/schemas")
        .and_then(Value::as_object_mut)
        && let Some(def) = schemas.remove(schema)
    {
        schemas.insert(to.to_owned(), def);
    }
}

fn capitalised(s: &str) -> String {
    let mut c = s.chars();
    c.next()
        .map(|f| f.to_uppercase().chain(c).collect())
        .unwrap_or_default()
}

/// The object under `key` of the object `v`, made when absent.
fn object<'a>(v: &'a mut Value, key: &str) -> Option<&'a mut Map<String, Value>> {
    let entry = v
        .as_object_mut()?
        .entry(key)
        .or_insert_with(|| Value::Object(Map::new()));
    if !entry.is_object() {
        *entry = Value::Object(Map::new());
    }
    entry.as_object_mut()
}

/// The gateway's document with each service's merged in (see the module
/// docs).
fn merge(mut doc: Value, parts: Vec<(ServiceName, Part)>) -> Value {
    let mut documented = Vec::new();
    let mut undocumented = Vec::new();
    let mut missing = Vec::new();
    for (service, part) in parts {
        let mut part = match part {
            Part::Document(d) => d,
            Part::Undocumented => {
                undocumented.push(service.as_str());
                continue;
            }
            Part::Unreachable(why) => {
                tracing::warn!(%service, %why, "a service's API document is missing from the merged one");
                missing.push(service.as_str());
                continue;
            }
        };
        documented.push(service.as_str());
        // Schemas of the same name and another shape keep apart.
        let theirs: Vec<(String, Value)> = part
            .pointer("/components/schemas")
            .and_then(Value::as_object)
            .map(|m| m.iter().map(|(k, v)| (k.clone(), v.clone())).collect())
            .unwrap_or_default();
        for (name, def) in theirs {
            let clash = doc
                .pointer(&format!("/components/schemas/{name}"))
                .is_some_and(|ours| *ours != def);
            if clash {
                rename_schema(
                    &mut part,
                    &name,
                    &format!("{}{name}", capitalised(service.as_str())),
                );
            }
        }
        if let (Some(paths), Some(ours)) = (
            part.get("paths").and_then(Value::as_object),
            object(&mut doc, "paths"),
        ) {
            for (path, item) in paths {
                // `/health` and `/ready` through the gateway are the
                // gateway's own; a service's describe its own port.
                if path.starts_with("/api/") {
                    ours.insert(path.clone(), item.clone());
                }
            }
        }
        for kind in ["schemas", "responses", "securitySchemes"] {
            if let Some(theirs) = part
                .pointer(&format!("/components/{kind}"))
                .and_then(Value::as_object)
                && object(&mut doc, "components").is_some()
                && let Some(ours) = object(&mut doc["components"], kind)
            {
                for (name, def) in theirs {
                    ours.entry(name.clone()).or_insert_with(|| def.clone());
                }
            }
        }
        if let Some(tags) = part.get("tags").and_then(Value::as_array) {
            // The service's tag tells what the service is: its document's
            // description without the rule every document repeats.
            let about = part
                .pointer("/info/description")
                .and_then(Value::as_str)
                .map(|d| d.replace(openapi::ALIASES, "").trim().to_owned())
                .filter(|d| !d.is_empty());
            let tags = tags.iter().cloned().map(|mut tag| {
                if let (Some(about), true) = (&about, tag["name"] == service.as_str()) {
                    tag["description"] = json!(about);
                }
                tag
            });
            if !doc.get("tags").is_some_and(Value::is_array) {
                doc["tags"] = json!([]);
            }
            if let Some(ours) = doc.get_mut("tags").and_then(Value::as_array_mut) {
                ours.extend(tags);
            }
        }
    }
    let mut description = format!(
        "{DESCRIPTION}\n\nDocumented services: {}.",
        documented.join(", ")
    );
    if !undocumented.is_empty() {
        description.push_str(&format!(
            " Not documented here yet (their endpoints are listed in docs/COMPATIBILITY.md): {}.",
            undocumented.join(", ")
        ));
    }
    if !missing.is_empty() {
        description.push_str(&format!(
            " **Missing now** (could not be reached; reload later): {}.",
            missing.join(", ")
        ));
    }
    description.push_str(&format!("\n\n{}", openapi::ALIASES));
    doc["info"]["title"] = json!("Marimo ERP API");
    doc["info"]["description"] = json!(description);
    doc
}

/// The merged OpenAPI 3.1 document of every service behind the gateway.
#[utoipa::path(
    get,
    path = "/api/v1/openapi.json",
    tag = "gateway",
    security(()),
    responses((status = 200, description = "The OpenAPI 3.1 document of the whole API (JSON).", content_type = "application/json", body = Object)),
)]
pub async fn document(State(docs): State<Arc<Docs>>) -> Response {
    (
        [
            (
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/json"),
            ),
            (header::CACHE_CONTROL, HeaderValue::from_static("no-cache")),
        ],
        docs.merged().await.to_string(),
    )
        .into_response()
}

/// The gateway's own documented operations.
pub fn own_api() -> OpenApiRouter<Arc<Docs>> {
    OpenApiRouter::with_openapi(openapi::document("gateway", DESCRIPTION)).routes(routes!(document))
}

/// The gateway's own part of the merged document, with `GET /health` and
/// `GET /ready` (served by the platform's app, not by routes of their own
/// here).
pub fn own_document(api: &OpenApiRouter<Arc<Docs>>) -> Value {
    let mut doc = openapi::finish(api.get_openapi().clone(), "gateway");
    doc["paths"]["/health"] = marimo_platform::http::health::probe_path(
        "gateway",
        "get_health",
        "The status of the gateway and of every service behind it.",
        ("Every service is up.", "GatewayHealth"),
        (
            "A service is down: the same fields with `success: false`, plus the error shape's `message` and `error` (`details.down`).",
            "GatewayHealth",
        ),
    );
    // The schemas of `/health`, which no route of the document names.
    let mut schemas = Vec::new();
    <crate::health::GatewayHealth as utoipa::ToSchema>::schemas(&mut schemas);
    schemas.push((
        "GatewayHealth".to_owned(),
        <crate::health::GatewayHealth as utoipa::PartialSchema>::schema(),
    ));
    if let Some(ours) = doc
        .pointer_mut("/components/schemas")
        .and_then(Value::as_object_mut)
    {
        for (name, schema) in schemas {
            if let Ok(schema) = serde_json::to_value(schema) {
                ours.insert(name, schema);
            }
        }
    }
    // `/ready` is the platform's, as in every service.
    marimo_platform::http::health::document_paths(&mut doc, "gateway");
    doc
}

/// `/api/v1/openapi.json` and the browsable reference at `/api/docs`.
pub fn router(docs: Arc<Docs>, api: OpenApiRouter<Arc<Docs>>) -> Router {
    let (routes, _) = api.split_for_parts();
    let ui: Router = utoipa_swagger_ui::SwaggerUi::new(DOCS_PATH)
        .config(utoipa_swagger_ui::Config::from(OPENAPI_PATH))
        .into();
    routes
        .with_state(docs)
        .merge(ui.layer(SetResponseHeaderLayer::overriding(
            header::CONTENT_SECURITY_POLICY,
            HeaderValue::from_static(DOCS_CSP),
        )))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn part(schema: Value, path: &str) -> Value {
        json!({
            "openapi": "3.1.0",
            "paths": {path: {"get": {"responses": {"200": {"content": {"application/json": {"schema": {"$ref": "#/components/schemas/Summary"}}}}}}}},
            "components": {"schemas": {"Summary": schema, "ErrorBody": {"type": "object"}}},
            "tags": [{"name": "x"}]
        })
    }

    #[test]
    fn schemas_of_the_same_name_and_another_shape_keep_apart() {
        let own = json!({"openapi": "3.1.0", "info": {"title": "t", "version": "1"}, "components": {"schemas": {"ErrorBody": {"type": "object"}}}});
        let merged = merge(
            own,
            vec![
                (
                    ServiceName::Users,
                    Part::Document(part(json!({"type": "integer"}), "/api/v1/users/summary")),
                ),
                (
                    ServiceName::Shop,
                    Part::Document(part(json!({"type": "string"}), "/api/v1/shop/summary")),
                ),
                (ServiceName::Factory, Part::Undocumented),
                (ServiceName::Main, Part::Unreachable("timed out".into())),
            ],
        );
        let schemas = &merged["components"]["schemas"];
        assert_eq!(schemas["Summary"]["type"], "integer");
        assert_eq!(schemas["ShopSummary"]["type"], "string");
        assert_eq!(
            merged["paths"]["/api/v1/shop/summary"]["get"]["responses"]["200"]["content"]["application/json"]
                ["schema"]["$ref"],
            "#/components/schemas/ShopSummary"
        );
        assert_eq!(
            merged["paths"]["/api/v1/users/summary"]["get"]["responses"]["200"]["content"]["application/json"]
                ["schema"]["$ref"],
            "#/components/schemas/Summary"
        );
        // The same shape under one name is kept once.
        assert!(schemas.get("UsersErrorBody").is_none() && schemas.get("ShopErrorBody").is_none());
        let description = merged["info"]["description"].as_str().unwrap();
        assert!(description.contains("Documented services: users, shop."));
        assert!(description.contains("Not documented here yet (their endpoints are listed in docs/COMPATIBILITY.md): factory."));
        assert!(
            description.contains("**Missing now** (could not be reached; reload later): main.")
        );
        assert_eq!(merged["tags"].as_array().map(Vec::len), Some(2));
    }
}

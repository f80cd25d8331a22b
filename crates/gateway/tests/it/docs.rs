//! The merged OpenAPI document and the browsable reference.

use axum::{Router, http::StatusCode, routing::get};
use marimo_gateway::docs::DOCS_CSP;
use marimo_platform::service::ServiceName;
use marimo_testkit::spawn;
use serde_json::json;

use crate::support::{closed_port_url, gateway};

#[tokio::test]
async fn the_services_documents_are_merged_and_browsable_offline() {
    // The shop documents itself; users serves no document yet; the others
    // cannot be reached.
    let shop = spawn(Router::new().route(
        "/api/v1/shop/openapi.json",
        get(|| async {
            axum::Json(json!({
                "openapi": "3.1.0",
                "info": {"title": "shop", "version": "1"},
                "paths": {"/api/v1/shop/products": {"get": {
                    "tags": ["shop"],
                    "security": [{}],
                    "responses": {"200": {"description": "a page", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/ErrorBody"}}}}}
                }}},
                "components": {"schemas": {"ErrorBody": {"type": "object", "description": "the shop's own"}}},
                "tags": [{"name": "shop"}]
            }))
        }),
    ))
    .await;
    let users = spawn(Router::new().fallback(|| async { StatusCode::NOT_FOUND })).await;
    let closed = closed_port_url().await;
    let mut vars: Vec<(String, String)> = Vec::new();
    for name in ServiceName::UPSTREAMS {
        let url = match name {
            ServiceName::Shop => shop.url.clone(),
            ServiceName::Users => users.url.clone(),
            _ => closed.clone(),
        };
        vars.push((name.urls_var(), url));
    }
    let overrides: Vec<(&str, &str)> = vars.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    let gw = spawn(gateway(&overrides).await.expect("gateway starts")).await;

    // No token needed: the reference is public.
    let res = gw.http.get("/api/v1/openapi.json").send().await.expect(200);
    let doc = &res.json;
    assert_eq!(doc["openapi"], "3.1.0");
    assert_eq!(doc["info"]["title"], "Marimo ERP API");
    assert!(doc["paths"]["/api/v1/shop/products"]["get"].is_object());
    assert!(doc["paths"]["/api/v1/openapi.json"]["get"].is_object());
    // Through the gateway, `/health` and `/ready` are the gateway's own,
    // typed.
    assert_eq!(
        doc["paths"]["/health"]["get"]["responses"]["200"]["content"]["application/json"]["schema"]
            ["$ref"],
        "#/components/schemas/GatewayHealth"
    );
    assert_eq!(
        doc["paths"]["/ready"]["get"]["responses"]["200"]["content"]["application/json"]["schema"]
            ["$ref"],
        "#/components/schemas/Ready"
    );
    assert_eq!(
        doc["components"]["schemas"]["ReadyStatus"]["enum"],
        json!(["ready"])
    );
    // The shop's ErrorBody differs from the shared one: kept apart.
    assert_eq!(
        doc["components"]["schemas"]["ShopErrorBody"]["description"],
        "the shop's own"
    );
    assert_eq!(
        doc["paths"]["/api/v1/shop/products"]["get"]["responses"]["200"]["content"]["application/json"]
            ["schema"]["$ref"],
        "#/components/schemas/ShopErrorBody"
    );
    assert!(doc["components"]["securitySchemes"]["bearer"].is_object());
    let description = doc["info"]["description"].as_str().unwrap();
    assert!(
        description.contains("Documented services: shop."),
        "{description}"
    );
    assert!(
        description.contains("Not documented here yet"),
        "{description}"
    );
    assert!(description.contains("users"), "{description}");
    assert!(description.contains("**Missing now**"), "{description}");
    assert!(
        description.contains("Deprecation: @1796083200"),
        "{description}"
    );

    // The old spelling is an alias like every other.
    let res = gw.http.get("/api/openapi.json").send().await.expect(200);
    assert_eq!(res.header("deprecation"), Some("@1796083200"));

    // Swagger UI from the binary, with a policy that lets it draw.
    let res = gw.http.get("/api/docs").send().await;
    assert!((300..400).contains(&res.status), "{}", res.status);
    assert_eq!(res.header("location"), Some("/api/docs/"));
    let res = gw.http.get("/api/docs/").send().await.expect(200);
    assert!(res.text.contains("swagger-ui"), "{}", res.text);
    assert_eq!(res.header("content-security-policy"), Some(DOCS_CSP));
    assert_eq!(res.header("deprecation"), None);
    let res = gw
        .http
        .get("/api/docs/swagger-initializer.js")
        .send()
        .await
        .expect(200);
    assert!(res.text.contains("/api/v1/openapi.json"), "{}", res.text);
    gw.http
        .get("/api/docs/swagger-ui-bundle.js")
        .send()
        .await
        .expect(200);
}

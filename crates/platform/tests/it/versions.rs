//! API versions on a service app: both prefixes reach the routes, whichever
//! prefix they are declared under; an alias answer says it is deprecated;
//! the edge signature is checked on the path the gateway signed.

use axum::{Router, extract::Request, routing::get};
use marimo_platform::{
    http::{ServiceApp, edge::EdgeKey},
    service::ServiceName,
};
use marimo_testkit::{Backend, context, spawn};
use serde_json::json;

/// Answers the path it was routed with.
fn echo(path: &'static str) -> Router {
    Router::new().route(
        path,
        get(|req: Request| async move { axum::Json(json!({"routed": req.uri().path()})) }),
    )
}

const EDGE_SECRET: &str = "edge-secret-for-tests-0123456789abcdef";

#[tokio::test]
async fn both_prefixes_reach_routes_declared_under_either() {
    for (app, declared) in [
        ("v1", "/api/v1/factory/products"),
        ("unversioned", "/api/factory/products"),
    ] {
        let settings = Backend::Sqlite
            .settings(&[("MARIMO_EDGE_SECRET", EDGE_SECRET)])
            .await;
        let ctx = context(ServiceName::Factory, settings).await;
        let service = ServiceApp::new(&ctx);
        let service = if app == "v1" {
            service.v1_routes()
        } else {
            service
        };
        let server = spawn(service.router(echo(declared))).await;
        let key = EdgeKey::new(EDGE_SECRET.as_bytes());
        for (path, deprecated) in [
            ("/api/v1/factory/products", false),
            ("/api/factory/products", true),
            ("/api/v1/factory/x/../products", false),
        ] {
            // Signed over the path as sent (the gateway signs the v1 path it
            // forwards), whatever route it lands on.
            let signed = marimo_platform::http::path::canonical(path).unwrap();
            let res = server
                .http
                .get(path)
                .header("x-marimo-edge", &key.sign_now("GET", &signed))
                .send()
                .await
                .expect(200);
            assert_eq!(res.json["routed"], declared, "{app} {path}");
            if deprecated {
                assert_eq!(res.header("deprecation"), Some("@1796083200"), "{path}");
                assert_eq!(
                    res.header("link"),
                    Some("</api/v1/factory/products>; rel=\"successor-version\""),
                    "{path}"
                );
            } else {
                assert_eq!(res.header("deprecation"), None, "{app} {path}");
                assert_eq!(res.header("link"), None, "{app} {path}");
            }
        }
        // A signature over the other prefix's path is not this request's.
        let res = server
            .http
            .get("/api/v1/factory/products")
            .header(
                "x-marimo-edge",
                &key.sign_now("GET", "/api/factory/products"),
            )
            .send()
            .await
            .expect(403);
        assert_eq!(res.json["success"], false);
        // No other version exists; its paths are no alias.
        let res = server
            .http
            .get("/api/v2/factory/products")
            .header(
                "x-marimo-edge",
                &key.sign_now("GET", "/api/v2/factory/products"),
            )
            .send()
            .await
            .expect(404);
        assert_eq!(res.header("deprecation"), None);
    }
}

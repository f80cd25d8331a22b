//! The OpenAPI document against the routes, and the refusal of unknown
//! query parameters and body fields (issue 18).

use marimo_platform::auth::Role;
use marimo_testkit::{Backend, openapi};
use serde_json::json;

use crate::support::{token, world};

#[tokio::test]
async fn every_route_is_documented_and_every_operation_routed() {
    let w = world(&Backend::Sqlite, &[]).await;
    let http = &w.server.http;
    // The worker owns three sections of the API, as the gateway routes
    // them.
    let doc = openapi::assert_coverage_under(
        http,
        "worker",
        &["audit", "notifications", "worker"],
        concat!(env!("CARGO_MANIFEST_DIR"), "/src/api"),
    )
    .await;
    let create = &doc["paths"]["/api/v1/notifications/webhooks"]["post"];
    assert_eq!(
        openapi::request_schema(create),
        "#/components/schemas/CreateWebhook"
    );
    openapi::assert_strict_bodies(&doc, &["CreateWebhook"]);
    // Every operation is grouped under the worker's tag.
    for (method, path, op) in marimo_platform::openapi::operations(&doc) {
        assert_eq!(op["tags"], json!(["worker"]), "{method} {path}");
    }
    // The webhook's answer never has a secret field.
    assert!(
        doc["components"]["schemas"]["WebhookView"]["properties"]
            .get("secret")
            .is_none()
    );
}

#[tokio::test]
async fn unknown_query_parameters_are_refused_by_name() {
    let w = world(&Backend::Sqlite, &[]).await;
    let http = &w.server.http;
    let (_, admin) = token(Role::Admin);
    for prefix in ["/api/v1", "/api"] {
        let res = http
            .get(&format!("{prefix}/audit?actor=x&user=x"))
            .bearer(&admin)
            .send()
            .await
            .expect(400);
        assert_eq!(res.code(), "VALIDATION_ERROR");
        assert_eq!(res.json["message"], "unknown query parameter: user");
        assert_eq!(res.json["error"]["details"]["unknown"], json!(["user"]));
        assert_eq!(
            res.json["error"]["details"]["allowed"],
            json!(["action", "actor", "from", "limit", "page", "target", "to"])
        );
    }
    let res = http
        .get("/api/v1/notifications?unread=true")
        .bearer(&admin)
        .send()
        .await
        .expect(400);
    assert_eq!(res.json["error"]["details"]["unknown"], json!(["unread"]));
    // Declared ones pass.
    http.get("/api/v1/notifications?unread_only=true&page=1&limit=5")
        .bearer(&admin)
        .send()
        .await
        .expect(200);
    http.get("/api/v1/audit?action=shop.order&from=2026-01-01&to=2026-12-31")
        .bearer(&admin)
        .send()
        .await
        .expect(200);
}

#[tokio::test]
async fn unknown_body_fields_are_refused_by_name() {
    let w = world(&Backend::Sqlite, &[]).await;
    let http = &w.server.http;
    let (_, admin) = token(Role::Admin);
    let res = http
        .post("/api/v1/notifications/webhooks")
        .bearer(&admin)
        .json(json!({
            "url": "https://hooks.example.com/x",
            "event_types": ["shop.order.*"],
            "secret": "a-long-random-shared-secret",
            "events": ["users.*"]
        }))
        .send()
        .await
        .expect(400);
    assert_eq!(res.code(), "VALIDATION_ERROR");
    assert_eq!(res.json["error"]["details"]["field"], "events");
    // Nothing was registered.
    let list = http
        .get("/api/v1/notifications/webhooks")
        .bearer(&admin)
        .send()
        .await
        .expect(200);
    assert_eq!(list.json["webhooks"], json!([]));
}

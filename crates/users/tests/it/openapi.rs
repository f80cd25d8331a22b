//! The OpenAPI document against the routes, and the refusal of unknown
//! query parameters and body fields (issue 18).

use marimo_testkit::{Backend, openapi};
use serde_json::json;

use crate::support::App;

#[tokio::test]
async fn every_route_is_documented_and_every_operation_routed() {
    let app = App::start(&Backend::Sqlite).await;
    openapi::assert_coverage(
        app.http(),
        "users",
        concat!(env!("CARGO_MANIFEST_DIR"), "/src/api"),
    )
    .await;
    let doc = openapi::document(app.http(), "users").await;
    // Signing in needs no token; the profile does.
    assert_eq!(
        doc["paths"]["/api/v1/users/login"]["post"]["security"],
        json!([{}])
    );
    assert!(
        doc["paths"]["/api/v1/users/profile"]["get"]
            .get("security")
            .is_none()
    );
    assert_eq!(
        doc["components"]["schemas"]["Role"]["enum"],
        json!(["admin", "manager", "accountant", "shop_manager", "user"])
    );
}

#[tokio::test]
async fn unknown_query_parameters_and_body_fields_are_refused_by_name() {
    let app = App::start(&Backend::Sqlite).await;
    let admin = app.admin().await;
    // The example: `search=` used to be ignored, listing everyone.
    let res = app
        .http()
        .get("/api/v1/users/list?search=ann")
        .bearer(&admin.access)
        .send()
        .await
        .expect(400);
    assert_eq!(res.json["message"], "unknown query parameter: search");
    assert_eq!(
        res.json["error"]["details"]["allowed"],
        json!(["limit", "page", "q"])
    );
    app.http()
        .get("/api/users/list?q=ann&page=1&limit=20")
        .bearer(&admin.access)
        .send()
        .await
        .expect(200);
    let res = app
        .http()
        .post("/api/v1/users/register")
        .json(json!({"email": "bob@example.com", "password": "Customer-1", "name": "Bob", "role": "admin"}))
        .send()
        .await
        .expect(400);
    assert_eq!(res.json["error"]["details"]["field"], "role");
    let res = app
        .http()
        .post("/api/v1/users/login")
        .json(json!({"email": "bob@example.com", "password": "Customer-1"}))
        .send()
        .await;
    assert_eq!(res.status, 401, "the refused registration created nothing");
}

//! The OpenAPI document against the routes, and the refusal of unknown
//! query parameters and body fields (issue 18).

use marimo_platform::auth::Role;
use marimo_testkit::{Backend, Fixture, openapi};
use serde_json::json;

use crate::support::App;

#[tokio::test]
async fn every_route_is_documented_and_every_operation_routed() {
    let app = App::start(&Backend::Sqlite).await;
    let doc = openapi::assert_coverage(
        app.http(),
        "config",
        concat!(env!("CARGO_MANIFEST_DIR"), "/src/api"),
    )
    .await;
    // The original spelling with a slash is its own documented path.
    assert!(doc["paths"]["/api/v1/config/"]["get"].is_object());
    assert!(doc["paths"]["/api/v1/config"]["post"].is_object());
}

#[tokio::test]
async fn unknown_query_parameters_and_body_fields_are_refused_by_name() {
    let app = App::start(&Backend::Sqlite).await;
    let reader = app.token(Role::User);
    let res = app
        .http()
        .get("/api/v1/config/app_name/history?page=1&per_page=5")
        .bearer(&reader)
        .send()
        .await
        .expect(400);
    assert_eq!(res.json["error"]["details"]["unknown"], json!(["per_page"]));
    let res = app
        .http()
        .get("/api/config?verbose=1")
        .bearer(&reader)
        .send()
        .await
        .expect(400);
    assert_eq!(res.json["message"], "unknown query parameter: verbose");
    let res = app
        .http()
        .post("/api/v1/config")
        .bearer(&app.admin())
        .json(json!({"key": "support_email", "value": "a@b.c", "valeu_type": "string"}))
        .send()
        .await
        .expect(400);
    assert_eq!(res.json["error"]["details"]["field"], "valeu_type");
    app.http()
        .get("/api/v1/config/support_email")
        .bearer(&reader)
        .send()
        .await
        .expect(404);
    let res = app
        .http()
        .post("/api/v1/config/reference/currencies")
        .bearer(&app.admin())
        .json(json!({"code": "EUR", "name": "Euro", "minor_units": 2, "symbol": "€"}))
        .send()
        .await
        .expect(400);
    assert_eq!(res.json["error"]["details"]["field"], "symbol");
}

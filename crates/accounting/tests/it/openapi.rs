//! The OpenAPI document against the routes, and the refusal of unknown
//! query parameters and body fields (issue 18).

use marimo_testkit::{Backend, openapi};
use serde_json::json;

use crate::support::{accountant, app};

#[tokio::test]
async fn every_route_is_documented_and_every_operation_routed() {
    let app = app(&Backend::Sqlite).await;
    let doc = openapi::assert_coverage(
        &app.http,
        "accounting",
        concat!(env!("CARGO_MANIFEST_DIR"), "/src/api"),
    )
    .await;
    // Typed bodies: the posting's request and answer are schemas.
    let post = &doc["paths"]["/api/v1/accounting/journal-entries"]["post"];
    assert_eq!(
        openapi::request_schema(post),
        "#/components/schemas/EntryRequest"
    );
    assert_eq!(
        openapi::answer_schema(post, "201"),
        "#/components/schemas/EntryPosted"
    );
    assert!(openapi::takes_idempotency_key(post));
    openapi::assert_strict_bodies(&doc, &["EntryRequest"]);
}

#[tokio::test]
async fn unknown_query_parameters_are_refused_by_name() {
    let app = app(&Backend::Sqlite).await;
    for prefix in ["/api/v1", "/api"] {
        let res = app
            .http
            .get(&format!(
                "{prefix}/accounting/journal-entries?from=2026-01-01&serach=rent"
            ))
            .bearer(&accountant())
            .send()
            .await
            .expect(400);
        assert_eq!(res.code(), "VALIDATION_ERROR");
        assert_eq!(res.json["message"], "unknown query parameter: serach");
        assert_eq!(res.json["error"]["details"]["unknown"], json!(["serach"]));
        let allowed = res.json["error"]["details"]["allowed"].as_array().unwrap();
        for name in [
            "from",
            "to",
            "account",
            "reference",
            "order",
            "page",
            "limit",
        ] {
            assert!(allowed.contains(&json!(name)), "{name} in {allowed:?}");
        }
    }
    // Declared ones pass.
    app.http
        .get("/api/v1/accounting/journal-entries?from=2026-01-01&page=1&limit=5&order=asc")
        .bearer(&accountant())
        .send()
        .await
        .expect(200);
}

#[tokio::test]
async fn unknown_body_fields_are_refused_by_name() {
    let app = app(&Backend::Sqlite).await;
    let res = app
        .http
        .post("/api/v1/accounting/transactions")
        .bearer(&accountant())
        .json(json!({"type": "income", "amount": "10.00", "colour": "red"}))
        .send()
        .await
        .expect(400);
    assert_eq!(res.code(), "VALIDATION_ERROR");
    assert_eq!(res.json["error"]["details"]["field"], "colour");
    let res = app
        .http
        .post("/api/v1/accounting/journal-entries")
        .bearer(&accountant())
        .json(json!({
            "date": "2026-12-01",
            "description": "x",
            "lines": [
                {"account": "1000", "debit": "5.00", "note": "typo of memo"},
                {"account": "3000", "credit": "5.00"}
            ]
        }))
        .send()
        .await
        .expect(400);
    assert_eq!(res.json["error"]["details"]["field"], "note");
    // Nothing was posted.
    assert_eq!(app.scalar("SELECT COUNT(*) FROM journal_entries").await, 0);
}

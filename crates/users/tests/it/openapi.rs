//! The OpenAPI document against the routes, and the refusal of unknown
//! query parameters and body fields (issue 18).

use marimo_testkit::{Backend, openapi};
use serde_json::json;

use crate::support::App;

#[tokio::test]
async fn every_route_is_documented_and_every_operation_routed() {
    let app = App::start(&Backend::Sqlite).await;
    let doc = openapi::assert_coverage(
        app.http(),
        "users",
        concat!(env!("CARGO_MANIFEST_DIR"), "/src/api"),
    )
    .await;
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
    // The rules registration enforces, stated in the document.
    let email = openapi::property(&doc, "RegisterBody", "email");
    assert_eq!(email["format"], "email");
    assert_eq!(email["maxLength"], 254);
    for (schema, field) in [
        ("RegisterBody", "password"),
        ("ChangePasswordBody", "new_password"),
    ] {
        let password = openapi::property(&doc, schema, field);
        assert_eq!(password["minLength"], 8, "{schema}.{field}");
        assert_eq!(password["maxLength"], 128, "{schema}.{field}");
    }
    let name = openapi::property(&doc, "RegisterBody", "name");
    assert_eq!(
        (&name["minLength"], &name["maxLength"]),
        (&json!(1), &json!(100))
    );
}

#[tokio::test]
async fn the_documented_password_and_name_bounds_are_the_enforced_ones() {
    let app = App::start(&Backend::Sqlite).await;
    let register = |password: String, name: String| json!({"email": "cy@example.com", "password": password, "name": name});
    // 7 characters is one short of the documented minimum; 129 one over
    // the maximum; a 101-character name one over its maximum.
    for body in [
        register("Abcdef1".to_owned(), "Cy".to_owned()),
        register(format!("Aa1{}", "x".repeat(126)), "Cy".to_owned()),
        register("Abcdefg1".to_owned(), "n".repeat(101)),
    ] {
        app.http()
            .post("/api/v1/users/register")
            .json(body)
            .send()
            .await
            .expect(400);
    }
    // Exactly at the bounds: 128 characters and a 100-character name.
    app.http()
        .post("/api/v1/users/register")
        .json(register(format!("Aa1{}", "x".repeat(125)), "n".repeat(100)))
        .send()
        .await
        .expect(201);
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

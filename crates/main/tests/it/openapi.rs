//! The OpenAPI document against the routes, and the refusal of unknown
//! query parameters (issue 18).

use std::time::Duration;

use marimo_platform::auth::Role;
use marimo_testkit::openapi;
use serde_json::json;

use crate::dashboard::system;

#[tokio::test]
async fn every_route_is_documented_and_every_operation_routed() {
    let sys = system(Duration::ZERO, true).await;
    let doc = openapi::assert_coverage(
        &sys.main.http,
        "main",
        concat!(env!("CARGO_MANIFEST_DIR"), "/src/api"),
    )
    .await;
    for path in ["/api/v1/main/dashboard", "/api/v1/main/stats"] {
        let get = &doc["paths"][path]["get"];
        assert_eq!(get["tags"], json!(["main"]), "{path}");
        // Signed in: the document's default bearer security applies.
        assert_eq!(doc["security"], json!([{"bearer": []}]));
        let ok = &get["responses"]["200"]["content"]["application/json"]["schema"];
        assert!(ok.is_object(), "{path}: a typed 200 answer, got {ok}");
        assert_eq!(
            get["responses"]["401"]["$ref"], "#/components/responses/Unauthorized",
            "{path}"
        );
    }
    // The figures' schemas come from the contract types.
    for schema in ["Kpis", "Stats", "DashboardUser", "Module"] {
        assert!(
            doc["components"]["schemas"][schema].is_object(),
            "{schema} in the document"
        );
    }
}

#[tokio::test]
async fn unknown_query_parameters_are_refused_by_name() {
    let sys = system(Duration::ZERO, true).await;
    let token = sys.token(Role::Admin);
    for path in [
        "/api/v1/main/dashboard?verbose=1",
        "/api/main/dashboard?verbose=1",
        "/api/v1/main/stats?verbose=1",
    ] {
        let res = sys.get(path, &token).await.expect(400);
        assert_eq!(res.code(), "VALIDATION_ERROR", "{path}");
        assert_eq!(
            res.json["error"]["details"]["unknown"],
            json!(["verbose"]),
            "{path}"
        );
    }
    // Nothing was fanned out for a refused request.
    assert_eq!(sys.users.calls.load(std::sync::atomic::Ordering::SeqCst), 0);
    sys.get("/api/v1/main/stats", &token).await.expect(200);
}

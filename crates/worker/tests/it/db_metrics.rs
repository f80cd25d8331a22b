//! Every query goes through the instrumented pool: a read and a write
//! through the API move `db_queries_total{service="worker"}` on /metrics.

use marimo_platform::auth::Role;
use marimo_testkit::{backends, scrape};
use serde_json::json;

use crate::support::{World, token, world};

async fn queries(w: &World, operation: &str) -> f64 {
    let text = w.server.http.get("/metrics").send().await.expect(200).text;
    scrape::db_queries(&text, "worker", operation)
}

#[tokio::test]
async fn reads_and_writes_through_the_api_are_counted() {
    for backend in backends() {
        let w = world(&backend, &[]).await;
        let (_, admin) = token(Role::Admin);
        let http = &w.server.http;

        let selects = queries(&w, "select").await;
        http.get("/api/audit")
            .bearer(&admin)
            .send()
            .await
            .expect(200);
        assert!(queries(&w, "select").await > selects, "{}", w.name());

        let inserts = queries(&w, "insert").await;
        http.post("/api/notifications/webhooks")
            .bearer(&admin)
            .json(json!({
                "url": "http://127.0.0.1:9/hook",
                "event_types": ["shop.order.*"],
                "secret": "a-long-enough-secret-for-hmac",
            }))
            .send()
            .await
            .expect(201);
        assert!(queries(&w, "insert").await > inserts, "{}", w.name());
    }
}

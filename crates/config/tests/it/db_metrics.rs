//! Every query goes through the instrumented pool: a read and a write
//! through the API move `db_queries_total{service="config"}` on /metrics.

use marimo_platform::auth::Role;
use marimo_testkit::{each_backend, scrape};
use serde_json::json;

use crate::support::App;

async fn queries(app: &App, operation: &str) -> f64 {
    let text = app.http().get("/metrics").send().await.expect(200).text;
    scrape::db_queries(&text, "config", operation)
}

#[tokio::test]
async fn reads_and_writes_through_the_api_are_counted() {
    each_backend(|app: App| async move {
        let selects = queries(&app, "select").await;
        app.http()
            .get("/api/config/app_name")
            .bearer(&app.token(Role::User))
            .send()
            .await
            .expect(200);
        assert!(queries(&app, "select").await > selects);

        let inserts = queries(&app, "insert").await;
        app.http()
            .post("/api/config")
            .bearer(&app.admin())
            .json(json!({"key": "metrics_probe", "value": "1"}))
            .send()
            .await
            .expect(200);
        assert!(queries(&app, "insert").await > inserts);
    })
    .await;
}

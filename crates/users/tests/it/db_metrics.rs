//! Every query goes through the instrumented pool: a read and a write
//! through the API move `db_queries_total{service="users"}` on /metrics.

use marimo_testkit::{each_backend, scrape};

use crate::support::App;

async fn queries(app: &App, operation: &str) -> f64 {
    let text = app.http().get("/metrics").send().await.expect(200).text;
    scrape::db_queries(&text, "users", operation)
}

#[tokio::test]
async fn reads_and_writes_through_the_api_are_counted() {
    each_backend(|app: App| async move {
        let admin = app.admin().await;
        let selects = queries(&app, "select").await;
        app.profile(&admin.access).await.expect(200);
        assert!(queries(&app, "select").await > selects);

        let inserts = queries(&app, "insert").await;
        app.register("metrics-probe@example.com", "Probe").await;
        assert!(queries(&app, "insert").await > inserts);
    })
    .await;
}

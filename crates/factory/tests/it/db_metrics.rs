//! Every query goes through the instrumented pool: a read and a stock
//! change through the API move `db_queries_total{service="factory"}` on
//! /metrics.

use marimo_testkit::{each_backend, scrape};

use crate::support::App;

async fn queries(app: &App, operation: &str) -> f64 {
    let text = app.http.get("/metrics").send().await.expect(200).text;
    scrape::db_queries(&text, "factory", operation)
}

#[tokio::test]
async fn reads_and_writes_through_the_api_are_counted() {
    each_backend(|app: App| async move {
        app.raw("PROBE").await;
        let selects = queries(&app, "select").await;
        app.get("/api/factory/items/PROBE").await.expect(200);
        assert!(queries(&app, "select").await > selects);

        let inserts = queries(&app, "insert").await;
        let updates = queries(&app, "update").await;
        app.receive("PROBE", "2", "1.50").await;
        // The move is an insert; the balance changes by a conditional update.
        assert!(queries(&app, "insert").await > inserts);
        assert!(queries(&app, "update").await > updates);
    })
    .await;
}

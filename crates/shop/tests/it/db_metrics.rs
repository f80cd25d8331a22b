//! Every query goes through the instrumented pool: a read and a write
//! through the API move `db_queries_total{service="shop"}` on /metrics.

use marimo_platform::auth::Role;
use marimo_testkit::{each_backend, scrape};
use serde_json::json;

use crate::support::{App, WIDGET, line};

async fn queries(app: &App, operation: &str) -> f64 {
    let text = app.http().get("/metrics").send().await.expect(200).text;
    scrape::db_queries(&text, "shop", operation)
}

#[tokio::test]
async fn reads_and_writes_through_the_api_are_counted() {
    each_backend(|app: App| async move {
        let selects = queries(&app, "select").await;
        app.http()
            .get(&format!("/api/shop/products/{WIDGET}"))
            .send()
            .await
            .expect(200);
        assert!(queries(&app, "select").await > selects);

        let inserts = queries(&app, "insert").await;
        let updates = queries(&app, "update").await;
        let customer = app.user(Role::User);
        app.order(&customer, json!([line(WIDGET, 1)])).await;
        assert!(queries(&app, "insert").await > inserts);
        // The stock reservation is a conditional update.
        assert!(queries(&app, "update").await > updates);
    })
    .await;
}

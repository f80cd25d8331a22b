//! Every query goes through the instrumented pool: a read and a posting
//! through the API move `db_queries_total{service="accounting"}` on
//! /metrics (the posting path and the reports used to bypass it).

use marimo_testkit::{each_backend, scrape};

use crate::support::{App, simple};

async fn queries(app: &App, operation: &str) -> f64 {
    let text = app.http.get("/metrics").send().await.expect(200).text;
    scrape::db_queries(&text, "accounting", operation)
}

#[tokio::test]
async fn reads_postings_and_reports_are_counted() {
    each_backend(|app: App| async move {
        let selects = queries(&app, "select").await;
        app.get("/api/accounting/accounts").await.expect(200);
        assert!(queries(&app, "select").await > selects);

        // The posting path: the entry, its lines, the balances and the
        // number counter are written by inserts (the last two upserts).
        let inserts = queries(&app, "insert").await;
        app.post(simple("2026-03-15", "1010", "3000", "12.50"))
            .await
            .expect(201);
        assert!(queries(&app, "insert").await > inserts);

        let selects = queries(&app, "select").await;
        app.get("/api/accounting/reports/trial-balance?as_of=2026-03-31")
            .await
            .expect(200);
        assert!(queries(&app, "select").await > selects);
    })
    .await;
}

//! Main owns no tables (its `ServiceContext` has no database): the
//! database-metrics check of every service says, for main, that serving
//! the dashboard runs no query of main's own — its /metrics has no
//! `db_queries_total` sample — while the request itself is counted. The
//! queries its fan-out causes are the summary services' (their own
//! db_metrics tests).

use std::time::Duration;

use marimo_platform::auth::Role;
use marimo_testkit::scrape;

use crate::dashboard::system;

#[tokio::test]
async fn the_dashboard_runs_no_query_of_mains_own() {
    let sys = system(Duration::ZERO, true).await;
    let metrics = || async { sys.main.http.get("/metrics").send().await.expect(200).text };
    // The route label is the matched route: the v1 path, whichever
    // spelling (v1 or the deprecated alias) the client used.
    let dashboard = [
        ("service", "main"),
        ("route", "/api/main/dashboard"),
        ("status", "200"),
    ];
    let before = scrape::sample(&metrics().await, "http_requests_total", &dashboard);
    sys.get("/api/main/dashboard", &sys.token(Role::Admin))
        .await
        .expect(200);
    let text = metrics().await;
    let after = scrape::sample(&text, "http_requests_total", &dashboard);
    assert_eq!(after, Some(before.unwrap_or(0.0) + 1.0), "{text}");
    let queries: Vec<_> = scrape::samples(&text)
        .into_iter()
        .filter(|s| s.name.starts_with("db_"))
        .collect();
    assert!(queries.is_empty(), "main ran queries: {queries:?}");
}

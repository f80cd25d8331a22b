//! Tenancy: main has no tables; the dashboard forwards the caller's token,
//! which carries the tenant, and caches per (service, tenant, role), so
//! two tenants' admins asking at once each get their own tenant's figures.

use std::sync::Arc;

use axum::{
    Router,
    http::{HeaderMap, StatusCode},
    routing::get,
};
use marimo_platform::{
    auth::{JwtKeys, Role, jwt::Identity},
    service::ServiceName,
    tenant::TenantId,
};
use marimo_testkit::{self as testkit, Backend, TEST_JWT_SECRET, TestServer};
use serde_json::{Value, json};

/// A fake service whose summary depends on the token's tenant: `figures`
/// maps a tenant id to its body; a tenant it does not know gets 404.
async fn per_tenant(path: &str, figures: Vec<(&'static str, Value)>) -> TestServer {
    let keys = Arc::new(JwtKeys::new(TEST_JWT_SECRET.as_bytes()));
    let figures = Arc::new(figures);
    let handler = move |headers: HeaderMap| {
        let (keys, figures) = (keys.clone(), figures.clone());
        async move {
            let claims = headers
                .get("authorization")
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.strip_prefix("Bearer "))
                .and_then(|t| keys.verify(t).ok());
            let Some(claims) = claims else {
                return (StatusCode::UNAUTHORIZED, axum::Json(json!({})));
            };
            match figures.iter().find(|(t, _)| *t == claims.tid.as_str()) {
                Some((_, body)) => (StatusCode::OK, axum::Json(body.clone())),
                None => (StatusCode::NOT_FOUND, axum::Json(json!({}))),
            }
        }
    };
    testkit::spawn(Router::new().route(path, get(handler))).await
}

fn users(total: i64) -> Value {
    json!({"success": true, "total_users": total, "active_users": total, "by_role": {}})
}
fn accounting(today: &str, currency: &str) -> Value {
    json!({"success": true, "currency": currency, "revenue_today": today, "revenue_month": today,
           "revenue_by_day": [], "entries_posted": 1})
}
fn shop(open: i64) -> Value {
    json!({"success": true, "total_orders": open, "open_orders": open, "pending_orders": 0,
           "orders_by_status": {}, "revenue": {}, "active_products": 1, "low_stock_products": 0})
}
fn factory(in_progress: i64) -> Value {
    json!({"success": true, "work_orders_by_status": {}, "in_progress": in_progress,
           "low_stock": [], "items": 1, "stock_value": "0.00"})
}

fn token(tenant: &str) -> String {
    testkit::sign(&Identity {
        user_id: format!("admin-of-{tenant}"),
        email: format!("admin@{tenant}.example"),
        role: Role::Admin,
        tenant: TenantId::parse(tenant).unwrap(),
    })
}

#[tokio::test]
async fn each_tenant_sees_its_own_figures_even_through_the_cache() {
    let u = per_tenant(
        "/api/users/summary",
        vec![("acme", users(3)), ("globex", users(5))],
    )
    .await;
    let a = per_tenant(
        "/api/accounting/summary",
        vec![
            ("acme", accounting("10.00", "EUR")),
            ("globex", accounting("7.25", "USD")),
        ],
    )
    .await;
    let s = per_tenant(
        "/api/shop/summary",
        vec![("acme", shop(2)), ("globex", shop(9))],
    )
    .await;
    let f = per_tenant(
        "/api/factory/summary",
        vec![("acme", factory(1)), ("globex", factory(4))],
    )
    .await;
    let settings = Backend::Sqlite
        .settings(&[
            ("USERS_URLS", u.url.as_str()),
            ("ACCOUNTING_URLS", a.url.as_str()),
            ("SHOP_URLS", s.url.as_str()),
            ("FACTORY_URLS", f.url.as_str()),
        ])
        .await;
    let ctx = testkit::context(ServiceName::Main, settings).await;
    let main = testkit::spawn(marimo_main::router(ctx).await.expect("main starts")).await;

    let (acme, globex) = (token("acme"), token("globex"));
    // Twice each, at once: the second answers come from the cache, which
    // must not hand one tenant's figures to the other.
    for _ in 0..2 {
        let (ra, rg) = tokio::join!(
            main.http.get("/api/main/dashboard").bearer(&acme).send(),
            main.http.get("/api/main/dashboard").bearer(&globex).send(),
        );
        let (ra, rg) = (ra.expect(200), rg.expect(200));
        assert_eq!(
            ra.json["kpis"],
            json!({"revenue_today": "10.00", "revenue_month": "10.00", "currency": "EUR",
                   "open_orders": 2, "pending_orders": 0, "work_orders_in_progress": 1,
                   "low_stock_items": 0, "users_total": 3})
        );
        assert_eq!(
            rg.json["kpis"],
            json!({"revenue_today": "7.25", "revenue_month": "7.25", "currency": "USD",
                   "open_orders": 9, "pending_orders": 0, "work_orders_in_progress": 4,
                   "low_stock_items": 0, "users_total": 5})
        );
        assert_eq!(ra.json["degraded"], json!([]));
        assert_eq!(rg.json["degraded"], json!([]));
    }
}

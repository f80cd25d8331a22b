//! Dashboard and stats against fake upstreams.

use std::{
    sync::{
        Arc,
        atomic::{AtomicUsize, Ordering},
    },
    time::Duration,
};

use axum::{
    Router,
    http::{HeaderMap, StatusCode},
    routing::get,
};
use marimo_platform::{
    auth::{JwtKeys, Role, jwt::Identity},
    service::ServiceName,
};
use marimo_testkit::{self as testkit, Backend, TEST_JWT_SECRET, TestServer};
use serde_json::{Value, json};

/// A fake service: answers `path` with `body`, after `delay`; refuses
/// callers without a valid token (401) and with a role in `deny` (403).
pub(crate) struct Fake {
    server: TestServer,
    pub(crate) calls: Arc<AtomicUsize>,
}

async fn fake(path: &str, body: Value, delay: Duration, deny: &'static [Role]) -> Fake {
    let calls = Arc::new(AtomicUsize::new(0));
    let counter = calls.clone();
    let keys = Arc::new(JwtKeys::new(TEST_JWT_SECRET.as_bytes()));
    let handler = move |headers: HeaderMap| {
        let counter = counter.clone();
        let keys = keys.clone();
        let body = body.clone();
        async move {
            counter.fetch_add(1, Ordering::SeqCst);
            tokio::time::sleep(delay).await;
            let token = headers
                .get("authorization")
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.strip_prefix("Bearer "));
            let Some(claims) = token.and_then(|t| keys.verify(t).ok()) else {
                return (
                    StatusCode::UNAUTHORIZED,
                    axum::Json(json!({"success": false})),
                );
            };
            if deny.contains(&claims.role) {
                return (StatusCode::FORBIDDEN, axum::Json(json!({"success": false})));
            }
            (StatusCode::OK, axum::Json(body))
        }
    };
    Fake {
        server: testkit::spawn(Router::new().route(path, get(handler))).await,
        calls,
    }
}

fn users_body() -> Value {
    json!({"success": true, "total_users": 7, "active_users": 6, "by_role": {"admin": 1, "user": 6}})
}
fn accounting_body() -> Value {
    json!({"success": true, "currency": "USD", "revenue_today": "120.50", "revenue_month": "980.00",
           "revenue_by_day": [], "entries_posted": 4})
}
fn shop_body() -> Value {
    json!({"success": true, "total_orders": 12, "open_orders": 5, "pending_orders": 3,
           "orders_by_status": {"pending": 3}, "revenue": {"USD": "1234.56"},
           "active_products": 9, "low_stock_products": 1})
}
fn factory_body() -> Value {
    json!({"success": true, "work_orders_by_status": {"started": 2}, "in_progress": 4,
           "low_stock": [{"sku": "A"}, {"sku": "B"}], "items": 20, "stock_value": "500.00"})
}

pub(crate) struct System {
    pub(crate) main: TestServer,
    pub(crate) users: Fake,
    accounting: Fake,
    shop: Fake,
    factory: Option<Fake>,
}

/// A closed port: bound once, then released.
async fn closed_url() -> String {
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", l.local_addr().unwrap());
    drop(l);
    url
}

const NOT_USERS: &[Role] = &[Role::User];

/// Main in front of fakes. `shop_delay` makes the shop slow; without
/// `factory_up` the factory's URL is a closed port.
pub(crate) async fn system(shop_delay: Duration, factory_up: bool) -> System {
    let users = fake(
        "/api/users/summary",
        users_body(),
        Duration::ZERO,
        NOT_USERS,
    )
    .await;
    let accounting = fake(
        "/api/accounting/summary",
        accounting_body(),
        Duration::ZERO,
        &[Role::User, Role::ShopManager],
    )
    .await;
    let shop = fake("/api/shop/summary", shop_body(), shop_delay, NOT_USERS).await;
    let (factory, factory_url) = if factory_up {
        let f = fake(
            "/api/factory/summary",
            factory_body(),
            Duration::ZERO,
            NOT_USERS,
        )
        .await;
        let url = f.server.url.clone();
        (Some(f), url)
    } else {
        (None, closed_url().await)
    };
    let settings = Backend::Sqlite
        .settings(&[
            ("USERS_URLS", users.server.url.as_str()),
            ("ACCOUNTING_URLS", accounting.server.url.as_str()),
            ("SHOP_URLS", shop.server.url.as_str()),
            ("FACTORY_URLS", factory_url.as_str()),
        ])
        .await;
    let ctx = testkit::context(ServiceName::Main, settings).await;
    assert!(ctx.db.is_none(), "main has no database");
    let router = marimo_main::router(ctx).await.expect("main starts");
    System {
        main: testkit::spawn(router).await,
        users,
        accounting,
        shop,
        factory,
    }
}

/// The `key`s of a dashboard's modules, in order.
fn module_keys(body: &Value) -> Vec<&str> {
    body["modules"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["key"].as_str().unwrap())
        .collect()
}

impl System {
    /// `GET path` on main with `token`.
    pub(crate) async fn get(&self, path: &str, token: &str) -> testkit::Res {
        self.main.http.get(path).bearer(token).send().await
    }

    pub(crate) fn token(&self, role: Role) -> String {
        testkit::sign(&Identity {
            user_id: format!("id-{role}"),
            email: format!("{role}@example.com"),
            role,
            tenant: Default::default(),
        })
    }
}

#[tokio::test]
async fn dashboard_composes_the_services_figures() {
    let sys = system(Duration::ZERO, true).await;
    let admin = sys.token(Role::Admin);
    let res = sys.get("/api/main/dashboard", &admin).await.expect(200);
    let b = &res.json;
    assert_eq!(b["success"], true);
    assert_eq!(b["welcome"], "Welcome, admin@example.com");
    assert_eq!(
        b["user"],
        json!({"id": "id-admin", "email": "admin@example.com", "role": "admin"})
    );
    assert_eq!(b["degraded"], json!([]));
    assert_eq!(
        b["kpis"],
        json!({
            "revenue_today": "120.50",
            "revenue_month": "980.00",
            "currency": "USD",
            "open_orders": 5,
            "pending_orders": 3,
            "work_orders_in_progress": 4,
            "low_stock_items": 2,
            "users_total": 7,
        })
    );
    let modules = b["modules"].as_array().unwrap();
    assert_eq!(modules.len(), 7);
    assert!(
        modules
            .iter()
            .all(|m| m["key"].is_string() && m["name"].is_string() && m["path"].is_string())
    );

    let res = sys.get("/api/main/stats", &admin).await.expect(200);
    assert_eq!(res.json["success"], true);
    assert_eq!(res.json["degraded"], json!([]));
    let s = &res.json["stats"];
    assert_eq!(s["total_users"], 7);
    assert_eq!(s["total_orders"], 12);
    assert_eq!(s["total_revenue"], "1234.56");
    assert_eq!(s["active_products"], 9);
}

#[tokio::test]
async fn a_down_and_a_slow_service_degrade_but_never_fail() {
    let sys = system(Duration::from_secs(2), false).await;
    let admin = sys.token(Role::Admin);
    // The shop answers 200 after 2 s: only the 500 ms bound makes it
    // degraded.
    let res = sys.get("/api/main/dashboard", &admin).await.expect(200);
    assert_eq!(res.json["degraded"], json!(["shop", "factory"]));
    let k = &res.json["kpis"];
    assert_eq!(k["users_total"], 7);
    assert_eq!(k["revenue_today"], "120.50");
    assert_eq!(k["revenue_month"], "980.00");
    assert!(k["open_orders"].is_null());
    assert!(k["work_orders_in_progress"].is_null());
    assert!(k["low_stock_items"].is_null());

    let res = sys.get("/api/main/stats", &admin).await.expect(200);
    assert_eq!(res.json["degraded"], json!(["shop", "factory"]));
    assert_eq!(res.json["stats"]["total_users"], 7);
    assert!(res.json["stats"]["total_orders"].is_null());
    assert!(sys.factory.is_none());
}

#[tokio::test]
async fn forbidden_figures_are_omitted_not_degraded() {
    let sys = system(Duration::ZERO, true).await;
    // A customer: every fake refuses them (403), none is down.
    let user = sys.token(Role::User);
    let res = sys.get("/api/main/dashboard", &user).await.expect(200);
    assert_eq!(res.json["degraded"], json!([]));
    assert_eq!(res.json["welcome"], "Welcome, user@example.com");
    assert!(res.json["kpis"]["users_total"].is_null());
    assert!(res.json["kpis"]["revenue_today"].is_null());
    let keys = module_keys(&res.json);
    assert_eq!(keys, ["shop", "orders"]);

    // A shop manager: accounting refuses, the rest answer.
    let sm = sys.token(Role::ShopManager);
    let res = sys.get("/api/main/dashboard", &sm).await.expect(200);
    assert_eq!(res.json["degraded"], json!([]));
    assert!(res.json["kpis"]["revenue_today"].is_null());
    assert_eq!(res.json["kpis"]["open_orders"], 5);
    let keys = module_keys(&res.json);
    assert_eq!(keys, ["shop"]);

    for (role, expected) in [
        (Role::Manager, vec!["dashboard", "factory"]),
        (Role::Accountant, vec!["accounting"]),
    ] {
        let t = sys.token(role);
        let res = sys.get("/api/main/dashboard", &t).await.expect(200);
        let keys = module_keys(&res.json);
        assert_eq!(keys, expected, "{role}");
    }
}

#[tokio::test]
async fn requires_a_signed_in_caller() {
    let sys = system(Duration::ZERO, true).await;
    sys.main
        .http
        .get("/api/main/dashboard")
        .send()
        .await
        .expect(401);
    sys.main
        .http
        .get("/api/main/stats")
        .send()
        .await
        .expect(401);
    sys.main
        .http
        .get("/api/main/stats")
        .bearer("garbage")
        .send()
        .await
        .expect(401);
    assert_eq!(
        sys.users.calls.load(Ordering::SeqCst),
        0,
        "no fan-out for strangers"
    );
}

#[tokio::test]
async fn summaries_are_cached_per_role() {
    let sys = system(Duration::ZERO, true).await;
    let admin = sys.token(Role::Admin);
    for _ in 0..3 {
        sys.get("/api/main/dashboard", &admin).await.expect(200);
    }
    sys.get("/api/main/stats", &admin).await.expect(200);
    for fake in [&sys.users, &sys.accounting, &sys.shop] {
        assert_eq!(fake.calls.load(Ordering::SeqCst), 1, "cached for the role");
    }
    // Another admin shares the entry; another role does not.
    let other_admin = testkit::sign(&Identity {
        user_id: "id-2".into(),
        email: "b@example.com".into(),
        role: Role::Admin,
        tenant: Default::default(),
    });
    sys.get("/api/main/dashboard", &other_admin)
        .await
        .expect(200);
    assert_eq!(sys.users.calls.load(Ordering::SeqCst), 1);
    let manager = sys.token(Role::Manager);
    let res = sys.get("/api/main/dashboard", &manager).await.expect(200);
    assert_eq!(sys.users.calls.load(Ordering::SeqCst), 2);
    assert_eq!(res.json["kpis"]["users_total"], 7);
}

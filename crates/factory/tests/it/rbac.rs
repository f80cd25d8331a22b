//! Who may do what: managers and admins everything; accountants and shop
//! managers read items and stock (and the summary); users nothing; no
//! token is 401.

use marimo_platform::auth::Role;
use marimo_testkit::{each_backend, token_for};
use serde_json::json;

use crate::support::App;

const READ_STOCK: &[&str] = &[
    "/api/factory/items",
    "/api/factory/items/RAW",
    "/api/factory/units",
    "/api/factory/warehouses",
    "/api/factory/stock",
    "/api/factory/stock/moves",
    "/api/factory/summary",
];

const READ_PRODUCTION: &[&str] = &[
    "/api/factory/boms",
    "/api/factory/work-orders",
    "/api/factory/products",
    "/api/factory/orders",
];

const WRITES: &[&str] = &[
    "/api/factory/items",
    "/api/factory/warehouses",
    "/api/factory/stock/receipts",
    "/api/factory/stock/issues",
    "/api/factory/stock/adjustments",
    "/api/factory/stock/transfers",
    "/api/factory/boms",
    "/api/factory/work-orders",
    "/api/factory/products",
    "/api/factory/orders",
];

#[tokio::test]
async fn roles_are_enforced_on_every_endpoint() {
    each_backend(|app: App| async move {
        app.raw("RAW").await;
        let get = |path: &str, t: Option<String>| {
            let mut req = app.http.get(path);
            if let Some(t) = t {
                req = req.bearer(&t);
            }
            req.send()
        };
        for path in READ_STOCK.iter().chain(READ_PRODUCTION) {
            get(path, None).await.expect(401);
            let r = get(path, Some(token_for(Role::User))).await.expect(403);
            assert_eq!(r.code(), "FORBIDDEN");
            for role in [Role::Admin, Role::Manager] {
                get(path, Some(token_for(role))).await.expect(200);
            }
        }
        for role in [Role::Accountant, Role::ShopManager] {
            for path in READ_STOCK {
                get(path, Some(token_for(role))).await.expect(200);
            }
            for path in READ_PRODUCTION {
                get(path, Some(token_for(role))).await.expect(403);
            }
        }
        get("/api/factory/items", Some("not-a-jwt".into()))
            .await
            .expect(401);

        // Writes: checked before the body is read, so even an empty body
        // gets 401/403 rather than a validation error.
        for path in WRITES {
            app.http.post(path).json(json!({})).send().await.expect(401);
            for role in [Role::User, Role::Accountant, Role::ShopManager] {
                app.http
                    .post(path)
                    .bearer(&token_for(role))
                    .json(json!({}))
                    .send()
                    .await
                    .expect(403);
            }
            app.http
                .post(path)
                .bearer(&token_for(Role::Admin))
                .json(json!({}))
                .send()
                .await
                .expect(400);
        }
        for role in [Role::User, Role::Accountant, Role::ShopManager] {
            app.http
                .put("/api/factory/items/RAW")
                .bearer(&token_for(role))
                .json(json!({"name": "x"}))
                .send()
                .await
                .expect(403);
            app.http
                .post("/api/factory/work-orders/0190a0a0-0000-7000-8000-000000000000/release")
                .bearer(&token_for(role))
                .send()
                .await
                .expect(403);
        }
        // An admin writes like a manager.
        app.http
            .post("/api/factory/stock/receipts")
            .bearer(&token_for(Role::Admin))
            .json(json!({"sku": "RAW", "qty": 1, "unit_cost": 1}))
            .send()
            .await
            .expect(201);
    })
    .await;
}

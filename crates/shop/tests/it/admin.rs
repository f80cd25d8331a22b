//! Admin endpoints: product management, RBAC, deactivate-not-delete, the
//! order list with filters, and the dashboard summary.

use marimo_platform::auth::Role;
use marimo_testkit::each_backend;
use serde_json::{Value, json};

use crate::support::{App, GADGET, WIDGET, line};

async fn send(
    app: &App,
    method: &str,
    path: &str,
    token: Option<&str>,
    body: Option<Value>,
) -> marimo_testkit::Res {
    let mut req = match method {
        "GET" => app.http().get(path),
        "POST" => app.http().post(path),
        "PUT" => app.http().put(path),
        _ => app.http().delete(path),
    };
    if let Some(t) = token {
        req = req.bearer(t);
    }
    if let Some(b) = body {
        req = req.json(b);
    }
    req.send().await
}

#[tokio::test]
async fn admin_endpoints_check_roles() {
    each_backend(|app: App| async move {
        let product = format!("/api/shop/admin/products/{WIDGET}");
        let restock = format!("{product}/restock");
        let endpoints: Vec<(&str, String, Option<Value>)> = vec![
            ("GET", "/api/shop/admin/products".into(), None),
            (
                "POST",
                "/api/shop/admin/products".into(),
                Some(json!({"name": "X", "price": "1"})),
            ),
            ("PUT", product.clone(), Some(json!({"name": "Renamed"}))),
            ("POST", restock.clone(), Some(json!({"quantity": 1}))),
            ("GET", "/api/shop/admin/orders".into(), None),
            ("GET", "/api/shop/admin/settings".into(), None),
            ("DELETE", product.clone(), None),
        ];
        for (method, path, body) in &endpoints {
            let res = send(&app, method, path, None, body.clone()).await;
            assert_eq!(res.status, 401, "{method} {path}");
            assert_eq!(res.json["success"], false);
            for role in [Role::User, Role::Manager, Role::Accountant] {
                let res = send(
                    &app,
                    method,
                    path,
                    Some(&app.user(role).token),
                    body.clone(),
                )
                .await;
                assert_eq!(res.status, 403, "{role} {method} {path}: {}", res.text);
                assert_eq!(res.code(), "FORBIDDEN");
            }
        }
        // Nothing changed by the refused calls.
        assert_eq!(app.stock(WIDGET).await, 50);
        let staff = app.user(Role::ShopManager);
        for (method, path, body) in &endpoints {
            let res = send(&app, method, path, Some(&staff.token), body.clone()).await;
            assert!(
                res.status == 200 || res.status == 201,
                "{method} {path}: {}",
                res.text
            );
        }
        // The summary: dashboard readers only.
        for role in [
            Role::Admin,
            Role::Manager,
            Role::Accountant,
            Role::ShopManager,
        ] {
            send(
                &app,
                "GET",
                "/api/shop/summary",
                Some(&app.user(role).token),
                None,
            )
            .await
            .expect(200);
        }
        send(
            &app,
            "GET",
            "/api/shop/summary",
            Some(&app.user(Role::User).token),
            None,
        )
        .await
        .expect(403);
        send(&app, "GET", "/api/shop/summary", None, None)
            .await
            .expect(401);
    })
    .await;
}

#[tokio::test]
async fn products_are_created_changed_and_restocked_with_validation() {
    each_backend(|app: App| async move {
        let admin = app.user(Role::ShopManager);
        let tok = Some(admin.token.as_str());
        let res = send(
            &app,
            "POST",
            "/api/shop/admin/products",
            tok,
            Some(json!({
                "name": "Gizmo", "description": "Small", "price": 12.5, "stock": 4,
                "category": "Tools", "image_url": "https://cdn.example/g.png", "sku": "GIZMO-1"
            })),
        )
        .await
        .expect(201);
        assert_eq!(res.json["success"], true);
        let p = &res.json["product"];
        assert_eq!(
            (p["price"].as_str(), p["stock"].as_i64(), p["sku"].as_str()),
            (Some("12.50"), Some(4), Some("GIZMO-1"))
        );
        let id = p["id"].as_str().unwrap().to_owned();
        let path = format!("/api/shop/admin/products/{id}");

        for bad in [
            json!({"price": "1"}),
            json!({"name": "X"}),
            json!({"name": "X", "price": "abc"}),
            json!({"name": "X", "price": "-1"}),
            json!({"name": "X", "price": "0"}),
            json!({"name": "X", "price": "1.001"}),
            json!({"name": "X", "price": "1", "stock": -1}),
            json!({"name": "X", "price": "1", "stock": 1.5}),
            json!({"name": "X", "price": "1", "currency": "DOGE"}),
            json!({"name": "X", "price": "1", "image_url": "javascript:alert(1)"}),
            json!({"name": "X", "price": "1", "sku": "has space"}),
            json!({"name": "X", "price": "1", "active": "yes"}),
        ] {
            let res = send(
                &app,
                "POST",
                "/api/shop/admin/products",
                tok,
                Some(bad.clone()),
            )
            .await;
            assert_eq!(res.status, 400, "{bad}: {}", res.text);
        }
        // A taken sku is a conflict.
        let res = send(
            &app,
            "POST",
            "/api/shop/admin/products",
            tok,
            Some(json!({"name": "Copy", "price": "1", "sku": "GIZMO-1"})),
        )
        .await
        .expect(409);
        assert_eq!(res.json["error"]["details"]["field"], "sku");
        send(
            &app,
            "PUT",
            &path,
            tok,
            Some(json!({"sku": "WIDGET-PREMIUM"})),
        )
        .await
        .expect(409);

        // Partial changes.
        let res = send(
            &app,
            "PUT",
            &path,
            tok,
            Some(json!({"price": "13.75", "description": "Still small"})),
        )
        .await
        .expect(200);
        let p = &res.json["product"];
        assert_eq!(
            (p["price"].as_str(), p["name"].as_str(), p["stock"].as_i64()),
            (Some("13.75"), Some("Gizmo"), Some(4))
        );
        assert_eq!(p["description"], "Still small");
        assert_eq!(p["sku"], "GIZMO-1");
        for bad in [
            json!({"price": "x"}),
            json!({"price": "-2"}),
            json!({"stock": -5}),
            json!({"name": " "}),
            json!({"currency": "JPY"}),
        ] {
            let res = send(&app, "PUT", &path, tok, Some(bad.clone())).await;
            assert_eq!(res.status, 400, "{bad}: {}", res.text);
        }
        let res = send(
            &app,
            "PUT",
            &path,
            tok,
            Some(json!({"stock": 9, "sku": null})),
        )
        .await
        .expect(200);
        assert_eq!(
            (
                res.json["product"]["stock"].as_i64(),
                res.json["product"]["sku"].clone()
            ),
            (Some(9), Value::Null)
        );
        send(
            &app,
            "PUT",
            "/api/shop/admin/products/nope",
            tok,
            Some(json!({"name": "Y"})),
        )
        .await
        .expect(404);
        send(
            &app,
            "PUT",
            "/api/shop/admin/products/0193a0c0-0000-7000-8000-0000000000ff",
            tok,
            Some(json!({"name": "Y"})),
        )
        .await
        .expect(404);

        // Restock adds.
        let res = send(
            &app,
            "POST",
            &format!("{path}/restock"),
            tok,
            Some(json!({"quantity": 6})),
        )
        .await
        .expect(200);
        assert_eq!(res.json["product"]["stock"], 15);
        for bad in [
            json!({"quantity": 0}),
            json!({"quantity": -3}),
            json!({"quantity": "many"}),
            json!({}),
        ] {
            send(&app, "POST", &format!("{path}/restock"), tok, Some(bad))
                .await
                .expect(400);
        }
        send(
            &app,
            "POST",
            "/api/shop/admin/products/nope/restock",
            tok,
            Some(json!({"quantity": 1})),
        )
        .await
        .expect(404);
        assert_eq!(app.stock(&id).await, 15);

        // Deactivated products leave the public catalog but not the admin's.
        send(&app, "PUT", &path, tok, Some(json!({"active": false})))
            .await
            .expect(200);
        app.http()
            .get(&format!("/api/shop/products/{id}"))
            .send()
            .await
            .expect(404);
        let res = app
            .http()
            .get(&format!("/api/shop/products/{id}"))
            .bearer(&admin.token)
            .send()
            .await
            .expect(200);
        assert_eq!(res.json["active"], false);
        let res = send(&app, "GET", "/api/shop/admin/products?q=gizmo", tok, None)
            .await
            .expect(200);
        assert_eq!(res.json["total"], 1);
    })
    .await;
}

#[tokio::test]
async fn ordered_products_are_deactivated_not_deleted() {
    each_backend(|app: App| async move {
        let admin = app.user(Role::Admin);
        let tok = Some(admin.token.as_str());
        let ann = app.user(Role::User);
        let order = app.order(&ann, json!([line(GADGET, 1)])).await;

        let res = send(
            &app,
            "DELETE",
            &format!("/api/shop/admin/products/{GADGET}"),
            tok,
            None,
        )
        .await
        .expect(200);
        assert_eq!(res.json["success"], true);
        assert_eq!(res.json["deactivated"], true);
        assert!(res.json["message"].is_string());
        app.http()
            .get(&format!("/api/shop/products/{GADGET}"))
            .send()
            .await
            .expect(404);
        assert_eq!(app.scalar("SELECT COUNT(*) FROM products").await, 2);
        // The order keeps its snapshot, and nobody can order it now.
        let res = app
            .http()
            .get(&format!(
                "/api/shop/orders/{}",
                order["id"].as_str().unwrap()
            ))
            .bearer(&ann.token)
            .send()
            .await
            .expect(200);
        assert_eq!(res.json["items"][0]["name"], "Deluxe Gadget");
        assert_eq!(res.json["items"][0]["price"], "49.99");
        app.place(&ann, json!([line(GADGET, 1)])).await.expect(422);
        // The order can still be cancelled, returning its unit.
        app.act(&ann, order["id"].as_str().unwrap(), "cancel")
            .await
            .expect(200);
        assert_eq!(app.stock(GADGET).await, 30);

        // A product nobody ordered is deleted.
        let fresh = app.product(json!({"name": "Unloved", "price": "2"})).await;
        let path = format!("/api/shop/admin/products/{}", fresh["id"].as_str().unwrap());
        let res = send(&app, "DELETE", &path, tok, None).await.expect(200);
        assert_eq!(res.json["deactivated"], false);
        app.http()
            .get(&format!(
                "/api/shop/products/{}",
                fresh["id"].as_str().unwrap()
            ))
            .bearer(&admin.token)
            .send()
            .await
            .expect(404);
        send(&app, "DELETE", &path, tok, None).await.expect(404);
        send(
            &app,
            "DELETE",
            "/api/shop/admin/products/garbage",
            tok,
            None,
        )
        .await
        .expect(404);
    })
    .await;
}

#[tokio::test]
async fn admin_order_list_filters_and_the_summary_adds_up() {
    each_backend(|app: App| async move {
        let admin = app.user(Role::Admin);
        let tok = Some(admin.token.as_str());
        let ann = app.user(Role::User);
        let bob = app.user(Role::User);
        let a1 = app.order(&ann, json!([line(WIDGET, 1)])).await; // pending
        let a2 = app.order(&ann, json!([line(GADGET, 2)])).await; // paid
        app.act(&app.user(Role::ShopManager), a2["id"].as_str().unwrap(), "pay").await.expect(200);
        let b1 = app.order(&bob, json!([line(WIDGET, 3)])).await; // shipped
        app.act(&app.user(Role::ShopManager), b1["id"].as_str().unwrap(), "pay").await.expect(200);
        app.act(&admin, b1["id"].as_str().unwrap(), "ship").await.expect(200);
        let b2 = app.order(&bob, json!([line(WIDGET, 1)])).await; // cancelled
        app.act(&bob, b2["id"].as_str().unwrap(), "cancel").await.expect(200);
        // A product low on stock.
        app.product(json!({"name": "Rare", "price": "1", "stock": 2})).await;

        let list = |q: String| {
            let app = &app;
            async move { send(app, "GET", &format!("/api/shop/admin/orders{q}"), tok, None).await.expect(200).json }
        };
        let all = list(String::new()).await;
        assert_eq!(all["total"], 4);
        assert_eq!(all["orders"][0]["id"], b2["id"], "newest first");
        assert_eq!(list("?status=paid".into()).await["orders"][0]["id"], a2["id"]);
        assert_eq!(list(format!("?user_id={}", bob.id)).await["total"], 2);
        assert_eq!(list(format!("?user_id={}&status=shipped", bob.id)).await["orders"][0]["id"], b1["id"]);
        let created = a2["created_at"].as_str().unwrap();
        let from = list(format!("?from={created}")).await;
        assert_eq!(from["total"], 3);
        let to = list(format!("?to={created}")).await;
        assert_eq!(to["total"], 2);
        let today = &created[..10];
        assert_eq!(list(format!("?from={today}&to={today}")).await["total"], 4);
        assert_eq!(list("?to=2000-01-01".into()).await["total"], 0);
        assert_eq!(list("?limit=1&page=4".into()).await["orders"][0]["id"], a1["id"]);
        for bad in ["?status=lost", "?from=yesterday", "?to=2026-13-45", "?limit=0"] {
            send(&app, "GET", &format!("/api/shop/admin/orders{bad}"), tok, None).await.expect(400);
        }

        let s = send(&app, "GET", "/api/shop/summary", Some(&app.user(Role::Accountant).token), None)
            .await
            .expect(200)
            .json;
        assert_eq!(s["success"], true);
        assert_eq!(s["total_orders"], 4);
        assert_eq!(s["open_orders"], 3);
        assert_eq!(s["pending_orders"], 1);
        assert_eq!(
            s["orders_by_status"],
            json!({"pending": 1, "paid": 1, "shipped": 1, "delivered": 0, "cancelled": 1, "expired": 0})
        );
        // Paid 2 × 49.99 + shipped 3 × 29.99.
        assert_eq!(s["revenue"], json!({"USD": "189.95"}));
        assert_eq!(s["active_products"], 3);
        assert_eq!(s["low_stock_products"], 1);
    })
    .await;
}

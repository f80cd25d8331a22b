//! Placing orders: catalog prices, validation, totals with tax from the
//! config service's event, idempotency, and who can read an order.

use marimo_platform::{auth::Role, service::ServiceName};
use marimo_testkit::each_backend;
use serde_json::json;

use crate::support::{App, GADGET, WIDGET, line};

#[tokio::test]
async fn the_catalog_price_is_charged_whatever_the_client_sends() {
    each_backend(|app: App| async move {
        let user = app.user(Role::User);
        let res = app
            .place(
                &user,
                json!([{"product_id": WIDGET, "quantity": 2, "price": "0.01"},
                       {"product_id": GADGET, "quantity": 1, "price": 0}]),
            )
            .await
            .expect(201);
        assert_eq!(res.json["success"], true);
        assert!(res.json["message"].is_string());
        let order = &res.json["order"];
        assert_eq!(order["user_id"], user.id.as_str());
        assert_eq!(order["status"], "pending");
        assert_eq!(order["currency"], "USD");
        assert_eq!(order["items"][0]["product_id"], WIDGET);
        assert_eq!(order["items"][0]["name"], "Premium Widget");
        assert_eq!(order["items"][0]["quantity"], 2);
        assert_eq!(order["items"][0]["price"], "29.99");
        assert_eq!(order["items"][0]["line_total"], "59.98");
        assert_eq!(order["items"][1]["price"], "49.99");
        assert_eq!(order["subtotal"], "109.97");
        assert_eq!(order["tax"], "0.00");
        assert_eq!(order["total"], "109.97");
        for field in ["id", "created_at", "expires_at"] {
            assert!(order[field].is_string(), "{field}");
        }
        assert!(order["expires_at"].as_str() > order["created_at"].as_str());
        assert_eq!(app.stock(WIDGET).await, 48);
        assert_eq!(app.stock(GADGET).await, 29);
        // Stored as charged.
        let stored: i64 = sqlx::query_scalar("SELECT total FROM orders WHERE id = $1")
            .bind(order["id"].as_str().unwrap())
            .fetch_one(app.pool())
            .await
            .unwrap();
        assert_eq!(stored, 10997);
    })
    .await;
}

#[tokio::test]
async fn tax_comes_from_the_config_event_without_a_restart() {
    each_backend(|app: App| async move {
        let user = app.user(Role::User);
        let before = app.order(&user, json!([line(WIDGET, 1)])).await;
        assert_eq!(
            (before["tax"].clone(), before["tax_rate"].clone()),
            (json!("0.00"), json!("0"))
        );

        let config = app.peer(ServiceName::Config).await;
        app.set_setting(&config, "tax_rate", "8.25", 1).await;
        // 2 × 29.99 + 49.99 = 109.97; 8.25 % = 9.072525 → 9.07.
        let order = app
            .order(&user, json!([line(WIDGET, 2), line(GADGET, 1)]))
            .await;
        assert_eq!(order["subtotal"], "109.97");
        assert_eq!(order["tax"], "9.07");
        assert_eq!(order["total"], "119.04");
        assert_eq!(order["tax_rate"], "8.25");

        // Half a cent rounds away from zero: 10.00 × 8.25 % = 0.825 → 0.83.
        let ten = app
            .product(json!({"name": "Ten", "price": "10.00", "stock": 5}))
            .await;
        let order = app
            .order(&user, json!([line(ten["id"].as_str().unwrap(), 1)]))
            .await;
        assert_eq!(
            (order["tax"].clone(), order["total"].clone()),
            (json!("0.83"), json!("10.83"))
        );

        // An older version arriving late changes nothing; a newer one does.
        app.set_setting(&config, "tax_rate", "5", 3).await;
        crate::support::publish(
            &config,
            marimo_platform::bus::Envelope::new(
                "config",
                "config.setting.changed",
                json!({"key": "tax_rate", "version": 2, "value": "99"}),
            ),
        )
        .await;
        // The stale event is consumed (processed) but not applied.
        app.set_setting(&config, "order_ttl_minutes", "45", 1).await;
        let order = app.order(&user, json!([line(WIDGET, 1)])).await;
        assert_eq!(order["tax_rate"], "5");
        assert_eq!(order["tax"], "1.50"); // 29.99 × 5 % = 1.4995 → 1.50
        // The earlier order keeps the rate it was placed with.
        let again = app
            .http()
            .get(&format!(
                "/api/shop/orders/{}",
                before["id"].as_str().unwrap()
            ))
            .bearer(&user.token)
            .send()
            .await
            .expect(200);
        assert_eq!(again.json["tax"], "0.00");
    })
    .await;
}

#[tokio::test]
async fn requests_are_validated_and_nothing_changes_on_refusal() {
    each_backend(|app: App| async move {
        let user = app.user(Role::User);
        for (items, status) in [
            (json!([line(WIDGET, 0)]), 400),
            (json!([line(WIDGET, 1001)]), 400),
            (json!([line(WIDGET, -1)]), 400),
            (json!([{"product_id": WIDGET, "quantity": 1.5}]), 400),
            (json!([{"product_id": WIDGET}]), 400),
            (json!([{"quantity": 1}]), 400),
            (json!([]), 400),
            (json!("nope"), 400),
            (json!([line(WIDGET, 600), line(WIDGET, 600)]), 400),
        ] {
            let res = app.place(&user, items.clone()).await;
            assert_eq!(res.status, status, "{items}: {}", res.text);
            assert_eq!(res.code(), "VALIDATION_ERROR");
        }
        let many: Vec<_> = (0..101).map(|_| line(WIDGET, 1)).collect();
        app.place(&user, json!(many)).await.expect(400);
        // Duplicate lines are merged.
        let merged = app
            .order(
                &user,
                json!([line(WIDGET, 2), line(GADGET, 1), line(WIDGET, 3)]),
            )
            .await;
        assert_eq!(merged["items"].as_array().unwrap().len(), 2);
        assert_eq!(merged["items"][0]["quantity"], 5);
        assert_eq!(app.stock(WIDGET).await, 45);

        // Unknown products: 422 naming them; nothing reserved.
        let unknown = "0193a0c0-0000-7000-8000-00000000dead";
        let res = app
            .place(&user, json!([line(WIDGET, 1), line(unknown, 1)]))
            .await
            .expect(422);
        assert_eq!(res.code(), "PRODUCT_UNAVAILABLE");
        assert_eq!(res.json["error"]["details"]["product_id"], unknown);
        assert!(res.json["message"].as_str().unwrap().contains(unknown));
        let res = app.place(&user, json!([line("42", 1)])).await.expect(422);
        assert_eq!(res.json["error"]["details"]["product_id"], "42");
        assert_eq!(app.stock(WIDGET).await, 45);

        // Inactive products: 422 naming them.
        let old = app
            .product(json!({"name": "Old Thing", "price": "3", "stock": 9, "active": false}))
            .await;
        let res = app
            .place(&user, json!([line(old["id"].as_str().unwrap(), 1)]))
            .await
            .expect(422);
        assert_eq!(res.json["error"]["details"]["reason"], "inactive");
        assert!(res.json["message"].as_str().unwrap().contains("Old Thing"));

        // One order, one currency.
        let yen = app
            .product(json!({"name": "Yen", "price": "100", "currency": "JPY", "stock": 5}))
            .await;
        let res = app
            .place(
                &user,
                json!([line(WIDGET, 1), line(yen["id"].as_str().unwrap(), 1)]),
            )
            .await
            .expect(422);
        assert_eq!(res.code(), "MIXED_CURRENCIES");
        assert_eq!(app.stock(WIDGET).await, 45);
        assert_eq!(app.stock(yen["id"].as_str().unwrap()).await, 5);
        let order = app
            .order(&user, json!([line(yen["id"].as_str().unwrap(), 2)]))
            .await;
        assert_eq!(
            (order["currency"].clone(), order["total"].clone()),
            (json!("JPY"), json!("200"))
        );

        // Not enough stock: 409 with what is available; all or nothing.
        let res = app
            .place(&user, json!([line(WIDGET, 1), line(GADGET, 31)]))
            .await
            .expect(409);
        assert_eq!(res.code(), "INSUFFICIENT_STOCK");
        let d = &res.json["error"]["details"];
        assert_eq!(d["product_id"], GADGET);
        assert_eq!(d["name"], "Deluxe Gadget");
        assert_eq!(d["available"], 29);
        assert_eq!(d["requested"], 31);
        assert!(
            res.json["message"]
                .as_str()
                .unwrap()
                .contains("Deluxe Gadget")
        );
        assert_eq!(app.stock(WIDGET).await, 45);
        assert_eq!(app.stock(GADGET).await, 29);

        // Signed-in only; any role may order; bodies must be JSON.
        app.http()
            .post("/api/shop/orders")
            .json(json!({"items": [line(WIDGET, 1)]}))
            .send()
            .await
            .expect(401);
        app.http()
            .post("/api/shop/orders")
            .bearer("garbage")
            .json(json!({"items": [line(WIDGET, 1)]}))
            .send()
            .await
            .expect(401);
        app.order(&app.user(Role::Accountant), json!([line(WIDGET, 1)]))
            .await;
        let res = app
            .http()
            .post("/api/shop/orders")
            .bearer(&user.token)
            .header("content-type", "application/json")
            .body("{\"items\": [")
            .send()
            .await
            .expect(400);
        assert_eq!(res.code(), "INVALID_JSON");
        app.http()
            .post("/api/shop/orders")
            .bearer(&user.token)
            .body("items")
            .send()
            .await
            .expect(415);
        let orders = app.scalar("SELECT COUNT(*) FROM orders").await;
        assert_eq!(orders, 3);
    })
    .await;
}

#[tokio::test]
async fn an_idempotency_key_replays_the_same_answer() {
    each_backend(|app: App| async move {
        let user = app.user(Role::User);
        let body = json!({"items": [line(WIDGET, 2)]});
        let send = |user: &crate::support::User, key: &str, body: serde_json::Value| {
            app.http()
                .post("/api/shop/orders")
                .bearer(&user.token)
                .header("Idempotency-Key", key)
                .json(body)
                .send()
        };
        let first = send(&user, "key-1", body.clone()).await.expect(201);
        let again = send(&user, "key-1", body.clone()).await.expect(201);
        assert_eq!(first.text, again.text, "same body, byte for byte");
        assert_eq!(again.header("idempotent-replayed"), Some("true"));
        assert_eq!(first.header("idempotent-replayed"), None);
        assert_eq!(app.stock(WIDGET).await, 48, "reserved once");
        assert_eq!(app.scalar("SELECT COUNT(*) FROM orders").await, 1);
        assert_eq!(app.events("shop.order.placed").await.len(), 1);

        // The same key with another body is refused.
        let res = send(&user, "key-1", json!({"items": [line(WIDGET, 3)]}))
            .await
            .expect(422);
        assert_eq!(res.code(), "IDEMPOTENCY_KEY_REUSED");
        // Keys belong to a user: another user's same key is a new order.
        let other = app.user(Role::User);
        let theirs = send(&other, "key-1", body.clone()).await.expect(201);
        assert_ne!(theirs.json["order"]["id"], first.json["order"]["id"]);
        // A refused placement does not use up its key.
        let res = send(&user, "key-2", json!({"items": [line(WIDGET, 1000)]})).await;
        assert_eq!(res.status, 409);
        let ok = send(&user, "key-2", json!({"items": [line(WIDGET, 1)]}))
            .await
            .expect(201);
        assert_eq!(ok.json["order"]["items"][0]["quantity"], 1);
        // Keys must be sane.
        send(&user, "", body.clone()).await.expect(400);
        send(&user, &"k".repeat(256), body.clone())
            .await
            .expect(400);

        // Concurrent retries with one key create one order.
        let tasks: Vec<_> = (0..8)
            .map(|_| {
                let http = app.http().clone();
                let token = user.token.clone();
                tokio::spawn(async move {
                    http.post("/api/shop/orders")
                        .bearer(&token)
                        .header("Idempotency-Key", "key-3")
                        .json(json!({"items": [line(GADGET, 1)]}))
                        .send()
                        .await
                })
            })
            .collect();
        let mut ids = Vec::new();
        for t in tasks {
            let res = t.await.unwrap().expect(201);
            ids.push(res.json["order"]["id"].clone());
        }
        ids.dedup();
        assert_eq!(ids.len(), 1);
        assert_eq!(app.stock(GADGET).await, 29);
    })
    .await;
}

#[tokio::test]
async fn orders_are_visible_to_their_owner_and_staff_only() {
    each_backend(|app: App| async move {
        let ann = app.user(Role::User);
        let bob = app.user(Role::User);
        let order = app.order(&ann, json!([line(WIDGET, 1)])).await;
        let id = order["id"].as_str().unwrap();
        let path = format!("/api/shop/orders/{id}");

        let res = app
            .http()
            .get(&path)
            .bearer(&ann.token)
            .send()
            .await
            .expect(200);
        // The order itself at the top level, with history and payments.
        assert_eq!(res.json["success"], true);
        assert_eq!(res.json["id"], id);
        assert_eq!(res.json["email"], ann.email.as_str());
        assert_eq!(res.json["history"][0]["to"], "pending");
        assert_eq!(res.json["payments"], json!([]));
        for role in [Role::ShopManager, Role::Admin] {
            app.http()
                .get(&path)
                .bearer(&app.user(role).token)
                .send()
                .await
                .expect(200);
        }
        // Anyone else: as if it did not exist.
        for role in [Role::User, Role::Manager, Role::Accountant] {
            let res = app
                .http()
                .get(&path)
                .bearer(&app.user(role).token)
                .send()
                .await;
            assert_eq!(res.status, 404, "{role}");
        }
        for action in ["pay", "cancel", "ship"] {
            let res = app.act(&bob, id, action).await;
            assert_eq!(res.status, 404, "{action}");
        }
        app.http().get(&path).send().await.expect(401);
        for bad in ["x", "0193a0c0-0000-7000-8000-00000000beef"] {
            app.http()
                .get(&format!("/api/shop/orders/{bad}"))
                .bearer(&ann.token)
                .send()
                .await
                .expect(404);
            app.act(&ann, bad, "pay").await.expect(404);
        }

        // The caller's own list, newest first.
        let second = app.order(&ann, json!([line(GADGET, 1)])).await;
        app.order(&bob, json!([line(GADGET, 1)])).await;
        let mine = app
            .http()
            .get("/api/shop/orders")
            .bearer(&ann.token)
            .send()
            .await
            .expect(200);
        assert_eq!(mine.json["total"], 2);
        assert_eq!(mine.json["orders"][0]["id"], second["id"]);
        assert_eq!(mine.json["orders"][1]["id"], order["id"]);
        assert_eq!(mine.json["orders"][1]["items"][0]["name"], "Premium Widget");
        let page = app
            .http()
            .get("/api/shop/orders?limit=1&page=2")
            .bearer(&ann.token)
            .send()
            .await
            .expect(200);
        assert_eq!(page.json["orders"].as_array().unwrap().len(), 1);
        assert_eq!(page.json["orders"][0]["id"], order["id"]);
        assert_eq!(page.json["page"], 2);
        let pending = app
            .http()
            .get("/api/shop/orders?status=paid")
            .bearer(&ann.token)
            .send()
            .await
            .expect(200);
        assert_eq!(pending.json["total"], 0);
        app.http()
            .get("/api/shop/orders?status=lost")
            .bearer(&ann.token)
            .send()
            .await
            .expect(400);
    })
    .await;
}

#[tokio::test]
async fn an_order_racing_a_price_change_is_never_charged_the_old_price() {
    each_backend(|app: App| async move {
        let user = app.user(Role::User);
        // An admin's change, uncommitted: on PostgreSQL it holds the row
        // lock the reservation needs; on SQLite the write lock.
        let mut admin_tx = app.ctx.db().begin().await.unwrap();
        sqlx::query("UPDATE products SET price = 3100 WHERE id = $1")
            .bind(WIDGET)
            .execute(&mut *admin_tx)
            .await
            .unwrap();
        let http = app.http().clone();
        let token = user.token.clone();
        let order = tokio::spawn(async move {
            http.post("/api/shop/orders")
                .bearer(&token)
                .json(json!({"items": [line(WIDGET, 1)]}))
                .send()
                .await
        });
        tokio::time::sleep(std::time::Duration::from_millis(500)).await;
        admin_tx.commit().await.unwrap();
        let res = order.await.unwrap();
        match res.status {
            // PostgreSQL: priced from the old row, the locked row says
            // otherwise: nothing placed.
            409 => {
                assert_eq!(res.code(), "PRICE_CHANGED", "{}", res.text);
                assert_eq!(app.stock(WIDGET).await, 50);
                assert_eq!(app.scalar("SELECT COUNT(*) FROM orders").await, 0);
            }
            // SQLite: the order waited for the write lock and read the new price.
            201 => assert_eq!(res.json["order"]["items"][0]["price"], "31.00"),
            other => panic!("{}: unexpected {other}: {}", app.backend, res.text),
        }
        eprintln!("{}: racing order answered {}", app.backend, res.status);
        // Either way the next order pays the new price.
        let order = app.order(&user, json!([line(WIDGET, 1)])).await;
        assert_eq!(order["items"][0]["price"], "31.00");
    })
    .await;
}

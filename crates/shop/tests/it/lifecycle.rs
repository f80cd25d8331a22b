//! The order lifecycle: every legal transition with its effects, every
//! illegal one (409), who may do what, cancellation and expiry releasing
//! stock.

use marimo_platform::{auth::Role, service::ServiceName};
use marimo_testkit::{each_backend, eventually};
use serde_json::{Value, json};

use crate::support::{App, GADGET, User, WIDGET, line};

async fn payments(app: &App, order_id: &str) -> Vec<(String, i64)> {
    let rows: Vec<(String, i64)> =
        sqlx::query_as("SELECT kind, amount FROM payments WHERE order_id = $1 ORDER BY id")
            .bind(order_id)
            .fetch_all(app.pool())
            .await
            .unwrap();
    rows
}

async fn status(app: &App, who: &User, id: &str) -> Value {
    app.http()
        .get(&format!("/api/shop/orders/{id}"))
        .bearer(&who.token)
        .send()
        .await
        .expect(200)
        .json["status"]
        .clone()
}

#[track_caller]
fn illegal(res: marimo_testkit::Res, from: &str, to: &str) {
    let res = res.expect(409);
    assert_eq!(res.code(), "INVALID_TRANSITION");
    assert_eq!(
        res.json["error"]["details"],
        json!({"from": from, "to": to})
    );
}

#[tokio::test]
async fn pending_paid_shipped_delivered() {
    each_backend(|app: App| async move {
        let ann = app.user(Role::User);
        let staff = app.user(Role::ShopManager);
        let order = app.order(&ann, json!([line(WIDGET, 2)])).await;
        let id = order["id"].as_str().unwrap();

        // Not yet: ship/deliver a pending order.
        illegal(app.act(&staff, id, "ship").await, "pending", "shipped");
        illegal(app.act(&staff, id, "deliver").await, "pending", "delivered");

        let res = app.act(&staff, id, "pay").await.expect(200);
        assert_eq!(res.json["success"], true);
        assert_eq!(res.json["order"]["status"], "paid");
        assert_eq!(payments(&app, id).await, [("capture".to_owned(), 5998)]);
        illegal(
            app.act(&app.user(Role::ShopManager), id, "pay").await,
            "paid",
            "paid",
        );
        illegal(app.act(&staff, id, "deliver").await, "paid", "delivered");

        // Only staff ship and deliver, even their own orders.
        app.act(&ann, id, "ship").await.expect(403);
        app.act(&app.user(Role::Manager), id, "ship")
            .await
            .expect(404);
        let res = app.act(&staff, id, "ship").await.expect(200);
        assert_eq!(res.json["order"]["status"], "shipped");
        illegal(app.act(&staff, id, "cancel").await, "shipped", "cancelled");
        illegal(app.act(&ann, id, "cancel").await, "shipped", "cancelled");
        illegal(app.act(&staff, id, "pay").await, "shipped", "paid");
        app.act(&ann, id, "deliver").await.expect(403);
        let res = app
            .act(&app.user(Role::Admin), id, "deliver")
            .await
            .expect(200);
        assert_eq!(res.json["order"]["status"], "delivered");

        // Delivered is final.
        for (action, to) in [
            ("pay", "paid"),
            ("ship", "shipped"),
            ("deliver", "delivered"),
            ("cancel", "cancelled"),
        ] {
            illegal(app.act(&staff, id, action).await, "delivered", to);
        }
        assert_eq!(status(&app, &ann, id).await, "delivered");
        // Stock stays sold; one capture, no refund.
        assert_eq!(app.stock(WIDGET).await, 48);
        assert_eq!(payments(&app, id).await.len(), 1);

        // The history has every step, with who did it.
        let detail = app
            .http()
            .get(&format!("/api/shop/orders/{id}"))
            .bearer(&ann.token)
            .send()
            .await
            .expect(200)
            .json;
        let steps: Vec<(Value, Value)> = detail["history"]
            .as_array()
            .unwrap()
            .iter()
            .map(|h| (h["from"].clone(), h["to"].clone()))
            .collect();
        assert_eq!(
            steps,
            [
                (Value::Null, json!("pending")),
                (json!("pending"), json!("paid")),
                (json!("paid"), json!("shipped")),
                (json!("shipped"), json!("delivered")),
            ]
        );
        assert_eq!(detail["history"][1]["actor"], staff.id.as_str());
        assert_eq!(detail["history"][2]["actor"], staff.id.as_str());
        assert_eq!(detail["payments"][0]["kind"], "capture");
        assert_eq!(detail["payments"][0]["amount"], "59.98");

        // Staff can pay on a customer's behalf.
        let other = app.order(&ann, json!([line(GADGET, 1)])).await;
        app.act(&staff, other["id"].as_str().unwrap(), "pay")
            .await
            .expect(200);
    })
    .await;
}

#[tokio::test]
async fn cancelling_releases_stock_and_refunds_paid_orders() {
    each_backend(|app: App| async move {
        let ann = app.user(Role::User);
        let staff = app.user(Role::ShopManager);

        // The owner cancels a pending order: stock back, no money moved.
        let order = app
            .order(&ann, json!([line(WIDGET, 3), line(GADGET, 2)]))
            .await;
        let id = order["id"].as_str().unwrap();
        assert_eq!((app.stock(WIDGET).await, app.stock(GADGET).await), (47, 28));
        let res = app
            .http()
            .post(&format!("/api/shop/orders/{id}/cancel"))
            .bearer(&ann.token)
            .json(json!({"reason": "changed my mind"}))
            .send()
            .await
            .expect(200);
        assert_eq!(res.json["order"]["status"], "cancelled");
        assert_eq!((app.stock(WIDGET).await, app.stock(GADGET).await), (50, 30));
        assert!(payments(&app, id).await.is_empty());
        illegal(app.act(&ann, id, "cancel").await, "cancelled", "cancelled");
        illegal(
            app.act(&app.user(Role::ShopManager), id, "pay").await,
            "cancelled",
            "paid",
        );
        let cancelled = app.order_events("shop.order.cancelled", id).await;
        assert_eq!(cancelled.len(), 1);
        assert_eq!(cancelled[0]["payload"]["was_paid"], false);
        assert_eq!(cancelled[0]["payload"]["reason"], "changed my mind");

        // A paid order: the owner may not cancel it, the shop may, with a refund.
        let order = app.order(&ann, json!([line(GADGET, 2)])).await;
        let id = order["id"].as_str().unwrap();
        app.act(&app.user(Role::ShopManager), id, "pay")
            .await
            .expect(200);
        let res = app.act(&ann, id, "cancel").await.expect(403);
        assert_eq!(res.code(), "FORBIDDEN");
        assert_eq!(app.stock(GADGET).await, 28);
        app.act(&staff, id, "cancel").await.expect(200);
        assert_eq!(app.stock(GADGET).await, 30);
        assert_eq!(
            payments(&app, id).await,
            [("capture".to_owned(), 9998), ("refund".to_owned(), 9998)]
        );
        let cancelled = app.order_events("shop.order.cancelled", id).await;
        assert_eq!(cancelled[0]["payload"]["was_paid"], true);
        assert_eq!(cancelled[0]["actor"], staff.id.as_str());

        // Cancel bodies are optional but must be sane.
        let order = app.order(&ann, json!([line(WIDGET, 1)])).await;
        let path = format!("/api/shop/orders/{}/cancel", order["id"].as_str().unwrap());
        app.http()
            .post(&path)
            .bearer(&ann.token)
            .body("{oops")
            .send()
            .await
            .expect(400);
        app.http()
            .post(&path)
            .bearer(&ann.token)
            .json(json!({"reason": "x".repeat(501)}))
            .send()
            .await
            .expect(400);
        app.http()
            .post(&path)
            .bearer(&ann.token)
            .send()
            .await
            .expect(200);
    })
    .await;
}

#[tokio::test]
async fn unpaid_orders_expire_and_release_their_stock() {
    each_backend(|app: App| async move {
        let ann = app.user(Role::User);
        let config = app.peer(ServiceName::Config).await;
        // 0.01 minutes = 600 ms.
        app.set_setting(&config, "order_ttl_minutes", "0.01", 1)
            .await;
        let doomed = app
            .order(&ann, json!([line(WIDGET, 4), line(GADGET, 1)]))
            .await;
        let paid = app.order(&ann, json!([line(WIDGET, 1)])).await;
        app.act(
            &app.user(Role::ShopManager),
            paid["id"].as_str().unwrap(),
            "pay",
        )
        .await
        .expect(200);
        assert_eq!(app.stock(WIDGET).await, 45);

        let id = doomed["id"].as_str().unwrap();
        eventually("the order to expire", || async {
            status(&app, &ann, id).await == "expired"
        })
        .await;
        assert_eq!(
            app.stock(WIDGET).await,
            49,
            "the expired order's units are back"
        );
        assert_eq!(app.stock(GADGET).await, 30);
        // The paid one is untouched.
        assert_eq!(
            status(&app, &ann, paid["id"].as_str().unwrap()).await,
            "paid"
        );
        illegal(
            app.act(&app.user(Role::ShopManager), id, "pay").await,
            "expired",
            "paid",
        );
        illegal(app.act(&ann, id, "cancel").await, "expired", "cancelled");
        let events = app.order_events("shop.order.cancelled", id).await;
        assert_eq!(events.len(), 1);
        assert_eq!(events[0]["payload"]["status"], "expired");
        assert_eq!(events[0]["payload"]["reason"], "expired");
        assert_eq!(events[0]["payload"]["was_paid"], false);
        let history: Vec<String> = sqlx::query_scalar(
            "SELECT actor FROM order_events WHERE order_id = $1 AND to_status = 'expired'",
        )
        .bind(id)
        .fetch_all(app.pool())
        .await
        .unwrap();
        assert_eq!(history, ["system"]);

        // A sweep on another replica (a second shop on the same database)
        // and this one racing: each order is expired, and released, once.
        app.set_setting(&config, "order_ttl_minutes", "0.001", 2)
            .await;
        for _ in 0..10 {
            app.order(&ann, json!([line(GADGET, 1)])).await;
        }
        assert_eq!(app.stock(GADGET).await, 20);
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        let replica = marimo_shop::start(&app.peer(ServiceName::Shop).await)
            .await
            .unwrap();
        let mine = marimo_shop::start(&app.ctx).await.unwrap();
        let (a, b) = tokio::join!(replica.expire_due(3), mine.expire_due(3));
        let swept = a.unwrap() + b.unwrap();
        eventually("GADGET stock to return to 30", || async {
            app.stock(GADGET).await == 30
        })
        .await;
        assert!(swept <= 10);
        let expired = app
            .scalar("SELECT COUNT(*) FROM order_events WHERE to_status = 'expired'")
            .await;
        assert_eq!(expired, 11, "each order expired exactly once");
        // And no more than released: the stock is exactly back.
        tokio::time::sleep(std::time::Duration::from_millis(300)).await;
        assert_eq!(app.stock(GADGET).await, 30);

        // Paying at the deadline (before a sweep) is refused and expires it.
        app.set_setting(&config, "order_ttl_minutes", "30", 3).await;
        let late = app.order(&ann, json!([line(WIDGET, 1)])).await;
        let late_id = late["id"].as_str().unwrap();
        sqlx::query("UPDATE orders SET expires_at = '2000-01-01T00:00:00.000000Z' WHERE id = $1")
            .bind(late_id)
            .execute(app.pool())
            .await
            .unwrap();
        illegal(
            app.act(&app.user(Role::ShopManager), late_id, "pay").await,
            "expired",
            "paid",
        );
        assert_eq!(status(&app, &ann, late_id).await, "expired");
        assert_eq!(app.stock(WIDGET).await, 49);
        assert!(payments(&app, late_id).await.is_empty());
    })
    .await;
}

#[tokio::test]
async fn order_history_and_payments_cannot_be_rewritten() {
    each_backend(|app: App| async move {
        let customer = app.user(Role::User);
        let order = app.order(&customer, json!([line(WIDGET, 1)])).await;
        let id = order["id"].as_str().unwrap().to_owned();
        app.act(&app.user(Role::ShopManager), &id, "pay")
            .await
            .expect(200);
        assert_eq!(payments(&app, &id).await.len(), 1);

        for sql in [
            "UPDATE payments SET amount = 1",
            "DELETE FROM payments",
            "UPDATE order_events SET to_status = 'delivered'",
            "DELETE FROM order_events",
        ] {
            let err = sqlx::query(sql)
                .execute(app.pool())
                .await
                .expect_err(sql)
                .to_string();
            assert!(err.contains("append-only"), "{sql}: {err}");
        }
        assert_eq!(payments(&app, &id).await.len(), 1, "nothing changed");
        // The lifecycle itself only appends: a refund is a new payment row.
        let manager = app.user(Role::ShopManager);
        app.act(&manager, &id, "cancel").await.expect(200);
        let kinds: Vec<String> = payments(&app, &id).await.into_iter().map(|p| p.0).collect();
        assert_eq!(kinds, ["capture", "refund"]);
    })
    .await;
}

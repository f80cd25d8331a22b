//! Published order events (read from the shop's outbox) and the consumers
//! of factory and config events, exactly once under redelivery.

use marimo_platform::{auth::Role, bus::Envelope, service::ServiceName};
use marimo_testkit::{each_backend, eventually};
use serde_json::json;

use crate::support::{App, WIDGET, delivered, line, publish};

#[tokio::test]
async fn every_transition_publishes_its_event_with_the_catalog_payload() {
    each_backend(|app: App| async move {
        let ann = app.user(Role::User);
        let staff = app.user(Role::ShopManager);
        let order = app.order(&ann, json!([line(WIDGET, 2)])).await;
        let id = order["id"].as_str().unwrap();
        // Staff record the payment (customers cannot mark orders paid).
        app.act(&staff, id, "pay").await.expect(200);
        app.act(&staff, id, "ship").await.expect(200);
        app.act(&staff, id, "deliver").await.expect(200);

        let expected = [
            ("shop.order.placed", "pending", ann.id.as_str()),
            ("shop.order.paid", "paid", staff.id.as_str()),
            ("shop.order.shipped", "shipped", staff.id.as_str()),
            ("shop.order.delivered", "delivered", staff.id.as_str()),
        ];
        for (event_type, status, actor) in expected {
            let events = app.order_events(event_type, id).await;
            assert_eq!(events.len(), 1, "{event_type}");
            let e = &events[0];
            assert_eq!(e["type"], event_type);
            assert_eq!(e["source"], "shop");
            assert_eq!(e["version"], 1);
            assert_eq!(e["actor"], actor);
            let p = &e["payload"];
            assert_eq!(p["order_id"], id);
            assert_eq!(p["user_id"], ann.id.as_str());
            assert_eq!(p["email"], ann.email.as_str());
            assert_eq!(p["status"], status);
            assert_eq!(p["currency"], "USD");
            assert_eq!(
                (
                    p["subtotal"].as_str(),
                    p["tax"].as_str(),
                    p["total"].as_str()
                ),
                (Some("59.98"), Some("0.00"), Some("59.98"))
            );
            assert_eq!(
                p["items"],
                json!([{"product_id": WIDGET, "sku": "WIDGET-PREMIUM", "name": "Premium Widget",
                        "quantity": "2", "unit_price": "29.99", "line_total": "59.98"}])
            );
            assert!(p.get("was_paid").is_none());
        }
        // The relay delivers them (the shop's own bus has no consumer of
        // these, so they are confirmed at once).
        eventually("the outbox to drain", || async {
            app.scalar("SELECT COUNT(*) FROM outbox WHERE sent_at IS NULL")
                .await
                == 0
        })
        .await;
        // Refused requests publish nothing.
        app.act(&app.user(Role::ShopManager), id, "pay")
            .await
            .expect(409);
        app.place(&ann, json!([line(WIDGET, 1000)]))
            .await
            .expect(409);
        assert_eq!(app.scalar("SELECT COUNT(*) FROM outbox").await, 4);

        // Metrics count transitions and revenue.
        let metrics = app.http().get("/metrics").send().await.expect(200).text;
        assert!(
            metrics.contains("orders_total{status=\"paid\"} 1"),
            "{metrics}"
        );
        assert!(metrics.contains("orders_total{status=\"delivered\"} 1"));
        assert!(metrics.contains("revenue_total{currency=\"USD\"} 5998"));
    })
    .await;
}

async fn completed(
    factory: &marimo_platform::service::ServiceContext,
    sku: &str,
    qty: serde_json::Value,
) -> Envelope {
    publish(
        factory,
        Envelope::new(
            "factory",
            "factory.work_order.completed",
            json!({"work_order_id": "wo-1", "sku": sku, "qty": qty, "unit_cost": "3.00",
                   "total_cost": "30.00", "currency": "USD", "consumed": []}),
        ),
    )
    .await
}

async fn processed(app: &App, id: &str) -> bool {
    let n: i64 = sqlx::query_scalar(
        "SELECT COUNT(*) FROM processed_events WHERE consumer = 'shop' AND event_id = $1",
    )
    .bind(id)
    .fetch_one(app.pool())
    .await
    .unwrap();
    n == 1
}

#[tokio::test]
async fn finished_goods_from_the_factory_raise_stock_exactly_once() {
    each_backend(|app: App| async move {
        let factory = app.peer(ServiceName::Factory).await;
        let env = completed(&factory, "WIDGET-PREMIUM", json!("12")).await;
        eventually("WIDGET stock to reach 62", || async {
            app.stock(WIDGET).await == 62
        })
        .await;
        assert!(processed(&app, &env.id).await);

        // Redelivery (as if the factory's relay crashed before marking its
        // outbox sent): applied once only.
        for _ in 0..3 {
            sqlx::query("UPDATE outbox SET sent_at = NULL")
                .execute(factory.db().pool())
                .await
                .unwrap();
            factory.outbox.wake();
            let pool = factory.db().pool().clone();
            eventually("the redelivered event to be sent", || {
                let pool = pool.clone();
                async move {
                    sqlx::query_scalar::<_, i64>(
                        "SELECT COUNT(*) FROM outbox WHERE sent_at IS NULL",
                    )
                    .fetch_one(&pool)
                    .await
                    .unwrap()
                        == 0
                }
            })
            .await;
        }
        assert_eq!(app.stock(WIDGET).await, 62);
        // The same event handed to the consumer again directly: still once.
        let shop = marimo_shop::start(&app.ctx).await.unwrap();
        marimo_shop::events::handle(&shop, env.clone())
            .await
            .unwrap();
        assert_eq!(app.stock(WIDGET).await, 62);

        // An unknown sku is ignored (consumed, nothing changes).
        let unknown = completed(&factory, "NO-SUCH-SKU", json!("5")).await;
        eventually("the unknown sku's event to be processed", || async {
            processed(&app, &unknown.id).await
        })
        .await;
        // A fraction of a finished good can never apply: dead-lettered.
        let fraction = completed(&factory, "WIDGET-PREMIUM", json!("1.5")).await;
        eventually("a dead letter in the shop queue", || async {
            app.scalar("SELECT COUNT(*) FROM dead_letters WHERE queue = 'shop'")
                .await
                == 1
        })
        .await;
        let dead: String =
            sqlx::query_scalar("SELECT event_id FROM dead_letters WHERE queue = 'shop'")
                .fetch_one(app.pool())
                .await
                .unwrap();
        assert_eq!(dead, fraction.id);
        // Whole units written with decimals are fine.
        completed(&factory, "WIDGET-PREMIUM", json!("3.000")).await;
        eventually("WIDGET stock to reach 65", || async {
            app.stock(WIDGET).await == 65
        })
        .await;
        // A product unlinked from its sku no longer receives it.
        let admin = app.user(Role::Admin);
        app.http()
            .put(&format!("/api/shop/admin/products/{WIDGET}"))
            .bearer(&admin.token)
            .json(json!({"sku": null}))
            .send()
            .await
            .expect(200);
        let later = completed(&factory, "WIDGET-PREMIUM", json!("7")).await;
        eventually("the later event to be processed", || async {
            processed(&app, &later.id).await
        })
        .await;
        assert_eq!(app.stock(WIDGET).await, 65);
    })
    .await;
}

#[tokio::test]
async fn bad_settings_are_dead_lettered_and_others_ignored() {
    each_backend(|app: App| async move {
        let config = app.peer(ServiceName::Config).await;
        let setting = |key: &str, value: serde_json::Value| {
            Envelope::new(
                "config",
                "config.setting.changed",
                json!({"key": key, "version": 1, "value": value}),
            )
        };
        let bad = publish(&config, setting("tax_rate", json!("150"))).await;
        // Keys the shop does not use are consumed without effect.
        let other = publish(&config, setting("app_name", json!("Marimo ERP"))).await;
        delivered(&config, &other).await;
        eventually("a dead letter in the shop queue", || async {
            app.scalar("SELECT COUNT(*) FROM dead_letters WHERE queue = 'shop'")
                .await
                == 1
        })
        .await;
        assert!(!processed(&app, &bad.id).await);
        assert_eq!(app.scalar("SELECT COUNT(*) FROM shop_settings").await, 0);
        app.set_setting(&config, "tax_rate", "7.5", 2).await;
        let order = app
            .order(&app.user(Role::User), json!([line(WIDGET, 1)]))
            .await;
        assert_eq!(order["tax"], "2.25"); // 29.99 × 7.5 % = 2.24925 → 2.25
        // A JSON number works as well as a string.
        let n = publish(
            &config,
            Envelope::new(
                "config",
                "config.setting.changed",
                json!({"key": "tax_rate", "version": 3, "value": 6}),
            ),
        )
        .await;
        eventually("the event to be processed", || async {
            processed(&app, &n.id).await
        })
        .await;
        let order = app
            .order(&app.user(Role::User), json!([line(WIDGET, 1)]))
            .await;
        assert_eq!(order["tax_rate"], "6");
        // Deleting the setting in the config service restores the default.
        let deleted = publish(
            &config,
            Envelope::new(
                "config",
                "config.setting.changed",
                json!({"key": "tax_rate", "version": 9}),
            ),
        )
        .await;
        eventually("the deletion event to be processed", || async {
            processed(&app, &deleted.id).await
        })
        .await;
        let order = app
            .order(&app.user(Role::User), json!([line(WIDGET, 1)]))
            .await;
        assert_eq!(order["tax_rate"], "0");
    })
    .await;
}

/// `factory.stock.changed` from the factory's outbox, delivered.
async fn stock_changed(
    factory: &marimo_platform::service::ServiceContext,
    on_hand: &str,
    reserved: &str,
    seq: i64,
) {
    let available = format!(
        "{}",
        on_hand.parse::<i64>().unwrap() - reserved.parse::<i64>().unwrap()
    );
    let env = publish(
        factory,
        Envelope::new(
            "factory",
            "factory.stock.changed",
            json!({"sku": "WIDGET-PREMIUM", "warehouse": "MAIN", "on_hand": on_hand,
                   "reserved": reserved, "available": available, "seq": seq}),
        ),
    )
    .await;
    delivered(factory, &env).await;
}

#[tokio::test]
async fn the_availability_read_model_keeps_the_newest_report_of_each_bin() {
    each_backend(|app: App| async move {
        let factory = app.peer(ServiceName::Factory).await;
        let row = || async {
            let (on_hand, reserved, seq): (i64, i64, i64) = sqlx::query_as(
                "SELECT on_hand, reserved, seq FROM stock_availability
                 WHERE sku = 'WIDGET-PREMIUM' AND warehouse = 'MAIN'",
            )
            .fetch_one(app.pool())
            .await
            .unwrap();
            (on_hand, reserved, seq)
        };
        stock_changed(&factory, "10", "3", 5).await;
        // Thousandths, as the factory counts.
        assert_eq!(row().await, (10_000, 3_000, 5));
        // An older report arriving late, and the same one twice: ignored.
        stock_changed(&factory, "12", "0", 4).await;
        stock_changed(&factory, "10", "3", 5).await;
        assert_eq!(row().await, (10_000, 3_000, 5));
        stock_changed(&factory, "8", "1", 7).await;
        assert_eq!(row().await, (8_000, 1_000, 7));
        // An impossible report is a dead letter, not a row.
        let bad = publish(
            &factory,
            Envelope::new(
                "factory",
                "factory.stock.changed",
                json!({"sku": "WIDGET-PREMIUM", "warehouse": "MAIN", "on_hand": "1",
                       "reserved": "2", "available": "-1", "seq": 9}),
            ),
        )
        .await;
        delivered(&factory, &bad).await;
        assert_eq!(row().await, (8_000, 1_000, 7));
    })
    .await;
}

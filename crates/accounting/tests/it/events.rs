//! Postings from other services' events, exactly once; the events the
//! ledger publishes.

use marimo_platform::{
    bus::{Bus, Envelope},
    service::{ServiceContext, ServiceName},
};
use marimo_testkit::eventually;
use marimo_testkit::{Backend, backends, context_on};
use serde_json::{Value, json};

use crate::support::{App, accountant, admin, app, app_on, today};

struct World {
    app: App,
    shop: ServiceContext,
    factory: ServiceContext,
}

async fn world(backend: &Backend) -> World {
    let bus = Bus::embedded();
    let settings = backend.settings(&[]).await;
    let app = app_on(backend, bus.clone(), settings.clone()).await;
    let shop = context_on(ServiceName::Shop, settings.clone(), bus.clone()).await;
    let factory = context_on(ServiceName::Factory, settings, bus).await;
    World { app, shop, factory }
}

pub(crate) async fn publish(from: &ServiceContext, kind: &str, payload: Value) -> String {
    let mut tx = from.db().begin().await.unwrap();
    let env = Envelope::new(from.name.as_str(), kind, payload).actor("customer-7");
    from.outbox.publish(&mut tx, &env).await.unwrap();
    tx.commit().await.unwrap();
    from.outbox.wake();
    env.id
}

async fn count(ctx: &ServiceContext, sql: &'static str) -> i64 {
    sqlx::query_scalar::<_, i64>(sql)
        .fetch_one(ctx.db().pool())
        .await
        .unwrap()
}

/// Waits until `ctx`'s outbox has been delivered (every consumer applied or
/// dead-lettered each event).
pub(crate) async fn drained(ctx: &ServiceContext) {
    eventually("the outbox to drain", || async {
        count(ctx, "SELECT COUNT(*) FROM outbox WHERE sent_at IS NULL").await == 0
    })
    .await;
}

fn order(id: &str, subtotal: &str, tax: &str, total: &str) -> Value {
    json!({
        "order_id": id, "user_id": "customer-7", "email": "c@example.com", "status": "paid",
        "currency": "USD", "subtotal": subtotal, "tax": tax, "total": total,
        "items": [{"product_id": "p1", "sku": "WID", "name": "Widget", "quantity": "2", "unit_price": "50.00", "line_total": "100.00"}],
    })
}

#[tokio::test]
async fn a_paid_order_posts_revenue_and_tax_exactly_once() {
    for backend in backends() {
        let w = world(&backend).await;
        let name = backend.name();
        let day = today().0;
        publish(
            &w.shop,
            "shop.order.paid",
            order("o-1", "100.00", "8.25", "108.25"),
        )
        .await;
        drained(&w.shop).await;
        assert_eq!(w.app.balance_of("4000", &day).await, "100.00", "{name}");
        assert_eq!(w.app.balance_of("2100", &day).await, "8.25");
        assert_eq!(w.app.balance_of("1000", &day).await, "108.25");
        let list = w
            .app
            .get("/api/accounting/journal-entries?reference=shop:order:o-1")
            .await
            .expect(200);
        assert_eq!(list.json["total"], 1);
        let e = &list.json["entries"][0];
        assert_eq!(e["source"], "event");
        assert_eq!(e["created_by"], "customer-7");
        assert_eq!(e["date"], day.as_str());

        // Redelivery (as if the relay crashed before marking it sent).
        sqlx::query("UPDATE outbox SET sent_at = NULL")
            .execute(w.shop.db().pool())
            .await
            .unwrap();
        w.shop.outbox.wake();
        drained(&w.shop).await;
        assert_eq!(
            w.app.scalar("SELECT COUNT(*) FROM journal_entries").await,
            1,
            "{name}: double-posted"
        );
        assert_eq!(w.app.balance_of("4000", &day).await, "100.00");
        // The same order paid again under a new event id: posted once.
        publish(
            &w.shop,
            "shop.order.paid",
            order("o-1", "100.00", "8.25", "108.25"),
        )
        .await;
        drained(&w.shop).await;
        assert_eq!(
            w.app.scalar("SELECT COUNT(*) FROM journal_entries").await,
            1
        );

        // Cancelled after payment: the posting is reversed, once.
        let mut cancelled = order("o-1", "100.00", "8.25", "108.25");
        cancelled["status"] = json!("cancelled");
        cancelled["was_paid"] = json!(true);
        publish(&w.shop, "shop.order.cancelled", cancelled.clone()).await;
        drained(&w.shop).await;
        assert_eq!(w.app.balance_of("4000", &day).await, "0.00", "{name}");
        assert_eq!(w.app.balance_of("2100", &day).await, "0.00");
        publish(&w.shop, "shop.order.cancelled", cancelled).await;
        drained(&w.shop).await;
        assert_eq!(
            w.app.scalar("SELECT COUNT(*) FROM journal_entries").await,
            2
        );
        // An unpaid order's cancellation posts nothing.
        let mut unpaid = order("o-2", "5.00", "0", "5.00");
        unpaid["was_paid"] = json!(false);
        publish(&w.shop, "shop.order.cancelled", unpaid).await;
        drained(&w.shop).await;
        assert_eq!(
            w.app.scalar("SELECT COUNT(*) FROM journal_entries").await,
            2
        );
        assert_eq!(w.app.scalar("SELECT COUNT(*) FROM dead_letters").await, 0);

        // What the ledger published for them.
        let published: Vec<String> = sqlx::query_scalar("SELECT envelope FROM outbox ORDER BY id")
            .fetch_all(w.app.ctx.db().pool())
            .await
            .unwrap();
        let events: Vec<Value> = published
            .iter()
            .map(|s| serde_json::from_str(s).unwrap())
            .collect();
        let kinds: Vec<&str> = events.iter().map(|e| e["type"].as_str().unwrap()).collect();
        assert_eq!(
            kinds,
            [
                "accounting.entry.posted",
                "accounting.entry.posted",
                "accounting.entry.reversed"
            ]
        );
        let p = &events[0]["payload"];
        for field in ["entry_id", "number", "date", "reference", "total"] {
            assert!(!p[field].is_null(), "{field}");
        }
        assert_eq!(p["total"], "108.25");
        assert_eq!(p["reference"], "shop:order:o-1");
        assert_eq!(events[2]["payload"]["entry_id"], p["entry_id"]);
        w.app.assert_consistent().await;
    }
}

#[tokio::test]
async fn the_old_factory_events_post_nothing_now() {
    for backend in backends() {
        let w = world(&backend).await;
        // Perpetual inventory posts from `factory.stock.moved`; these two
        // are still published for other consumers and post nothing here.
        publish(
            &w.factory,
            "factory.stock.received",
            json!({
            "move_id": "m-1", "sku": "STEEL", "warehouse": "main", "qty": "10", "unit_cost": "2.50",
            "total_cost": "25.00", "currency": "USD", "reference": "PO-9"}),
        )
        .await;
        publish(&w.factory, "factory.work_order.completed", json!({
            "work_order_id": "wo-1", "sku": "WIDGET", "qty": "2", "unit_cost": "7.50", "total_cost": "15.00",
            "currency": "USD", "consumed": [{"sku": "STEEL", "qty": "6", "total_cost": "15.00"}]})).await;
        drained(&w.factory).await;
        assert_eq!(
            w.app.scalar("SELECT COUNT(*) FROM journal_entries").await,
            0,
            "{}",
            backend.name()
        );
        assert_eq!(w.app.scalar("SELECT COUNT(*) FROM dead_letters").await, 0);
    }
}

#[tokio::test]
async fn an_event_for_a_closed_period_is_dead_lettered_then_replayable() {
    for backend in backends() {
        let w = world(&backend).await;
        let (day, period) = today();
        w.app
            .http
            .post(&format!("/api/accounting/periods/{period}/close"))
            .bearer(&admin())
            .send()
            .await
            .expect(200);
        let id = publish(
            &w.shop,
            "shop.order.paid",
            order("o-9", "40.00", "0", "40.00"),
        )
        .await;
        drained(&w.shop).await;
        assert_eq!(
            w.app.scalar("SELECT COUNT(*) FROM journal_entries").await,
            0,
            "{}",
            backend.name()
        );
        let error: String =
            sqlx::query_scalar("SELECT error FROM dead_letters WHERE event_id = $1")
                .bind(&id)
                .fetch_one(w.app.ctx.db().pool())
                .await
                .unwrap();
        assert!(
            error.contains("PERIOD_CLOSED") && error.contains(&period),
            "{error}"
        );
        // The listing (API, screen, CLI) shows why: given up on for good,
        // with the rule that refused it.
        let letters = marimo_platform::bus::dlq::list(&w.app.ctx.settings, "accounting")
            .await
            .unwrap();
        let letter = letters.iter().find(|l| l.event_id == id).unwrap();
        assert_eq!((letter.reason.as_str(), letter.attempts), ("permanent", 1));
        assert!(
            letter.error.starts_with("PERIOD_CLOSED: "),
            "{}",
            letter.error
        );
        // Reopened and redelivered, it posts: it was never marked processed.
        w.app
            .http
            .post(&format!("/api/accounting/periods/{period}/reopen"))
            .bearer(&admin())
            .send()
            .await
            .expect(200);
        sqlx::query("UPDATE outbox SET sent_at = NULL")
            .execute(w.shop.db().pool())
            .await
            .unwrap();
        w.shop.outbox.wake();
        drained(&w.shop).await;
        assert_eq!(w.app.balance_of("4000", &day).await, "40.00");
        let _ = accountant();
    }
}

#[tokio::test]
async fn api_postings_publish_events() {
    for backend in backends() {
        let app = app(&backend).await;
        let e = app
            .post(crate::support::simple("2026-09-09", "1000", "4000", "3.30"))
            .await
            .expect(201);
        let envelope: String = sqlx::query_scalar(
            "SELECT envelope FROM outbox WHERE event_type = 'accounting.entry.posted'",
        )
        .fetch_one(app.ctx.db().pool())
        .await
        .unwrap();
        let env: Value = serde_json::from_str(&envelope).unwrap();
        assert_eq!(env["source"], "accounting");
        assert_eq!(env["actor"], "accountant-user");
        assert_eq!(env["payload"]["entry_id"], e.json["entry"]["id"]);
        assert_eq!(env["payload"]["number"], "JE-2026-000001");
        assert_eq!(env["payload"]["date"], "2026-09-09");
        assert_eq!(env["payload"]["total"], "3.30");
        assert_eq!(env["payload"]["reference"], Value::Null);
        // A refused posting publishes nothing.
        app.post(crate::support::simple("2026-09-09", "1000", "9999", "1"))
            .await
            .expect(422);
        assert_eq!(app.scalar("SELECT COUNT(*) FROM outbox").await, 1);
    }
}

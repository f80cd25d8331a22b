//! Holds of stock for shop orders: reserved atomically against the bin,
//! keyed by the order, confirmed, released and shipped by the shop's
//! order events, expired when never confirmed; every bin change
//! publishes `factory.stock.changed`.

use marimo_platform::{
    auth::Role,
    bus::{Bus, Envelope},
    ids,
    service::{ServiceContext, ServiceName},
};
use marimo_testkit::{Backend, backends, context_on, eventually, start_service, token_for};
use serde_json::{Value, json};

use crate::support::{App, publish_from};

/// The factory, and the shop's outbox on the same bus (its order events).
struct World {
    app: App,
    shop: ServiceContext,
}

async fn world(backend: &Backend) -> World {
    let settings = backend.settings(&[]).await;
    let bus = Bus::embedded();
    let shop = context_on(ServiceName::Shop, settings.clone(), bus.clone()).await;
    let marimo_testkit::Service { ctx, server } =
        start_service(ServiceName::Factory, settings, bus, marimo_factory::router).await;
    World {
        app: App::from_parts(backend, ctx, server),
        shop,
    }
}

fn customer() -> String {
    token_for(Role::User)
}

impl World {
    /// A customer's hold of `lines` (sku, qty) for `order`.
    async fn hold(&self, order: &str, lines: &[(&str, &str)]) -> marimo_testkit::Res {
        let lines: Vec<Value> = lines
            .iter()
            .map(|(s, q)| json!({"sku": s, "qty": q}))
            .collect();
        self.app
            .http
            .post("/api/v1/factory/holds")
            .bearer(&customer())
            .json(json!({"order_id": order, "lines": lines}))
            .send()
            .await
    }

    /// Publishes the shop's `shop.order.<step>` for `order` and waits
    /// until the factory applied it; returns the envelope.
    async fn order_event(&self, step: &str, order: &str) -> Envelope {
        let env = Envelope::new(
            "shop",
            &format!("shop.order.{step}"),
            json!({"order_id": order, "status": step}),
        );
        publish_from(&self.shop, &env.tenant, &env).await;
        env
    }

    /// Delivers `env` to the factory's consumer once more, as a broker
    /// does after a lost acknowledgement.
    async fn redeliver(&self, env: &Envelope) {
        let factory = marimo_factory::start(&self.app.ctx).await.unwrap();
        marimo_factory::events::handle(&factory, env.clone())
            .await
            .unwrap();
    }

    async fn statuses(&self, order: &str) -> Vec<String> {
        self.app
            .get(&format!("/api/v1/factory/holds/{order}"))
            .await
            .expect(200)
            .json["holds"]
            .as_array()
            .unwrap()
            .iter()
            .map(|h| h["status"].as_str().unwrap().to_owned())
            .collect()
    }
}

fn level(
    on_hand: &str,
    reserved: &str,
    available: &str,
    value: &str,
) -> (String, String, String, String) {
    (
        on_hand.into(),
        reserved.into(),
        available.into(),
        value.into(),
    )
}

#[tokio::test]
async fn holds_reserve_all_or_nothing_once_per_order() {
    for backend in backends() {
        let w = world(&backend).await;
        let app = &w.app;
        let name = app.name();
        app.item("TABLE", "finished_good", "pcs", "0").await;
        app.item("CHAIR", "finished_good", "pcs", "0").await;
        app.receive("TABLE", "10", "48.05").await;
        app.receive("CHAIR", "2", "20").await;
        let o1 = ids::new_id();
        let held = w
            .hold(&o1, &[("TABLE", "2"), ("TABLE", "1")])
            .await
            .expect(201);
        assert_eq!(
            held.json["holds"],
            json!([{"order_id": o1, "sku": "TABLE", "warehouse": "MAIN", "qty": "3.000",
                    "status": "held", "expires_at": held.json["holds"][0]["expires_at"]}]),
            "{name}: lines of one SKU are one hold"
        );
        // 10 × 48.05 = 480.50 on hand, 3 of it promised.
        assert_eq!(
            app.level("TABLE").await,
            level("10.000", "3.000", "7.000", "480.50")
        );
        // The same order again is the same hold; other lines are refused.
        w.hold(&o1, &[("TABLE", "3")]).await.expect(201);
        let res = w.hold(&o1, &[("TABLE", "4")]).await.expect(409);
        assert_eq!(res.json["error"]["code"], "HOLD_MISMATCH");
        assert_eq!(app.level("TABLE").await.1, "3.000", "{name}");
        // All or nothing: the chairs are short, so no table is held either.
        let o2 = ids::new_id();
        let res = w
            .hold(&o2, &[("TABLE", "7"), ("CHAIR", "3")])
            .await
            .expect(409);
        assert_eq!(res.json["error"]["code"], "INSUFFICIENT_STOCK", "{name}");
        assert_eq!(app.level("TABLE").await.1, "3.000", "{name}");
        assert_eq!(app.level("CHAIR").await.1, "0.000", "{name}");
        assert!(w.statuses(&o2).await.is_empty());
        // Bad input changes nothing.
        w.hold("not-a-uuid", &[("TABLE", "1")]).await.expect(400);
        w.hold(&o2, &[]).await.expect(400);
        w.hold(&o2, &[("TABLE", "-1")]).await.expect(400);
        w.hold(&o2, &[("NOPE", "1")]).await.expect(404);
        // Customers hold (through the shop) but do not read holds.
        app.http
            .get(&format!("/api/v1/factory/holds/{o1}"))
            .bearer(&customer())
            .send()
            .await
            .expect(403);
        // Every bin change published its state with a growing counter:
        // two receipts, then the one hold.
        let changes = app.events("factory.stock.changed").await;
        let tables: Vec<&Value> = changes
            .iter()
            .map(|e| &e["payload"])
            .filter(|p| p["sku"] == "TABLE")
            .collect();
        assert_eq!(tables.len(), 2, "{name}");
        assert_eq!(
            *tables[1],
            json!({"sku": "TABLE", "warehouse": "MAIN", "on_hand": "10.000",
                   "reserved": "3.000", "available": "7.000", "seq": 2})
        );
        app.assert_consistent().await;
    }
}

#[tokio::test]
async fn order_events_confirm_release_and_ship_holds() {
    for backend in backends() {
        let w = world(&backend).await;
        let app = &w.app;
        let name = app.name();
        app.item("TABLE", "finished_good", "pcs", "0").await;
        app.receive("TABLE", "10", "48.05").await;
        let (o1, o2) = (ids::new_id(), ids::new_id());
        w.hold(&o1, &[("TABLE", "2")]).await.expect(201);
        w.hold(&o2, &[("TABLE", "3")]).await.expect(201);
        w.order_event("placed", &o1).await;
        w.order_event("placed", &o2).await;
        assert_eq!(w.statuses(&o1).await, ["confirmed"], "{name}");
        w.order_event("cancelled", &o2).await;
        assert_eq!(w.statuses(&o2).await, ["released"], "{name}");
        assert_eq!(
            app.level("TABLE").await,
            level("10.000", "2.000", "8.000", "480.50")
        );
        let shipped = w.order_event("shipped", &o1).await;
        assert_eq!(w.statuses(&o1).await, ["shipped"], "{name}");
        // Two tables leave at the moving average: 2 × 48.05 = 96.10;
        // 480.50 − 96.10 = 384.40 stays for the other eight.
        assert_eq!(
            app.level("TABLE").await,
            level("8.000", "0.000", "8.000", "384.40")
        );
        let moves = app
            .get("/api/v1/factory/stock/moves?sku=TABLE")
            .await
            .expect(200);
        let out = &moves.json["moves"][0];
        assert_eq!(
            (
                &out["reason"],
                &out["qty"],
                &out["value"],
                &out["reference"]
            ),
            (
                &json!("shipment"),
                &json!("-2.000"),
                &json!("-96.10"),
                &json!(o1)
            ),
            "{name}"
        );
        // The same event again, or the order shipped twice: nothing more.
        w.redeliver(&shipped).await;
        w.order_event("shipped", &o1).await;
        w.order_event("cancelled", &o1).await;
        assert_eq!(
            app.level("TABLE").await,
            level("8.000", "0.000", "8.000", "384.40")
        );
        // An order the factory never held stock for changes nothing.
        w.order_event("shipped", &ids::new_id()).await;
        assert_eq!(
            app.scalar("SELECT COUNT(*) FROM stock_moves").await,
            2,
            "{name}"
        );
        app.assert_consistent().await;
    }
}

#[tokio::test]
async fn unconfirmed_holds_expire_and_a_late_placement_holds_again() {
    for backend in backends() {
        let w = world(&backend).await;
        let app = &w.app;
        let name = app.name();
        app.item("TABLE", "finished_good", "pcs", "0").await;
        app.receive("TABLE", "5", "10").await;
        let order = ids::new_id();
        w.hold(&order, &[("TABLE", "4")]).await.expect(201);
        // The shop's transaction failed after the hold: no event comes.
        // Its deadline passes (moved into the past rather than waited for).
        sqlx::query("UPDATE stock_holds SET expires_at = '2000-01-01T00:00:00.000000Z'")
            .execute(app.ctx.db().pool())
            .await
            .unwrap();
        eventually("the hold to expire", || async {
            w.statuses(&order).await == ["expired"]
        })
        .await;
        assert_eq!(app.level("TABLE").await.1, "0.000", "{name}");
        // The order's event came late after all: it holds again while the
        // stock is there.
        w.order_event("placed", &order).await;
        assert_eq!(w.statuses(&order).await, ["confirmed"], "{name}");
        assert_eq!(app.level("TABLE").await.1, "4.000", "{name}");
        app.assert_consistent().await;
    }
}

#[tokio::test]
async fn a_hundred_buyers_and_a_work_order_never_overdraw_a_bin() {
    for backend in backends() {
        let w = world(&backend).await;
        let app = &w.app;
        let name = app.name();
        app.item("LEG", "component", "pcs", "0").await;
        app.item("TABLE", "finished_good", "pcs", "0").await;
        app.item("SHELF", "finished_good", "pcs", "0").await;
        app.bom("SHELF", "1", &[("LEG", "1")]).await.expect(201);
        app.receive("LEG", "14", "1").await;
        // 100 buyers ask for one leg each while a work order for 4 shelves
        // is released: never more than the 14 legs are promised.
        let wo = app.work_order("SHELF", "4").await;
        let buyers = (0..100).map(|_| {
            let w = &w;
            async move { w.hold(&ids::new_id(), &[("LEG", "1")]).await.status }
        });
        let (statuses, released) = tokio::join!(
            futures_util::future::join_all(buyers),
            app.act(&wo, "release")
        );
        // The work order races the buyers: released, it took 4 legs;
        // refused (the buyers were first), it took none.
        let taken = match released.status {
            200 => 4,
            409 => 0,
            other => panic!("{name}: release answered {other}"),
        };
        let ok = statuses.iter().filter(|s| **s == 201).count();
        let short = statuses.iter().filter(|s| **s == 409).count();
        assert_eq!((ok, short), (14 - taken, 86 + taken), "{name}");
        assert_eq!(app.level("LEG").await.2, "0.000", "{name}");
        app.assert_consistent().await;
    }
}

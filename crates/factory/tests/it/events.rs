//! Events in the factory's outbox, written in the transaction of the
//! change: receipts, work-order steps and completion, low stock.

use marimo_testkit::each_backend;
use serde_json::json;

use crate::support::App;

#[tokio::test]
async fn a_receipt_publishes_stock_received() {
    each_backend(|app: App| async move {
        app.item("STEEL", "raw_material", "kg", "0").await;
        let m = app.receive("STEEL", "3", "2.50").await;
        let events = app.events("factory.stock.received").await;
        assert_eq!(events.len(), 1, "{}", app.name());
        let e = &events[0];
        assert_eq!(e["source"], "factory");
        assert_eq!(e["version"], 1);
        assert_eq!(e["actor"], "manager-user");
        assert_eq!(
            e["payload"],
            json!({"move_id": m["id"], "sku": "STEEL", "warehouse": "MAIN", "qty": "3.000",
                   "unit_cost": "2.50", "total_cost": "7.50", "currency": "USD",
                   "reference": "PO-1"})
        );
        // A refused receipt publishes nothing.
        app.post(
            "/api/factory/stock/receipts",
            json!({"sku": "STEEL", "warehouse": "NOWHERE", "qty": 1, "unit_cost": 1}),
        )
        .await
        .expect(404);
        assert_eq!(app.events("factory.stock.received").await.len(), 1);
        // Issues and adjustments are not purchases.
        app.post(
            "/api/factory/stock/issues",
            json!({"sku": "STEEL", "qty": 1}),
        )
        .await
        .expect(201);
        assert_eq!(app.events("factory.stock.received").await.len(), 1);
    })
    .await;
}

#[tokio::test]
async fn work_order_steps_and_completion_are_published() {
    each_backend(|app: App| async move {
        app.item("STEEL", "raw_material", "kg", "0").await;
        app.raw("BOLT").await;
        app.item("BIKE", "finished_good", "pcs", "0").await;
        app.bom("BIKE", "1", &[("STEEL", "1.5"), ("BOLT", "4")])
            .await
            .expect(201);
        app.receive("STEEL", "10", "2").await;
        app.receive("BOLT", "100", "0.05").await;
        let id = app.work_order("BIKE", "2").await;
        app.act(&id, "release").await.expect(200);
        app.act(&id, "start").await.expect(200);
        app.act(&id, "complete").await.expect(200);
        let step = json!({"work_order_id": id, "sku": "BIKE", "qty": "2.000"});
        for t in ["factory.work_order.released", "factory.work_order.started"] {
            let events = app.events(t).await;
            assert_eq!(events.len(), 1, "{t}");
            assert_eq!(events[0]["payload"], step, "{t}");
        }
        let done = app.events("factory.work_order.completed").await;
        assert_eq!(done.len(), 1);
        let p = &done[0]["payload"];
        assert_eq!(p["work_order_id"], json!(id));
        assert_eq!(p["sku"], "BIKE");
        assert_eq!(p["qty"], "2.000");
        // 3 kg steel at 2.00 + 8 bolts at 0.05 = 6.40, 3.20 a bike.
        assert_eq!(p["total_cost"], "6.40");
        assert_eq!(p["unit_cost"], "3.20");
        assert_eq!(p["currency"], "USD");
        assert_eq!(
            p["consumed"],
            json!([
                {"sku": "BOLT", "qty": "8.000", "total_cost": "0.40"},
                {"sku": "STEEL", "qty": "3.000", "total_cost": "6.00"},
            ])
        );
        let cancelled = app.work_order("BIKE", "1").await;
        app.act(&cancelled, "cancel").await.expect(200);
        let events = app.events("factory.work_order.cancelled").await;
        assert_eq!(events.len(), 1);
        assert_eq!(events[0]["payload"]["work_order_id"], json!(cancelled));
        // An illegal step publishes nothing.
        app.act(&cancelled, "start").await.expect(409);
        assert_eq!(app.events("factory.work_order.started").await.len(), 1);
    })
    .await;
}

#[tokio::test]
async fn falling_below_the_reorder_point_publishes_stock_low_once() {
    each_backend(|app: App| async move {
        app.item("GLUE", "raw_material", "l", "5").await;
        app.receive("GLUE", "8", "1").await;
        let issue = |qty: &'static str| {
            let app = &app;
            async move {
                app.post("/api/factory/stock/issues", json!({"sku": "GLUE", "qty": qty}))
                    .await
                    .expect(201);
            }
        };
        issue("3").await; // 8 → 5: at the point, not below it
        assert!(app.events("factory.stock.low").await.is_empty());
        issue("0.5").await; // 5 → 4.5: crosses
        issue("1").await; // 4.5 → 3.5: already below
        let low = app.events("factory.stock.low").await;
        assert_eq!(low.len(), 1, "{}", app.name());
        assert_eq!(
            low[0]["payload"],
            json!({"sku": "GLUE", "warehouse": "MAIN", "on_hand": "4.500", "reorder_point": "5.000"})
        );
        // Restocked above the point, then consumed by production below it
        // again: a second crossing, a second event.
        app.receive("GLUE", "10", "1").await; // 13.5
        app.item("BOX", "finished_good", "pcs", "0").await;
        app.bom("BOX", "1", &[("GLUE", "10")]).await.expect(201);
        let id = app.work_order("BOX", "1").await;
        app.act(&id, "release").await.expect(200);
        assert_eq!(app.events("factory.stock.low").await.len(), 1, "a reservation moves nothing");
        app.act(&id, "start").await.expect(200);
        app.act(&id, "complete").await.expect(200);
        let low = app.events("factory.stock.low").await;
        assert_eq!(low.len(), 2);
        assert_eq!(low[1]["payload"]["on_hand"], "3.500");

        // The summary lists it too.
        let s = app.get("/api/factory/summary").await.expect(200);
        assert_eq!(
            s.json["low_stock"],
            json!([{"sku": "GLUE", "name": "Item GLUE", "on_hand": "3.500", "reorder_point": "5.000"}])
        );
    })
    .await;
}

#[tokio::test]
async fn metrics_count_moves_and_work_orders() {
    each_backend(|app: App| async move {
        app.raw("ONE").await;
        app.receive("ONE", "1", "1").await;
        let text = app.http.get("/metrics").send().await.expect(200).text;
        assert!(
            text.lines()
                .any(|l| l.starts_with("stock_moves_total{") && l.contains("reason=\"receipt\"")),
            "{text}"
        );
    })
    .await;
}

//! Work orders: reservations, consumption at cost, the state machine.

use marimo_testkit::each_backend;
use serde_json::json;

use crate::support::App;

/// BIKE (output 2) = 3.5 kg STEEL + 8 BOLT; stock: STEEL 10 kg at 2.33 and
/// 5 kg at 3.10 (38.80), BOLT 50 at 0.10 (5.00).
async fn bike_shop(app: &App) {
    app.item("STEEL", "raw_material", "kg", "0").await;
    app.raw("BOLT").await;
    app.item("BIKE", "finished_good", "pcs", "0").await;
    app.bom("BIKE", "2", &[("STEEL", "3.5"), ("BOLT", "8")])
        .await
        .expect(201);
    app.receive("STEEL", "10", "2.33").await;
    app.receive("STEEL", "5", "3.10").await;
    app.receive("BOLT", "50", "0.10").await;
}

#[tokio::test]
async fn completion_consumes_bom_times_quantity_and_values_add_up() {
    each_backend(|app: App| async move {
        bike_shop(&app).await;
        let id = app.work_order("BIKE", "5").await;
        let wo = app
            .get(&format!("/api/factory/work-orders/{id}"))
            .await
            .expect(200);
        assert_eq!(wo.json["work_order"]["status"], "planned");
        assert_eq!(wo.json["work_order"]["warehouse"], "MAIN");

        let rel = app.act(&id, "release").await.expect(200);
        assert_eq!(rel.json["work_order"]["status"], "released");
        // 5 bikes = 5/2 × (3.5 kg, 8): 8.75 kg STEEL, 20 BOLT reserved.
        assert_eq!(
            app.level("STEEL").await,
            (
                "15.000".into(),
                "8.750".into(),
                "6.250".into(),
                "38.80".into()
            )
        );
        assert_eq!(app.level("BOLT").await.1, "20.000");
        // Reserved stock cannot be issued.
        app.post(
            "/api/factory/stock/issues",
            json!({"sku": "BOLT", "qty": 31}),
        )
        .await
        .expect(409);

        app.act(&id, "start").await.expect(200);
        let done = app.act(&id, "complete").await.expect(200);
        let w = &done.json["work_order"];
        assert_eq!(w["status"], "completed");
        assert_eq!(w["produced_qty"], "5.000");
        // STEEL: 38.80 × 8.75 / 15 = 22.633… → 22.63; BOLT: 20 × 0.10 = 2.00.
        assert_eq!(w["total_cost"], "24.63");
        assert_eq!(w["unit_cost"], "4.93");
        let moves = done.json["moves"].as_array().unwrap();
        let summary: Vec<(String, String, String, String)> = moves
            .iter()
            .map(|m| {
                let s = |k: &str| m[k].as_str().unwrap().to_owned();
                (s("sku"), s("reason"), s("qty"), s("value"))
            })
            .collect();
        assert_eq!(
            summary,
            vec![
                (
                    "BOLT".into(),
                    "production_consume".into(),
                    "-20.000".into(),
                    "-2.00".into()
                ),
                (
                    "STEEL".into(),
                    "production_consume".into(),
                    "-8.750".into(),
                    "-22.63".into()
                ),
                (
                    "BIKE".into(),
                    "production_output".into(),
                    "5.000".into(),
                    "24.63".into()
                ),
            ]
        );
        assert!(moves.iter().all(|m| m["work_order_id"] == json!(id)));
        assert_eq!(
            app.level("STEEL").await,
            (
                "6.250".into(),
                "0.000".into(),
                "6.250".into(),
                "16.17".into()
            )
        );
        assert_eq!(
            app.level("BOLT").await,
            (
                "30.000".into(),
                "0.000".into(),
                "30.000".into(),
                "3.00".into()
            )
        );
        assert_eq!(
            app.level("BIKE").await,
            (
                "5.000".into(),
                "0.000".into(),
                "5.000".into(),
                "24.63".into()
            )
        );
        // Consumed value = produced value, in the ledger itself.
        let net = app
            .scalar(&format!(
                "SELECT CAST(SUM(value) AS BIGINT) FROM stock_moves WHERE work_order_id = '{id}'"
            ))
            .await;
        assert_eq!(net, 0);
        let shown = app
            .get(&format!("/api/factory/work-orders/{id}"))
            .await
            .expect(200);
        assert_eq!(
            shown.json["work_order"]["moves"].as_array().unwrap().len(),
            3
        );
        assert_eq!(
            shown.json["work_order"]["reservations"],
            json!([
                {"sku": "BOLT", "warehouse": "MAIN", "qty": "20.000"},
                {"sku": "STEEL", "warehouse": "MAIN", "qty": "8.750"},
            ])
        );
        app.assert_consistent().await;
    })
    .await;
}

#[tokio::test]
async fn a_completion_may_report_yield_and_scrap() {
    each_backend(|app: App| async move {
        bike_shop(&app).await;
        let id = app.work_order("BIKE", "2").await;
        app.act(&id, "release").await.expect(200);
        app.act(&id, "start").await.expect(200);
        let done = app
            .post(
                &format!("/api/factory/work-orders/{id}/complete"),
                json!({"produced_qty": "1.5", "scrap_qty": "0.5"}),
            )
            .await
            .expect(200);
        let w = &done.json["work_order"];
        assert_eq!(w["produced_qty"], "1.500");
        assert_eq!(w["scrap_qty"], "0.500");
        // All reserved components are consumed: 3.5 kg steel
        // (38.80 × 3.5/15 = 9.053… → 9.05) + 8 bolts (0.80) = 9.85 over 1.5.
        assert_eq!(w["total_cost"], "9.85");
        assert_eq!(w["unit_cost"], "6.57");
        assert_eq!(
            app.level("BIKE").await,
            (
                "1.500".into(),
                "0.000".into(),
                "1.500".into(),
                "9.85".into()
            )
        );
        app.assert_consistent().await;
    })
    .await;
}

#[tokio::test]
async fn release_is_all_or_nothing_and_lists_every_shortage() {
    each_backend(|app: App| async move {
        bike_shop(&app).await;
        app.raw("PAINT").await;
        app.raw("DECAL").await;
        app.bom(
            "BIKE",
            "1",
            &[("STEEL", "1"), ("PAINT", "2"), ("DECAL", "1")],
        )
        .await
        .expect(201);
        app.receive("PAINT", "3", "1").await;
        let id = app.work_order("BIKE", "4").await;
        let res = app.act(&id, "release").await.expect(409);
        assert_eq!(res.code(), "INSUFFICIENT_STOCK");
        let shortages = res.json["error"]["details"]["shortages"].clone();
        assert_eq!(
            shortages,
            json!([
                {"sku": "DECAL", "warehouse": "MAIN", "required": "4.000", "available": "0.000"},
                {"sku": "PAINT", "warehouse": "MAIN", "required": "8.000", "available": "3.000"},
            ])
        );
        // STEEL was available, but nothing was reserved, and the order is
        // still planned.
        assert_eq!(app.level("STEEL").await.1, "0.000");
        let wo = app
            .get(&format!("/api/factory/work-orders/{id}"))
            .await
            .expect(200);
        assert_eq!(wo.json["work_order"]["status"], "planned");
        assert!(app.events("factory.work_order.released").await.is_empty());
        // Once stock arrives, the same order releases.
        app.receive("PAINT", "5", "1").await;
        app.receive("DECAL", "4", "0.5").await;
        app.act(&id, "release").await.expect(200);
        assert_eq!(app.level("PAINT").await.2, "0.000");
        app.assert_consistent().await;
    })
    .await;
}

#[tokio::test]
async fn the_state_machine_refuses_illegal_transitions() {
    each_backend(|app: App| async move {
        bike_shop(&app).await;
        let id = app.work_order("BIKE", "1").await;
        for action in ["start", "complete"] {
            let r = app.act(&id, action).await.expect(409);
            assert_eq!(r.code(), "INVALID_TRANSITION", "{action}");
            assert_eq!(r.json["error"]["details"]["status"], "planned");
        }
        app.act(&id, "release").await.expect(200);
        for action in ["release", "complete"] {
            app.act(&id, action).await.expect(409);
        }
        app.act(&id, "start").await.expect(200);
        for action in ["release", "start"] {
            app.act(&id, action).await.expect(409);
        }
        app.act(&id, "complete").await.expect(200);
        for action in ["release", "start", "complete", "cancel"] {
            let r = app.act(&id, action).await.expect(409);
            assert_eq!(r.json["error"]["details"]["status"], "completed");
        }

        // Cancel from each open state; reservations come back.
        let planned = app.work_order("BIKE", "2").await;
        app.act(&planned, "cancel").await.expect(200);
        let released = app.work_order("BIKE", "2").await;
        app.act(&released, "release").await.expect(200);
        assert_eq!(app.level("STEEL").await.1, "3.500");
        let started = app.work_order("BIKE", "2").await;
        app.act(&started, "release").await.expect(200);
        app.act(&started, "start").await.expect(200);
        assert_eq!(app.level("STEEL").await.1, "7.000");
        app.act(&released, "cancel").await.expect(200);
        app.act(&started, "cancel").await.expect(200);
        assert_eq!(app.level("STEEL").await.1, "0.000");
        assert_eq!(app.level("BOLT").await.1, "0.000");
        for id in [&planned, &released, &started] {
            let r = app.act(id, "release").await.expect(409);
            assert_eq!(r.json["error"]["details"]["status"], "cancelled");
        }
        // Lists by status.
        let list = app
            .get("/api/factory/work-orders?status=cancelled")
            .await
            .expect(200);
        assert_eq!(list.json["total"], 3);
        let list = app.get("/api/factory/work-orders").await.expect(200);
        assert_eq!(list.json["total"], 4);
        app.get("/api/factory/work-orders?status=lost")
            .await
            .expect(400);
        // Unknown and malformed ids.
        app.act("0190a0a0-0000-7000-8000-000000000000", "release")
            .await
            .expect(404);
        app.act("42", "release").await.expect(404);
        app.get("/api/factory/work-orders/42").await.expect(404);
        app.assert_consistent().await;
    })
    .await;
}

#[tokio::test]
async fn orders_need_an_active_bom_and_keep_the_one_they_were_planned_with() {
    each_backend(|app: App| async move {
        bike_shop(&app).await;
        app.item("TRIKE", "finished_good", "pcs", "0").await;
        let r = app
            .post(
                "/api/factory/work-orders",
                json!({"product_sku": "TRIKE", "qty": 1}),
            )
            .await
            .expect(422);
        assert_eq!(r.code(), "NO_ACTIVE_BOM");
        app.post(
            "/api/factory/work-orders",
            json!({"product_sku": "GHOST", "qty": 1}),
        )
        .await
        .expect(404);
        app.post(
            "/api/factory/work-orders",
            json!({"product_sku": "BIKE", "qty": 0}),
        )
        .await
        .expect(400);
        app.post(
            "/api/factory/work-orders",
            json!({"product_sku": "BIKE", "qty": 1, "warehouse": "NOWHERE"}),
        )
        .await
        .expect(404);

        let id = app.work_order("BIKE", "2").await;
        // A new BOM version after planning does not change this order.
        app.bom("BIKE", "1", &[("BOLT", "1")]).await.expect(201);
        app.act(&id, "release").await.expect(200);
        assert_eq!(app.level("STEEL").await.1, "3.500");
        assert_eq!(app.level("BOLT").await.1, "8.000");
        let newer = app.work_order("BIKE", "2").await;
        app.act(&newer, "release").await.expect(200);
        assert_eq!(app.level("STEEL").await.1, "3.500");
        assert_eq!(app.level("BOLT").await.1, "10.000");
        app.assert_consistent().await;
    })
    .await;
}

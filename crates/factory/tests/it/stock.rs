//! Receipts, issues, adjustments and transfers at moving average cost;
//! balances and the ledger.

use marimo_testkit::each_backend;
use serde_json::json;

use crate::support::App;

#[tokio::test]
async fn moving_average_through_receipts_issues_and_adjustments() {
    each_backend(|app: App| async move {
        app.item("STEEL", "raw_material", "kg", "0").await;
        // 10 kg at 2.00 and 10 kg at 4.00: 20 kg worth 60.00 (average 3.00).
        let m = app.receive("STEEL", "10", "2").await;
        assert_eq!(m["qty"], "10.000");
        assert_eq!(m["unit_cost"], "2.00");
        assert_eq!(m["value"], "20.00");
        assert_eq!(m["reason"], "receipt");
        assert_eq!(m["reference"], "PO-1");
        assert_eq!(m["created_by"], "manager-user");
        app.receive("STEEL", "10", "4.00").await;
        assert_eq!(
            app.level("STEEL").await,
            (
                "20.000".into(),
                "0.000".into(),
                "20.000".into(),
                "60.00".into()
            )
        );

        // Issue 5 kg at the average: 15.00.
        let res = app
            .post(
                "/api/factory/stock/issues",
                json!({"sku": "steel", "qty": "5", "reference": "JOB-7"}),
            )
            .await
            .expect(201);
        assert_eq!(res.json["move"]["qty"], "-5.000");
        assert_eq!(res.json["move"]["value"], "-15.00");
        assert_eq!(res.json["move"]["unit_cost"], "3.00");
        assert_eq!(res.json["move"]["reason"], "issue");

        // Found 1.5 kg: comes in at the average (4.50).
        let res = app
            .post(
                "/api/factory/stock/adjustments",
                json!({"sku": "STEEL", "qty": "1.5", "reason_note": "cycle count"}),
            )
            .await
            .expect(201);
        assert_eq!(res.json["move"]["value"], "4.50");
        assert_eq!(res.json["move"]["note"], "cycle count");
        // Lost 0.25 kg: leaves at the average.
        let res = app
            .post(
                "/api/factory/stock/adjustments",
                json!({"sku": "STEEL", "qty": "-0.25", "reason_note": "spillage"}),
            )
            .await
            .expect(201);
        assert_eq!(res.json["move"]["qty"], "-0.250");
        assert_eq!(res.json["move"]["value"], "-0.75");
        assert_eq!(
            app.level("STEEL").await,
            (
                "16.250".into(),
                "0.000".into(),
                "16.250".into(),
                "48.75".into()
            )
        );

        // Issue everything: the value goes to exactly zero.
        app.post(
            "/api/factory/stock/issues",
            json!({"sku": "STEEL", "qty": "16.25"}),
        )
        .await
        .expect(201);
        assert_eq!(
            app.level("STEEL").await,
            (
                "0.000".into(),
                "0.000".into(),
                "0.000".into(),
                "0.00".into()
            )
        );
        // Nothing on hand: a found quantity comes in at the standard cost.
        app.put("/api/factory/items/STEEL", json!({"standard_cost": "1.25"}))
            .await
            .expect(200);
        let res = app
            .post(
                "/api/factory/stock/adjustments",
                json!({"sku": "STEEL", "qty": "2", "reason_note": "found"}),
            )
            .await
            .expect(201);
        assert_eq!(res.json["move"]["value"], "2.50");
        app.assert_consistent().await;
    })
    .await;
}

#[tokio::test]
async fn rounding_is_half_away_from_zero_and_nothing_lingers() {
    each_backend(|app: App| async move {
        app.item("OIL", "raw_material", "l", "0").await;
        // 1.5 l at 2.33 = 3.495 → 3.50.
        let m = app.receive("OIL", "1.5", "2.33").await;
        assert_eq!(m["value"], "3.50");
        // 3 units worth 10.00, issued one by one: 3.33, 3.34, 3.33.
        app.raw("CUP").await;
        app.receive("CUP", "3", "3.33").await; // 9.99
        app.post(
            "/api/factory/stock/adjustments",
            json!({"sku": "CUP", "qty": 1, "reason_note": "found"}),
        )
        .await
        .expect(201);
        let mut values = Vec::new();
        for _ in 0..4 {
            let res = app
                .post("/api/factory/stock/issues", json!({"sku": "CUP", "qty": 1}))
                .await
                .expect(201);
            values.push(res.json["move"]["value"].as_str().unwrap().to_owned());
        }
        // 4 units worth 13.32: 3.33 each; the last takes what is left.
        assert_eq!(values, ["-3.33", "-3.33", "-3.33", "-3.33"]);
        assert_eq!(app.level("CUP").await.3, "0.00");
        app.assert_consistent().await;
    })
    .await;
}

#[tokio::test]
async fn stock_never_goes_negative_and_inputs_are_checked() {
    each_backend(|app: App| async move {
        app.raw("NUT").await;
        app.receive("NUT", "3", "0.10").await;
        let res = app
            .post(
                "/api/factory/stock/issues",
                json!({"sku": "NUT", "qty": "3.001"}),
            )
            .await
            .expect(409);
        assert_eq!(res.code(), "INSUFFICIENT_STOCK");
        let s = &res.json["error"]["details"]["shortages"][0];
        assert_eq!(s["sku"], "NUT");
        assert_eq!(s["required"], "3.001");
        assert_eq!(s["available"], "3.000");
        app.post(
            "/api/factory/stock/adjustments",
            json!({"sku": "NUT", "qty": "-4", "reason_note": "x"}),
        )
        .await
        .expect(409);
        assert_eq!(app.level("NUT").await.0, "3.000");

        for (path, body, field) in [
            (
                "receipts",
                json!({"sku": "NUT", "qty": 0, "unit_cost": 1}),
                "qty",
            ),
            (
                "receipts",
                json!({"sku": "NUT", "qty": -1, "unit_cost": 1}),
                "qty",
            ),
            (
                "receipts",
                json!({"sku": "NUT", "qty": "0.0001", "unit_cost": 1}),
                "qty",
            ),
            ("receipts", json!({"sku": "NUT", "qty": 1}), "unit_cost"),
            (
                "receipts",
                json!({"sku": "NUT", "qty": 1, "unit_cost": "0.0000001"}),
                "unit_cost",
            ),
            ("receipts", json!({"qty": 1, "unit_cost": 1}), "sku"),
            ("issues", json!({"sku": "NUT"}), "qty"),
            (
                "adjustments",
                json!({"sku": "NUT", "qty": 1}),
                "reason_note",
            ),
            (
                "adjustments",
                json!({"sku": "NUT", "qty": 0, "reason_note": "x"}),
                "qty",
            ),
            // The quantity is judged before the missing note.
            ("adjustments", json!({"sku": "NUT", "qty": 0}), "qty"),
            (
                "transfers",
                json!({"sku": "NUT", "from": "MAIN", "to": "MAIN", "qty": 1}),
                "to",
            ),
            (
                "transfers",
                json!({"sku": "NUT", "to": "MAIN", "qty": 1}),
                "from",
            ),
        ] {
            let res = app
                .post(&format!("/api/factory/stock/{path}"), body.clone())
                .await
                .expect(400);
            assert_eq!(
                res.json["error"]["details"]["field"], field,
                "{path} {body}"
            );
        }
        app.post(
            "/api/factory/stock/receipts",
            json!({"sku": "GHOST", "qty": 1, "unit_cost": 1}),
        )
        .await
        .expect(404);
        app.post(
            "/api/factory/stock/receipts",
            json!({"sku": "NUT", "warehouse": "NOWHERE", "qty": 1, "unit_cost": 1}),
        )
        .await
        .expect(404);
        app.put("/api/factory/items/NUT", json!({"active": false}))
            .await
            .expect(200);
        let res = app
            .post(
                "/api/factory/stock/receipts",
                json!({"sku": "NUT", "qty": 1, "unit_cost": 1}),
            )
            .await
            .expect(422);
        assert_eq!(res.code(), "ITEM_INACTIVE");
        app.assert_consistent().await;
    })
    .await;
}

#[tokio::test]
async fn transfers_move_quantity_and_value_in_one_transaction() {
    each_backend(|app: App| async move {
        app.raw("BOX").await;
        app.post(
            "/api/factory/warehouses",
            json!({"code": "EAST", "name": "East"}),
        )
        .await
        .expect(201);
        app.receive("BOX", "4", "2.50").await; // 10.00
        let res = app
            .post(
                "/api/factory/stock/transfers",
                json!({"sku": "BOX", "from": "MAIN", "to": "east", "qty": "1.5"}),
            )
            .await
            .expect(201);
        let moves = res.json["moves"].as_array().unwrap();
        assert_eq!(moves.len(), 2);
        assert_eq!(
            (&moves[0]["warehouse"], &moves[0]["qty"], &moves[0]["value"]),
            (&json!("MAIN"), &json!("-1.500"), &json!("-3.75"))
        );
        assert_eq!(
            (&moves[1]["warehouse"], &moves[1]["qty"], &moves[1]["value"]),
            (&json!("EAST"), &json!("1.500"), &json!("3.75"))
        );
        assert!(moves.iter().all(|m| m["reason"] == "transfer"));
        let stock = app.get("/api/factory/stock?sku=BOX").await.expect(200);
        let rows = stock.json["stock"].as_array().unwrap();
        assert_eq!(rows.len(), 2);
        assert_eq!(rows[0]["warehouse"], "EAST");
        assert_eq!(rows[0]["value"], "3.75");
        assert_eq!(rows[1]["on_hand"], "2.500");
        assert_eq!(rows[1]["value"], "6.25");
        // More than the source has: nothing moves.
        app.post(
            "/api/factory/stock/transfers",
            json!({"sku": "BOX", "from": "EAST", "to": "MAIN", "qty": "2"}),
        )
        .await
        .expect(409);
        app.post(
            "/api/factory/stock/transfers",
            json!({"sku": "BOX", "from": "MAIN", "to": "WEST", "qty": "1"}),
        )
        .await
        .expect(404);
        assert_eq!(app.scalar("SELECT COUNT(*) FROM stock_moves").await, 3);
        app.assert_consistent().await;
    })
    .await;
}

#[tokio::test]
async fn the_ledger_is_listed_filtered_and_paginated() {
    each_backend(|app: App| async move {
        app.raw("A1").await;
        app.raw("B1").await;
        for _ in 0..3 {
            app.receive("A1", "1", "1").await;
        }
        app.receive("B1", "2", "1").await;
        let all = app
            .get("/api/factory/stock/moves?limit=2")
            .await
            .expect(200);
        assert_eq!(all.json["total"], 4);
        assert_eq!(all.json["moves"].as_array().unwrap().len(), 2);
        assert_eq!(all.json["moves"][0]["sku"], "B1", "newest first");
        let page2 = app
            .get("/api/factory/stock/moves?limit=2&page=2")
            .await
            .expect(200);
        assert_eq!(page2.json["moves"].as_array().unwrap().len(), 2);
        let a = app.get("/api/factory/stock/moves?sku=a1").await.expect(200);
        assert_eq!(a.json["total"], 3);
        let today = &marimo_platform::clock::now_text()[..10];
        let day = app
            .get(&format!("/api/factory/stock/moves?from={today}&to={today}"))
            .await
            .expect(200);
        assert_eq!(day.json["total"], 4);
        let future = app
            .get("/api/factory/stock/moves?from=2999-01-01T00:00:00Z")
            .await
            .expect(200);
        assert_eq!(future.json["total"], 0);
        let past = app
            .get("/api/factory/stock/moves?to=2000-01-01")
            .await
            .expect(200);
        assert_eq!(past.json["total"], 0);
        // Both bounds are inclusive (`platform::TimeRange`): the range from
        // the newest move's own time to that same time lists exactly it.
        let at = all.json["moves"][0]["created_at"].as_str().unwrap();
        let instant = app
            .get(&format!("/api/factory/stock/moves?from={at}&to={at}"))
            .await
            .expect(200);
        assert_eq!(instant.json["total"], 1);
        assert_eq!(instant.json["moves"][0], all.json["moves"][0]);
        let upto = app
            .get(&format!("/api/factory/stock/moves?sku=B1&to={at}"))
            .await
            .expect(200);
        assert_eq!(upto.json["total"], 1, "the move at `to` itself counts");
        app.get("/api/factory/stock/moves?from=2026-03-02&to=2026-03-01")
            .await
            .expect(400);
        app.get("/api/factory/stock/moves?from=yesterday")
            .await
            .expect(400);
        app.get("/api/factory/stock/moves?limit=1000")
            .await
            .expect(400);
        app.get("/api/factory/stock?sku=no%20way").await.expect(400);
        let empty = app
            .get("/api/factory/stock?warehouse=MAIN&sku=ZZZ")
            .await
            .expect(200);
        assert_eq!(empty.json["stock"], json!([]));
    })
    .await;
}

#[tokio::test]
async fn stock_posts_with_an_idempotency_key_happen_once() {
    each_backend(|app: App| async move {
        app.item("BOLT", "raw_material", "pcs", "0").await;
        app.post(
            "/api/factory/warehouses",
            json!({"code": "EAST", "name": "East"}),
        )
        .await
        .expect(201);
        let manager = crate::support::manager();
        let send = |path: &'static str, key: &'static str, body: serde_json::Value| {
            let (http, manager) = (app.http.clone(), manager.clone());
            async move {
                http.post(path)
                    .bearer(&manager)
                    .header("Idempotency-Key", key)
                    .json(body)
                    .send()
                    .await
            }
        };
        let receipt = json!({"sku": "BOLT", "qty": "100", "unit_cost": "0.10"});
        let first = send("/api/factory/stock/receipts", "rcpt-1", receipt.clone())
            .await
            .expect(201);
        assert_eq!(first.header("idempotent-replayed"), None);
        // The same request again (keys in another order): the same move,
        // marked as a replay, and the stock is received once.
        let again = send(
            "/api/factory/stock/receipts",
            "rcpt-1",
            json!({"unit_cost": "0.10", "qty": "100", "sku": "BOLT"}),
        )
        .await
        .expect(201);
        assert_eq!(again.header("idempotent-replayed"), Some("true"));
        assert_eq!(again.json["move"], first.json["move"]);
        assert_eq!(app.level("BOLT").await.0, "100.000");

        // The key with another request: 422, nothing booked.
        let other = send(
            "/api/factory/stock/receipts",
            "rcpt-1",
            json!({"sku": "BOLT", "qty": "5", "unit_cost": "0.10"}),
        )
        .await
        .expect(422);
        assert_eq!(other.code(), "IDEMPOTENCY_KEY_REUSED");
        assert_eq!(app.level("BOLT").await.0, "100.000");

        // A transfer replays both of its moves; adjustments likewise.
        let transfer = json!({"sku": "BOLT", "from": "MAIN", "to": "EAST", "qty": "30"});
        let t1 = send("/api/factory/stock/transfers", "move-1", transfer.clone())
            .await
            .expect(201);
        let t2 = send("/api/factory/stock/transfers", "move-1", transfer)
            .await
            .expect(201);
        assert_eq!(t1.json["moves"].as_array().unwrap().len(), 2);
        assert_eq!(t1.json["moves"], t2.json["moves"]);
        let adj = json!({"sku": "BOLT", "qty": "-1", "reason_note": "dropped"});
        send("/api/factory/stock/adjustments", "adj-1", adj.clone())
            .await
            .expect(201);
        send("/api/factory/stock/adjustments", "adj-1", adj)
            .await
            .expect(201);
        assert_eq!(app.level("BOLT").await.0, "69.000", "MAIN: 100 - 30 - 1");
        let moves = app
            .get("/api/factory/stock/moves?sku=BOLT")
            .await
            .expect(200);
        assert_eq!(
            moves.json["total"], 4,
            "receipt, two transfer legs, adjustment"
        );

        // Keys are per caller: another manager's same key is a new request.
        let other_manager =
            marimo_platform::auth::jwt::JwtKeys::new(marimo_testkit::TEST_JWT_SECRET.as_bytes())
                .issue(&marimo_platform::auth::jwt::Identity {
                    user_id: "second-manager".into(),
                    email: "m2@example.com".into(),
                    role: marimo_platform::auth::Role::Manager,
                    tenant: Default::default(),
                })
                .0;
        app.http
            .post("/api/factory/stock/receipts")
            .bearer(&other_manager)
            .header("Idempotency-Key", "rcpt-1")
            .json(receipt)
            .send()
            .await
            .expect(201);
        assert_eq!(app.level("BOLT").await.0, "169.000");

        // A malformed key is refused before anything happens.
        send(
            "/api/factory/stock/receipts",
            "bad key",
            json!({"sku": "BOLT", "qty": "1", "unit_cost": "1"}),
        )
        .await
        .expect(400);
    })
    .await;
}

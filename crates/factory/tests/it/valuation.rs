//! The perpetual-inventory feed (`factory.stock.moved`) and the
//! valuation: fine unit costs, booked values that keep the rounding, the
//! 2-level production walk, and the valuation endpoint agreeing with the
//! published moves and the balances. Every figure is computed by hand in
//! the comment next to it.

use std::collections::BTreeMap;

use marimo_platform::auth::Role;
use marimo_testkit::{each_backend, token_for};
use serde_json::{Value, json};

use crate::support::App;

/// Cents of a decimal string with two places (`"-0.02"` → -2).
fn cents(v: &Value) -> i64 {
    let s = v.as_str().unwrap_or_else(|| panic!("not a string: {v}"));
    let (int, frac) = s.split_once('.').expect("two places");
    assert_eq!(frac.len(), 2, "{s}");
    let n: i64 = format!("{}{frac}", int.trim_start_matches('-'))
        .parse()
        .unwrap();
    if s.starts_with('-') { -n } else { n }
}

/// The payloads of `factory.stock.moved`, oldest first.
async fn moved(app: &App) -> Vec<Value> {
    app.events("factory.stock.moved")
        .await
        .into_iter()
        .map(|e| e["payload"].clone())
        .collect()
}

/// Σ published `value` per (category, warehouse), in cents.
async fn published(app: &App) -> BTreeMap<(String, String), i64> {
    let mut sums = BTreeMap::new();
    for e in moved(app).await {
        for m in e["moves"].as_array().unwrap() {
            let k = (
                m["category"].as_str().unwrap().to_owned(),
                m["warehouse"].as_str().unwrap().to_owned(),
            );
            *sums.entry(k).or_default() += cents(&m["value"]);
        }
    }
    sums.retain(|_, v| *v != 0);
    sums
}

async fn valuation(app: &App, query: &str) -> Value {
    app.http
        .get(&format!("/api/factory/valuation{query}"))
        .bearer(&token_for(Role::Accountant))
        .send()
        .await
        .expect(200)
        .json
}

/// The valuation's totals per (category, warehouse), in cents.
async fn totals(app: &App) -> BTreeMap<(String, String), i64> {
    valuation(app, "").await["totals"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| {
            let k = (
                t["category"].as_str().unwrap().to_owned(),
                t["warehouse"].as_str().unwrap().to_owned(),
            );
            (k, cents(&t["value"]))
        })
        .filter(|(_, v)| *v != 0)
        .collect()
}

/// Σ of the balances' (booked) values, in cents.
async fn balances(app: &App) -> i64 {
    let res = app.get("/api/factory/stock").await.expect(200);
    res.json["stock"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| cents(&l["value"]))
        .sum()
}

/// The three figures agree: Σ published per (category, warehouse) = the
/// valuation's totals, and their sum = Σ of the balances.
async fn assert_ties_out(app: &App) {
    let p = published(app).await;
    assert_eq!(
        p,
        totals(app).await,
        "{}: published vs valuation",
        app.name()
    );
    assert_eq!(
        p.values().sum::<i64>(),
        balances(app).await,
        "{}",
        app.name()
    );
    app.assert_consistent().await;
}

async fn stock_post(app: &App, path: &str, body: Value) -> Value {
    app.post(&format!("/api/factory/stock/{path}"), body)
        .await
        .expect(201)
        .json
}

#[tokio::test]
async fn unit_costs_have_six_places_and_rounding_is_kept_in_the_bin() {
    each_backend(|app: App| async move {
        app.raw("SCREW").await;
        // 1000 × 0.0035 = 3.50 exactly.
        let m = app.receive("SCREW", "1000", "0.0035").await;
        assert_eq!(m["value"], "3.50");
        assert_eq!(m["unit_cost"], "0.0035");
        assert_eq!(m["unit_cost_exact"], "0.003500");
        assert_eq!(m["category"], "raw_material");
        // 3 × 0.0035 = 0.0105: the bin holds 3.5105, booked 3.51, so the
        // move books 3.51 − 3.50 = 0.01.
        assert_eq!(app.receive("SCREW", "3", "0.0035").await["value"], "0.01");
        // Issue 7 at the average 3.5105 / 1003 = 0.0035: 0.0245 exactly;
        // the bin keeps 3.486, booked 3.49, so the move books
        // 3.49 − 3.51 = −0.02 (not −0.0245 rounded on its own).
        let out = stock_post(&app, "issues", json!({"sku": "SCREW", "qty": 7})).await;
        assert_eq!(out["move"]["value"], "-0.02");
        assert_eq!(out["move"]["unit_cost_exact"], "0.003500");
        assert_eq!(app.level("SCREW").await.3, "3.49");
        // Published: 3.50 + 0.01 − 0.02 = 3.49 = the bin's booked value.
        let events = moved(&app).await;
        assert_eq!(events.len(), 3);
        assert_eq!(
            events[0],
            json!({"transaction": format!("receipt:{}", m["id"].as_str().unwrap()),
                   "reference": "PO-1", "currency": "USD",
                   "moves": [{"move_id": m["id"], "reason": "receipt", "sku": "SCREW",
                              "category": "raw_material", "warehouse": "MAIN",
                              "qty": "1000.000", "value": "3.50"}]})
        );
        assert_eq!(events[2]["moves"][0]["reason"], "production_issue");
        assert_ties_out(&app).await;
        // Issuing the rest takes the whole 3.486: booked 0 − 3.49 = −3.49.
        let out = stock_post(&app, "issues", json!({"sku": "SCREW", "qty": 996})).await;
        assert_eq!(out["move"]["value"], "-3.49");
        assert_ties_out(&app).await;
        // Seven places is more than USD's 2 + 4: refused, nothing moves.
        app.post(
            "/api/factory/stock/receipts",
            json!({"sku": "SCREW", "qty": 1, "unit_cost": "0.0000001"}),
        )
        .await
        .expect(400);
        assert_eq!(moved(&app).await.len(), 4);
    })
    .await;
}

#[tokio::test]
async fn every_kind_of_move_is_published_once_and_ties_out() {
    each_backend(|app: App| async move {
        let item = app
            .post(
                "/api/factory/items",
                json!({"sku": "LAMP", "name": "Lamp", "kind": "raw_material",
                       "merchandise": true}),
            )
            .await
            .expect(201);
        assert_eq!(item.json["item"]["category"], "merchandise");
        // Made items cannot be merchandise.
        app.post(
            "/api/factory/items",
            json!({"sku": "X", "name": "X", "kind": "finished_good", "merchandise": true}),
        )
        .await
        .expect(400);
        app.post(
            "/api/factory/warehouses",
            json!({"code": "EAST", "name": "East"}),
        )
        .await
        .expect(201);
        // Opening: 10 × 2.00 = 20.00.
        let o = stock_post(
            &app,
            "openings",
            json!({"sku": "LAMP", "qty": 10, "unit_cost": "2.00"}),
        )
        .await;
        assert_eq!(
            (o["move"]["reason"].as_str(), o["move"]["value"].as_str()),
            (Some("opening"), Some("20.00"))
        );
        // Receipt: 10 × 4.00 = 40.00; average (20 + 40) / 20 = 3.00.
        app.receive("LAMP", "10", "4.00").await;
        // Scrap 2 × 3.00 = −6.00.
        let s = stock_post(
            &app,
            "scrap",
            json!({"sku": "LAMP", "qty": 2, "reason_note": "broken"}),
        )
        .await;
        assert_eq!(s["move"]["value"], "-6.00");
        // Transfer 4 × 3.00 = 12.00 from MAIN to EAST: one event, two moves.
        let t = stock_post(
            &app,
            "transfers",
            json!({"sku": "LAMP", "from": "MAIN", "to": "EAST", "qty": 4}),
        )
        .await;
        assert_eq!(t["moves"][0]["value"], "-12.00");
        assert_eq!(t["moves"][1]["value"], "12.00");
        // A return without a shipment comes back at MAIN's average:
        // (60 − 6 − 12) / 14 = 3.00.
        let r = stock_post(&app, "returns", json!({"sku": "LAMP", "qty": 1})).await;
        assert_eq!(r["move"]["value"], "3.00");
        // Adjustment −1 × 3.00 = −3.00.
        stock_post(
            &app,
            "adjustments",
            json!({"sku": "LAMP", "qty": -1, "reason_note": "count"}),
        )
        .await;
        let events = moved(&app).await;
        let reasons: Vec<Vec<&str>> = events
            .iter()
            .map(|e| {
                e["moves"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|m| m["reason"].as_str().unwrap())
                    .collect()
            })
            .collect();
        assert_eq!(
            reasons,
            vec![
                vec!["opening"],
                vec!["receipt"],
                vec!["scrap"],
                vec!["transfer", "transfer"],
                vec!["customer_return"],
                vec!["adjustment"]
            ]
        );
        assert!(
            events[3]["transaction"]
                .as_str()
                .unwrap()
                .starts_with("transfer:")
        );
        // MAIN: 20 + 40 − 6 − 12 + 3 − 3 = 42.00; EAST: 12.00.
        let expected: BTreeMap<(String, String), i64> = [
            (("merchandise".to_owned(), "EAST".to_owned()), 1200),
            (("merchandise".to_owned(), "MAIN".to_owned()), 4200),
        ]
        .into();
        assert_eq!(published(&app).await, expected);
        assert_ties_out(&app).await;
        // The category cannot change while the item is in stock.
        app.put("/api/factory/items/LAMP", json!({"merchandise": false}))
            .await
            .expect(409);
    })
    .await;
}

/// WOOD (raw) → LEG (sub-assembly, 0.5 WOOD) → TABLE (finished good,
/// 4 LEG + 2 WOOD), 20 WOOD bought at 5.25 = 105.00.
#[tokio::test]
async fn the_two_level_walk_books_each_level_under_its_own_category() {
    each_backend(|app: App| async move {
        app.raw("WOOD").await;
        app.item("LEG", "component", "pcs", "0").await;
        app.item("TABLE", "finished_good", "pcs", "0").await;
        app.bom("LEG", "1", &[("WOOD", "0.5")]).await.expect(201);
        app.bom("TABLE", "1", &[("LEG", "4"), ("WOOD", "2")])
            .await
            .expect(201);
        app.receive("WOOD", "20", "5.25").await;
        let run = |product: &'static str, qty: &'static str| {
            let app = &app;
            async move {
                let id = app.work_order(product, qty).await;
                for step in ["release", "start", "complete"] {
                    app.act(&id, step).await.expect(200);
                }
                id
            }
        };
        // 4 legs consume 4 × 0.5 = 2 WOOD at 5.25 = 10.50, and are worth
        // 10.50 as sub-assemblies.
        let legs = run("LEG", "4").await;
        let e = moved(&app).await.pop().unwrap();
        assert_eq!(e["transaction"], format!("work_order:{legs}:complete"));
        let moves: Vec<(&str, &str, &str, &str, &str)> = e["moves"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| {
                (
                    m["reason"].as_str().unwrap(),
                    m["sku"].as_str().unwrap(),
                    m["category"].as_str().unwrap(),
                    m["qty"].as_str().unwrap(),
                    m["value"].as_str().unwrap(),
                )
            })
            .collect();
        assert_eq!(
            moves,
            vec![
                (
                    "production_issue",
                    "WOOD",
                    "raw_material",
                    "-2.000",
                    "-10.50"
                ),
                ("production_output", "LEG", "sub_assembly", "4.000", "10.50"),
            ]
        );
        // The table consumes 4 LEG (10.50, from sub-assemblies, not raw
        // materials) and 2 WOOD (10.50): 21.00 of finished goods.
        run("TABLE", "1").await;
        let e = moved(&app).await.pop().unwrap();
        let mut moves: Vec<(&str, &str, &str, &str, &str)> = e["moves"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| {
                (
                    m["reason"].as_str().unwrap(),
                    m["sku"].as_str().unwrap(),
                    m["category"].as_str().unwrap(),
                    m["qty"].as_str().unwrap(),
                    m["value"].as_str().unwrap(),
                )
            })
            .collect();
        moves.sort();
        assert_eq!(
            moves,
            vec![
                (
                    "production_issue",
                    "LEG",
                    "sub_assembly",
                    "-4.000",
                    "-10.50"
                ),
                (
                    "production_issue",
                    "WOOD",
                    "raw_material",
                    "-2.000",
                    "-10.50"
                ),
                (
                    "production_output",
                    "TABLE",
                    "finished_good",
                    "1.000",
                    "21.00"
                ),
            ]
        );
        // Raw materials 105.00 − 10.50 − 10.50 = 84.00 (16 WOOD), finished
        // goods 21.00, sub-assemblies 10.50 − 10.50 = 0.
        let v = valuation(&app, "").await;
        assert_eq!(v["currency"], "USD");
        assert_eq!(
            v["totals"],
            json!([
                {"category": "finished_good", "warehouse": "MAIN", "value": "21.00"},
                {"category": "raw_material", "warehouse": "MAIN", "value": "84.00"},
            ])
        );
        assert_eq!(
            v["lines"],
            json!([
                {"category": "finished_good", "warehouse": "MAIN", "sku": "TABLE",
                 "qty": "1.000", "value": "21.00"},
                {"category": "raw_material", "warehouse": "MAIN", "sku": "WOOD",
                 "qty": "16.000", "value": "84.00"},
            ])
        );
        assert_ties_out(&app).await;
        // As of a day before anything moved: nothing; far ahead: all.
        assert_eq!(
            valuation(&app, "?as_of=2000-01-01").await["lines"],
            json!([])
        );
        assert_eq!(
            valuation(&app, "?as_of=2999-12-31").await["totals"],
            v["totals"]
        );
        // Managers and admins read it too; shop managers and customers not.
        app.get("/api/factory/valuation").await.expect(200);
        for role in [Role::ShopManager, Role::User] {
            app.http
                .get("/api/factory/valuation")
                .bearer(&token_for(role))
                .send()
                .await
                .expect(403);
        }
        app.http
            .get("/api/factory/valuation?as_of=yesterday")
            .bearer(&token_for(Role::Accountant))
            .send()
            .await
            .expect(400);
    })
    .await;
}

/// A seeded sequence of random receipts (at costs with up to six
/// places), issues, adjustments, transfers and work orders: after every
/// step Σ published values = the valuation = Σ of the rounded balances.
#[tokio::test]
async fn random_moves_always_tie_out() {
    each_backend(|app: App| async move {
        app.raw("A").await;
        app.raw("B").await;
        app.item("P", "finished_good", "pcs", "0").await;
        app.bom("P", "1", &[("A", "0.3"), ("B", "1.7")])
            .await
            .expect(201);
        app.post(
            "/api/factory/warehouses",
            json!({"code": "EAST", "name": "East"}),
        )
        .await
        .expect(201);
        let mut seed: u64 = 0x5eed;
        let mut next = move |n: u64| {
            seed = seed
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1_442_695_040_888_963_407);
            (seed >> 33) % n
        };
        for _ in 0..40 {
            let sku = ["A", "B"][usize::try_from(next(2)).unwrap()];
            let qty = format!("{}.{:03}", next(20), next(1000));
            let status = match next(6) {
                0 | 1 => {
                    let cost = format!("{}.{:06}", next(5), next(1_000_000));
                    app.post(
                        "/api/factory/stock/receipts",
                        json!({"sku": sku, "qty": format!("1{qty}"), "unit_cost": cost}),
                    )
                    .await
                    .status
                }
                2 => {
                    app.post("/api/factory/stock/issues", json!({"sku": sku, "qty": qty}))
                        .await
                        .status
                }
                3 => {
                    app.post(
                        "/api/factory/stock/adjustments",
                        json!({"sku": sku, "qty": format!("-{qty}"), "reason_note": "count"}),
                    )
                    .await
                    .status
                }
                4 => {
                    app.post(
                        "/api/factory/stock/transfers",
                        json!({"sku": sku, "from": "MAIN", "to": "EAST", "qty": qty}),
                    )
                    .await
                    .status
                }
                _ => {
                    let id = app.work_order("P", "1").await;
                    if app.act(&id, "release").await.status == 200 {
                        app.act(&id, "start").await.expect(200);
                        app.act(&id, "complete").await.status
                    } else {
                        app.act(&id, "cancel").await.status
                    }
                }
            };
            // Short stock (409) or a zero quantity (400) refuse; anything
            // else must have worked.
            assert!(matches!(status, 200 | 201 | 400 | 409), "{status}");
            assert_ties_out(&app).await;
        }
        assert!(moved(&app).await.len() > 10);
    })
    .await;
}

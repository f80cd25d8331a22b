//! Perpetual inventory: the inventory-account mapping (seeded, validated,
//! replaced), `factory.stock.moved` posted once per transaction through
//! it for every reason, and the reconciliation with the factory's
//! valuation (a stand-in factory here; the real one in the marimo
//! crate's walk).

use std::sync::{Arc, Mutex};

use axum::{Json, Router, http::StatusCode, routing::get};
use marimo_platform::{
    auth::Role,
    bus::Bus,
    service::{ServiceContext, ServiceName},
};
use marimo_testkit::{backends, context_on, token_for};
use serde_json::{Value, json};

use crate::{
    events::{drained, publish},
    support::{App, accountant, admin, app_on, today},
};

/// What the stand-in factory answers at its valuation (`Null`: a 500).
type Answer = Arc<Mutex<Value>>;

/// A factory that answers `GET /api/v1/factory/valuation` with `answer`;
/// its base URL.
async fn fake_factory(answer: Answer) -> String {
    let app = Router::new().route(
        "/api/v1/factory/valuation",
        get(move || {
            let answer = answer.clone();
            async move {
                let body = answer.lock().unwrap().clone();
                if body.is_null() {
                    (StatusCode::INTERNAL_SERVER_ERROR, Json(json!({})))
                } else {
                    (StatusCode::OK, Json(body))
                }
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await });
    url
}

struct World {
    app: App,
    factory: ServiceContext,
    answer: Answer,
}

async fn world(backend: &marimo_testkit::Backend) -> World {
    let answer: Answer = Arc::new(Mutex::new(Value::Null));
    let url = fake_factory(answer.clone()).await;
    let bus = Bus::embedded();
    let settings = backend.settings(&[("FACTORY_URLS", &url)]).await;
    let app = app_on(backend, bus.clone(), settings.clone()).await;
    let factory = context_on(ServiceName::Factory, settings, bus).await;
    World {
        app,
        factory,
        answer,
    }
}

/// A `factory.stock.moved` of one transaction; each move is
/// (reason, category, warehouse, value).
fn moved(transaction: &str, moves: &[(&str, &str, &str, &str)]) -> Value {
    let moves: Vec<Value> = moves
        .iter()
        .enumerate()
        .map(|(i, (reason, category, warehouse, value))| {
            json!({"move_id": format!("{transaction}/{i}"), "reason": reason, "sku": "X",
                   "category": category, "warehouse": warehouse, "qty": "1.000", "value": value})
        })
        .collect();
    json!({"transaction": transaction, "currency": "USD", "moves": moves})
}

fn mapping() -> Value {
    json!({
        "categories": {"raw_material": "1200", "sub_assembly": "1230", "finished_good": "1220", "merchandise": "1240"},
        "counter": {"grni": "2050", "wip": "1210", "cogs": "5000", "adjustments": "5100", "opening": "3900"},
        "overrides": [],
    })
}

#[tokio::test]
async fn the_mapping_is_seeded_validated_and_replaced_whole() {
    for backend in backends() {
        let w = world(&backend).await;
        let app = &w.app;
        let name = backend.name();
        let path = "/api/v1/accounting/inventory-accounts";
        let seeded = app.get(path).await.expect(200);
        assert_eq!(seeded.json["categories"], mapping()["categories"], "{name}");
        assert_eq!(seeded.json["counter"], mapping()["counter"]);
        assert_eq!(seeded.json["overrides"], json!([]));
        // The new accounts are in the chart, of the right type.
        for (code, t) in [
            ("1230", "asset"),
            ("1240", "asset"),
            ("2050", "liability"),
            ("3900", "equity"),
            ("5100", "expense"),
        ] {
            let a = app
                .get(&format!("/api/v1/accounting/accounts/{code}"))
                .await
                .expect(200);
            assert_eq!(a.json["account"]["type"], t, "{code}");
        }
        // Refused, and nothing changes: a missing account, the wrong type,
        // an inactive account; a malformed body is a 400.
        app.http
            .put("/api/v1/accounting/accounts/1240")
            .bearer(&accountant())
            .json(json!({"active": false}))
            .send()
            .await
            .expect(200);
        for (pointer, account, why) in [
            ("/counter/opening", "3999", "does not exist"),
            ("/counter/cogs", "1200", "needs an expense account"),
            ("/categories/merchandise", "1240", "inactive"),
            ("/categories/raw_material", "5100", "needs an asset account"),
        ] {
            let mut body = mapping();
            body["categories"]["merchandise"] = json!("1220");
            *body.pointer_mut(pointer).unwrap() = json!(account);
            let res = app
                .http
                .put(path)
                .bearer(&accountant())
                .json(body)
                .send()
                .await
                .expect(422);
            assert_eq!(res.code(), "INVALID_ACCOUNT", "{name} {pointer}");
            assert!(
                res.json["message"].as_str().unwrap().contains(why),
                "{}",
                res.json
            );
        }
        // Accounts payable is a liability too: accepted for GRNI.
        let mut ap = mapping();
        ap["counter"]["grni"] = json!("2000");
        ap["categories"]["merchandise"] = json!("1220");
        app.http
            .put(path)
            .bearer(&accountant())
            .json(ap)
            .send()
            .await
            .expect(200);
        let grni_ap = app.get(path).await.expect(200);
        assert_eq!(grni_ap.json["counter"]["grni"], "2000");
        let mut missing = mapping();
        missing["counter"].as_object_mut().unwrap().remove("wip");
        app.http
            .put(path)
            .bearer(&accountant())
            .json(missing)
            .send()
            .await
            .expect(400);
        let mut twice = mapping();
        twice["overrides"] = json!([
            {"category": "finished_good", "warehouse": "EU", "account": "1220"},
            {"category": "finished_good", "warehouse": "EU", "account": "1200"},
        ]);
        app.http
            .put(path)
            .bearer(&accountant())
            .json(twice)
            .send()
            .await
            .expect(400);
        let mut gold = mapping();
        gold["overrides"] = json!([{"category": "gold", "warehouse": "EU", "account": "1220"}]);
        app.http
            .put(path)
            .bearer(&accountant())
            .json(gold)
            .send()
            .await
            .expect(400);
        assert_eq!(
            app.get(path).await.expect(200).json,
            grni_ap.json,
            "{name}: changed"
        );
        // The database holds the types too: a mapped account's type cannot
        // change under the mapping.
        let retype = app
            .http
            .put("/api/v1/accounting/accounts/5100")
            .bearer(&accountant())
            .json(json!({"type": "asset"}))
            .send()
            .await;
        assert!(
            matches!(retype.status, 409 | 422),
            "{name}: {}",
            retype.json
        );
        // Roles: bookkeepers only.
        for (role, status) in [
            (Role::Manager, 403),
            (Role::ShopManager, 403),
            (Role::User, 403),
        ] {
            app.http
                .get(path)
                .bearer(&token_for(role))
                .send()
                .await
                .expect(status);
            app.http
                .put(path)
                .bearer(&token_for(role))
                .json(mapping())
                .send()
                .await
                .expect(status);
        }
        app.http.get(path).send().await.expect(401);
        app.http
            .put("/api/v1/accounting/accounts/1240")
            .bearer(&admin())
            .json(json!({"active": true}))
            .send()
            .await
            .expect(200);
        app.http
            .put(path)
            .bearer(&admin())
            .json(mapping())
            .send()
            .await
            .expect(200);
    }
}

#[tokio::test]
async fn every_reason_posts_its_textbook_entry_once_and_reconciles() {
    for backend in backends() {
        let w = world(&backend).await;
        let app = &w.app;
        let name = backend.name();
        let day = today().0;
        // Finished goods in the EU warehouse have their own account.
        app.http
            .post("/api/v1/accounting/accounts")
            .bearer(&accountant())
            .json(json!({"code": "1225", "name": "Finished goods EU", "type": "asset"}))
            .send()
            .await
            .expect(201);
        let mut m = mapping();
        m["overrides"] =
            json!([{"category": "finished_good", "warehouse": "EU", "account": "1225"}]);
        app.http
            .put("/api/v1/accounting/inventory-accounts")
            .bearer(&accountant())
            .json(m)
            .send()
            .await
            .expect(200);
        let events = [
            // Wood bought: Dr 1200 / Cr 2050, 100.00.
            moved(
                "receipt:r1",
                &[("receipt", "raw_material", "MAIN", "100.00")],
            ),
            // Goods for resale on hand at the start: Dr 1240 / Cr 3900, 50.00.
            moved("opening:o1", &[("opening", "merchandise", "MAIN", "50.00")]),
            // Legs: wood issued (Dr 1210 / Cr 1200, 40.00), then made
            // (Dr 1230 / Cr 1210, 40.00).
            moved(
                "work_order:w1:issue",
                &[("production_issue", "raw_material", "MAIN", "-40.00")],
            ),
            moved(
                "work_order:w1:complete",
                &[("production_output", "sub_assembly", "MAIN", "40.00")],
            ),
            // A table from the legs (40.00) and a top (8.05) in one
            // transaction: WIP nets out; Dr 1220 48.05 / Cr 1200 8.05 /
            // Cr 1230 40.00.
            moved(
                "work_order:w2:complete",
                &[
                    ("production_issue", "sub_assembly", "MAIN", "-40.00"),
                    ("production_issue", "raw_material", "MAIN", "-8.05"),
                    ("production_output", "finished_good", "MAIN", "48.05"),
                ],
            ),
            // Moved to the EU warehouse: Dr 1225 / Cr 1220, 48.05.
            moved(
                "transfer:t1",
                &[
                    ("transfer", "finished_good", "MAIN", "-48.05"),
                    ("transfer", "finished_good", "EU", "48.05"),
                ],
            ),
            // Shipped from there: Dr 5000 / Cr 1225, 48.05.
            moved(
                "shipment:s1",
                &[("shipment", "finished_good", "EU", "-48.05")],
            ),
            // Returned to MAIN: Dr 1220 / Cr 5000, 48.05.
            moved(
                "return:c1",
                &[("customer_return", "finished_good", "MAIN", "48.05")],
            ),
            // Counted 1.95 of wood short: Dr 5100 / Cr 1200.
            moved(
                "adjustment:a1",
                &[("adjustment", "raw_material", "MAIN", "-1.95")],
            ),
            // 10.00 of merchandise scrapped: Dr 5100 / Cr 1240.
            moved("scrap:x1", &[("scrap", "merchandise", "MAIN", "-10.00")]),
            // A transfer within one account moves nothing in the ledger.
            moved(
                "transfer:t2",
                &[
                    ("transfer", "raw_material", "MAIN", "-5.00"),
                    ("transfer", "raw_material", "SIDE", "5.00"),
                ],
            ),
        ];
        for e in &events {
            publish(&w.factory, "factory.stock.moved", e.clone()).await;
        }
        drained(&w.factory).await;
        // 1200: 100.00 − 40.00 − 8.05 − 1.95 = 50.00
        // 1210: 40.00 − 40.00 = 0.00; 1230: 40.00 − 40.00 = 0.00
        // 1220: 48.05 − 48.05 + 48.05 = 48.05; 1225: 48.05 − 48.05 = 0.00
        // 1240: 50.00 − 10.00 = 40.00
        // 2050: 100.00; 3900: 50.00; 5000: 48.05 − 48.05 = 0.00
        // 5100: 1.95 + 10.00 = 11.95
        for (code, balance) in [
            ("1200", "50.00"),
            ("1210", "0.00"),
            ("1220", "48.05"),
            ("1225", "0.00"),
            ("1230", "0.00"),
            ("1240", "40.00"),
            ("2050", "100.00"),
            ("3900", "50.00"),
            ("5000", "0.00"),
            ("5100", "11.95"),
        ] {
            assert_eq!(app.balance_of(code, &day).await, balance, "{name}: {code}");
        }
        // One entry per transaction that moves the ledger (not transfer:t2).
        assert_eq!(
            app.scalar("SELECT COUNT(*) FROM journal_entries").await,
            10,
            "{name}"
        );
        let e = app
            .get("/api/accounting/journal-entries?reference=factory:work_order:w2:complete")
            .await
            .expect(200);
        let lines = &e.json["entries"][0]["lines"];
        let got: Vec<(String, String, String)> = lines
            .as_array()
            .unwrap()
            .iter()
            .map(|l| {
                (
                    l["account"].as_str().unwrap_or_default().to_owned(),
                    l["debit"].as_str().unwrap_or("0.00").to_owned(),
                    l["credit"].as_str().unwrap_or("0.00").to_owned(),
                )
            })
            .collect();
        assert_eq!(
            got,
            [
                ("1220".to_owned(), "48.05".to_owned(), "0.00".to_owned()),
                ("1200".to_owned(), "0.00".to_owned(), "8.05".to_owned()),
                ("1230".to_owned(), "0.00".to_owned(), "40.00".to_owned()),
            ],
            "{name}: {}",
            e.json
        );
        assert_eq!(e.json["entries"][0]["date"], day.as_str());

        // Redelivered, and published again under new ids: still once.
        sqlx::query("UPDATE outbox SET sent_at = NULL")
            .execute(w.factory.db().pool())
            .await
            .unwrap();
        w.factory.outbox.wake();
        drained(&w.factory).await;
        publish(&w.factory, "factory.stock.moved", events[0].clone()).await;
        drained(&w.factory).await;
        assert_eq!(
            app.scalar("SELECT COUNT(*) FROM journal_entries").await,
            10,
            "{name}"
        );
        assert_eq!(app.scalar("SELECT COUNT(*) FROM dead_letters").await, 0);
        app.assert_consistent().await;

        // The factory agrees: every difference 0.
        let valuation = |rm: &str| {
            json!({"success": true, "as_of": day, "currency": "USD", "totals": [
                {"category": "raw_material", "warehouse": "MAIN", "value": rm},
                {"category": "raw_material", "warehouse": "SIDE", "value": "5.00"},
                {"category": "finished_good", "warehouse": "MAIN", "value": "48.05"},
                {"category": "finished_good", "warehouse": "EU", "value": "0.00"},
                {"category": "merchandise", "warehouse": "MAIN", "value": "40.00"},
            ]})
        };
        // The ledger's 1200 holds MAIN and SIDE: 45.00 + 5.00 = 50.00.
        *w.answer.lock().unwrap() = valuation("45.00");
        let path = format!("/api/v1/accounting/reports/inventory-reconciliation?date={day}");
        let r = app.get(&path).await.expect(200);
        assert_eq!(r.json["ok"], true, "{name}: {}", r.json);
        let row = |r: &Value, code: &str| {
            r["accounts"]
                .as_array()
                .unwrap()
                .iter()
                .find(|a| a["account"] == code)
                .cloned()
                .unwrap_or(Value::Null)
        };
        assert_eq!(row(&r.json, "1200")["ledger"], "50.00");
        assert_eq!(row(&r.json, "1200")["valuation"], "50.00");
        assert_eq!(row(&r.json, "1220")["valuation"], "48.05");
        assert_eq!(row(&r.json, "1230")["difference"], "0.00");
        let accounts: Vec<&str> = r.json["accounts"]
            .as_array()
            .unwrap()
            .iter()
            .map(|a| a["account"].as_str().unwrap())
            .collect();
        assert_eq!(accounts, ["1200", "1220", "1225", "1230", "1240"]);
        // The factory holds 0.01 more wood than the books: 50.00 − 50.01.
        *w.answer.lock().unwrap() = valuation("45.01");
        let r = app
            .http
            .get(&path)
            .bearer(&token_for(Role::Manager))
            .send()
            .await
            .expect(200);
        assert_eq!(r.json["ok"], false);
        assert_eq!(row(&r.json, "1200")["difference"], "-0.01");
        app.http
            .get(&path)
            .bearer(&token_for(Role::ShopManager))
            .send()
            .await
            .expect(403);
        app.http
            .get("/api/v1/accounting/reports/inventory-reconciliation?date=2026-13-01")
            .bearer(&accountant())
            .send()
            .await
            .expect(400);
        // The factory failing: 503 in the one error shape.
        *w.answer.lock().unwrap() = Value::Null;
        let down = app.get(&path).await.expect(503);
        assert_eq!(down.code(), "SERVICE_UNAVAILABLE", "{}", down.json);

        // An inactive counter-account: the move is dead-lettered with
        // the reason, nothing posted.
        app.http
            .put("/api/v1/accounting/accounts/5100")
            .bearer(&accountant())
            .json(json!({"active": false}))
            .send()
            .await
            .expect(200);
        publish(
            &w.factory,
            "factory.stock.moved",
            moved(
                "adjustment:a2",
                &[("adjustment", "raw_material", "MAIN", "-1.00")],
            ),
        )
        .await;
        drained(&w.factory).await;
        let error: String = sqlx::query_scalar("SELECT error FROM dead_letters")
            .fetch_one(app.ctx.db().pool())
            .await
            .unwrap();
        assert!(
            error.starts_with("INACTIVE_ACCOUNT: ") && error.contains("5100"),
            "{error}"
        );
        assert_eq!(app.balance_of("1200", &day).await, "50.00");
    }
}

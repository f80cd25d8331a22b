//! One stock authority across the system: whatever the factory does to a
//! bin (receipts, work orders, holds for shop orders), the shop's
//! availability read model ends up saying the same, bin for bin.

use futures_util::future::join_all;
use marimo_platform::{db::Db, ids::new_id};
use marimo_testkit::{Backend, backends, eventually};
use serde_json::{Value, json};

use crate::support::{login, register_and_login, start_with};

const ADMIN: (&str, &str) = ("boss@marimo.test", "Boss-Passw0rd");

/// The factory's bins as its API shows them: (sku, warehouse) → (on
/// hand, reserved) in thousandths.
fn factory_bins(stock: &Value) -> Vec<(String, String, i64, i64)> {
    let thousandths = |v: &Value| {
        let (int, frac) = v.as_str().unwrap().split_once('.').unwrap();
        int.parse::<i64>().unwrap() * 1000 + frac.parse::<i64>().unwrap()
    };
    stock["stock"]
        .as_array()
        .unwrap()
        .iter()
        .map(|b| {
            (
                b["sku"].as_str().unwrap().to_owned(),
                b["warehouse"].as_str().unwrap().to_owned(),
                thousandths(&b["on_hand"]),
                thousandths(&b["reserved"]),
            )
        })
        .collect()
}

async fn walk(backend: &Backend) {
    let overrides = [
        ("MARIMO_RATE_LIMITS", "off"),
        ("MARIMO_ADMIN_EMAIL", ADMIN.0),
        ("MARIMO_ADMIN_PASSWORD", ADMIN.1),
    ];
    // The test reads the shop's database: it keeps the settings.
    let settings = backend.settings(&overrides).await;
    let sys = start_with(settings.clone()).await;
    let gw = &sys.gw;
    let admin = login(gw, ADMIN.0, ADMIN.1).await["access_token"]
        .as_str()
        .unwrap()
        .to_owned();
    let customer = register_and_login(gw, "ann@example.com").await["access_token"]
        .as_str()
        .unwrap()
        .to_owned();
    let post = |path: &'static str, body: Value| {
        let admin = admin.clone();
        async move { gw.post(path).bearer(&admin).json(body).send().await }
    };
    post(
        "/api/v1/factory/items",
        json!({"sku": "WOOD", "name": "Wood", "kind": "raw_material", "uom": "kg"}),
    )
    .await
    .expect(201);
    post(
        "/api/v1/factory/items",
        json!({"sku": "TABLE", "name": "Table", "kind": "finished_good", "uom": "pcs"}),
    )
    .await
    .expect(201);
    post(
        "/api/v1/factory/stock/receipts",
        json!({"sku": "WOOD", "qty": "20", "unit_cost": "2.00"}),
    )
    .await
    .expect(201);
    post(
        "/api/v1/factory/stock/receipts",
        json!({"sku": "TABLE", "qty": "10", "unit_cost": "48.05"}),
    )
    .await
    .expect(201);
    post("/api/v1/factory/boms", json!({"product_sku": "TABLE", "output_qty": "1", "components": [{"sku": "WOOD", "qty": "4"}]}))
        .await
        .expect(201);
    let wo = post(
        "/api/v1/factory/work-orders",
        json!({"product_sku": "TABLE", "qty": "2"}),
    )
    .await
    .expect(201)
    .json["work_order"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    // Thirty buyers for the ten tables while the work order draws wood and
    // makes two more.
    let buyers = (0..30).map(|_| {
        let customer = customer.clone();
        async move {
            gw.post("/api/v1/factory/holds")
                .bearer(&customer)
                .json(json!({"order_id": new_id(), "lines": [{"sku": "TABLE", "qty": "1"}]}))
                .send()
                .await
                .status
        }
    });
    let steps = async {
        for step in ["release", "start", "complete"] {
            gw.post(&format!("/api/v1/factory/work-orders/{wo}/{step}"))
                .bearer(&admin)
                .send()
                .await
                .expect(200);
        }
    };
    let (held, ()) = tokio::join!(join_all(buyers), steps);
    let ok = held.iter().filter(|s| **s == 201).count();
    assert!((10..=12).contains(&ok), "{ok} holds of 10 to 12 tables");

    let shop = Db::connect("shop", &settings.database, settings.migrate)
        .await
        .unwrap();
    eventually(
        "the shop's read model to agree with the factory",
        || async {
            let factory = factory_bins(
                &gw.get("/api/v1/factory/stock")
                    .bearer(&admin)
                    .send()
                    .await
                    .expect(200)
                    .json,
            );
            let shop: Vec<(String, String, i64, i64)> = sqlx::query_as(
                "SELECT sku, warehouse, on_hand, reserved FROM stock_availability
             ORDER BY sku, warehouse",
            )
            .fetch_all(shop.pool())
            .await
            .unwrap();
            if shop == factory {
                Ok(())
            } else {
                Err(format!("factory {factory:?}, shop {shop:?}"))
            }
        },
    )
    .await;
    sys.stop().await;
}

#[tokio::test]
async fn the_shops_availability_is_the_factorys_for_every_bin() {
    for backend in backends() {
        walk(&backend).await;
    }
}

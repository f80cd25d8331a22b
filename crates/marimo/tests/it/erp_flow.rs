//! The ERP end to end through the gateway, on every backend: events carry
//! each step to the services that care, through the outbox and the bus.

use marimo_testkit::eventually;
use marimo_testkit::{Backend, Http, TestRedis, backends};
use serde_json::{Value, json};

use crate::support::{login, mails, register_and_login, start};

const ADMIN: (&str, &str) = ("boss@marimo.test", "Boss-Passw0rd");

async fn get(gw: &Http, path: &str, token: &str) -> Value {
    gw.get(path).bearer(token).send().await.expect(200).json
}

#[tokio::test]
async fn registration_order_payment_and_production_flow_through_every_service() {
    marimo_platform::telemetry::init_logging("warn", marimo_platform::config::LogFormat::Pretty);
    for backend in backends() {
        walk(&backend, &[]).await;
    }
}

/// The same flow with every backend real: PostgreSQL, RabbitMQ (in a
/// virtual host of its own, so no other run's messages can reach it) and
/// Redis (the gateway's cache and limits, the jobs' locks; a namespace of
/// its own).
#[tokio::test]
async fn the_flow_on_postgresql_rabbitmq_and_redis() {
    let (Some(rabbit), Some(redis), Some(pg)) = (
        crate::support::RabbitVhost::create(),
        marimo_testkit::redis_url().map(|url| TestRedis::new(&url)),
        backends().into_iter().find(|b| b.name() == "postgres"),
    ) else {
        return;
    };
    let mut vars = vec![("RABBITMQ_URL", rabbit.url.as_str())];
    vars.extend(redis.vars());
    walk(&pg, &vars).await;
}

async fn walk(backend: &Backend, extra: &[(&str, &str)]) {
    let mut overrides = vec![
        ("MARIMO_RATE_LIMITS", "off"),
        ("MARIMO_ADMIN_EMAIL", ADMIN.0),
        ("MARIMO_ADMIN_PASSWORD", ADMIN.1),
    ];
    overrides.extend_from_slice(extra);
    let sys = start(backend, &overrides).await;
    let gw = &sys.gw;
    let admin = login(gw, ADMIN.0, ADMIN.1).await["access_token"]
        .as_str()
        .unwrap()
        .to_owned();

    // Registration → welcome email and an audit row.
    let customer = register_and_login(gw, "ann@example.com").await;
    let token = customer["access_token"].as_str().unwrap().to_owned();
    let user_id = customer["user"]["id"].as_str().unwrap().to_owned();
    eventually("the welcome mail", || async {
        mails(&sys.data_dir)
            .into_iter()
            .find(|m| m.contains("Subject: Welcome to Marimo ERP") && m.contains("ann@example.com"))
    })
    .await;
    eventually("the registration audit row", || async {
        let audit = get(gw, "/api/audit?action=users.user.registered", &admin).await;
        audit["entries"]
            .as_array()?
            .iter()
            .find(|e| e["target"] == format!("user:{user_id}"))
            .cloned()
    })
    .await;

    // An order at catalog prices, paid → revenue in the ledger, a
    // receipt, and an in-app notification.
    let catalog = gw
        .get("/api/shop/products?q=premium")
        .send()
        .await
        .expect(200)
        .json;
    let widget = catalog["products"][0].clone();
    assert_eq!(widget["name"], "Premium Widget");
    let widget_id = widget["id"].as_str().unwrap().to_owned();
    let stock_before = widget["stock"].as_i64().unwrap();
    let order = gw
        .post("/api/shop/orders")
        .bearer(&token)
        .json(json!({"items": [{"product_id": widget_id, "quantity": 2, "price": 0.01}]}))
        .send()
        .await
        .expect(201)
        .json;
    let order_id = order["order"]["id"].as_str().unwrap().to_owned();
    assert_eq!(
        order["order"]["total"], "59.98",
        "catalog price, not the client's"
    );
    // The shop records the payment received (customers cannot).
    crate::support::record_payment(gw, &admin, &order_id).await;

    eventually("revenue in the ledger", || async {
        let balance = get(gw, "/api/accounting/balance", &admin).await;
        (balance["income"] == "59.98").then_some(())
    })
    .await;
    eventually("the receipt", || async {
        mails(&sys.data_dir)
            .into_iter()
            .find(|m| m.contains(&format!("Subject: Receipt for order {order_id}")))
    })
    .await;
    eventually("the customer's notification", || async {
        let n = get(gw, "/api/notifications", &token).await;
        (n["unread_count"].as_i64()? >= 1).then_some(())
    })
    .await;

    // Production of the linked item raises the shop's stock.
    let post = |path: &'static str, body: Value| {
        let (gw, admin) = (gw.clone(), admin.clone());
        async move { gw.post(path).bearer(&admin).json(body).send().await }
    };
    post("/api/factory/items", json!({"sku": "RM-STEEL", "name": "Steel", "kind": "raw_material", "unit": "kg", "standard_cost": "1.00", "reorder_point": "0"}))
        .await
        .expect(201);
    let fg = post("/api/factory/items", json!({"sku": "WIDGET-PREMIUM", "name": "Premium Widget", "kind": "finished_good", "unit": "pcs", "standard_cost": "5.00", "reorder_point": "0"})).await;
    assert!(fg.status == 201 || fg.status == 409, "{}", fg.text);
    post(
        "/api/factory/stock/receipts",
        json!({"sku": "RM-STEEL", "qty": "10", "unit_cost": "1.50"}),
    )
    .await
    .expect(201);
    post("/api/factory/boms", json!({"product_sku": "WIDGET-PREMIUM", "output_qty": "1", "components": [{"sku": "RM-STEEL", "qty": "2"}]}))
        .await
        .expect(201);
    let wo = post(
        "/api/factory/work-orders",
        json!({"product_sku": "WIDGET-PREMIUM", "qty": "3"}),
    )
    .await
    .expect(201)
    .json;
    let wo_id = wo["work_order"]["id"]
        .as_str()
        .or(wo["id"].as_str())
        .unwrap()
        .to_owned();
    for step in ["release", "start", "complete"] {
        let res = gw
            .post(&format!("/api/factory/work-orders/{wo_id}/{step}"))
            .bearer(&admin)
            .json(json!({}))
            .send()
            .await;
        assert_eq!(res.status, 200, "{step}: {}", res.text);
    }
    eventually("shop stock raised by production", || async {
        let p = gw
            .get(&format!("/api/shop/products/{widget_id}"))
            .send()
            .await
            .json;
        (p["stock"].as_i64()? == stock_before - 2 + 3).then_some(())
    })
    .await;
    sys.stop().await;
}

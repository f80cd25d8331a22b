//! `Idempotency-Key` through the gateway on a sample of every service's
//! mutating endpoints: a repeated request with a key takes effect once and
//! is answered with the first answer (`Idempotent-Replayed: true`); the
//! same key with another body is refused (422 `IDEMPOTENCY_KEY_REUSED`).
//! Endpoints behind the platform's layer and endpoints that claim the key
//! in their own transaction (a payment) behave alike for the client.

use marimo_testkit::{Http, Res, backends};
use serde_json::{Value, json};

use crate::support::{login, register_and_login, start};

const ADMIN: (&str, &str) = ("idem-admin@marimo.test", "Idem-Passw0rd");

/// Sends `body` to `path` twice with `key`, checks the second answer is
/// the first replayed, then the key with `other` is refused. Returns the
/// first answer.
async fn once(
    gw: &Http,
    token: &str,
    method: &str,
    path: &str,
    key: &str,
    body: Value,
    other: Value,
) -> Res {
    let send = |body: Value| {
        let req = match method {
            "PUT" => gw.put(path),
            "DELETE" => gw.delete(path),
            _ => gw.post(path),
        };
        req.bearer(token)
            .header("idempotency-key", key)
            .json(body)
            .send()
    };
    let first = send(body.clone()).await;
    assert!(
        first.status < 300,
        "{method} {path}: {} {}",
        first.status,
        first.text
    );
    assert!(first.header("idempotent-replayed").is_none(), "{path}");
    let again = send(body).await;
    assert_eq!(again.status, first.status, "{path}: {}", again.text);
    assert_eq!(again.header("idempotent-replayed"), Some("true"), "{path}");
    assert_eq!(again.json, first.json, "{path}: the first answer again");
    let refused = send(other).await;
    assert_eq!(refused.status, 422, "{path}: {}", refused.text);
    assert_eq!(refused.code(), "IDEMPOTENCY_KEY_REUSED", "{path}");
    first
}

fn token(login: &Value) -> String {
    login["access_token"].as_str().expect("a token").to_owned()
}

#[tokio::test]
async fn every_service_answers_a_repeated_request_once() {
    for backend in backends() {
        eprintln!("--- backend: {}", backend.name());
        let sys = start(
            &backend,
            &[
                ("MARIMO_RATE_LIMITS", "off"),
                ("MARIMO_ADMIN_EMAIL", ADMIN.0),
                ("MARIMO_ADMIN_PASSWORD", ADMIN.1),
            ],
        )
        .await;
        let gw = &sys.gw;
        let admin = token(&login(gw, ADMIN.0, ADMIN.1).await);
        let customer = register_and_login(gw, "idem-customer@example.com").await;
        let customer_id = customer["user"]["id"].as_str().unwrap().to_owned();

        // users: a role change.
        once(
            gw,
            &admin,
            "POST",
            "/api/users/admin/assign-role",
            "users-1",
            json!({"user_id": customer_id, "role": "accountant"}),
            json!({"user_id": customer_id, "role": "manager"}),
        )
        .await;
        let relogin = login(gw, "idem-customer@example.com", crate::support::PASSWORD).await;
        assert_eq!(
            relogin["user"]["role"], "accountant",
            "the first request's role"
        );
        // A role change ends the sessions the user had.
        let customer = token(&relogin);

        // config: a new setting, written once (one history entry).
        once(
            gw,
            &admin,
            "POST",
            "/api/config",
            "config-1",
            json!({"key": "idem_demo", "value": "one"}),
            json!({"key": "idem_demo", "value": "two"}),
        )
        .await;
        let history = gw
            .get("/api/config/idem_demo/history")
            .bearer(&admin)
            .send()
            .await
            .expect(200);
        assert_eq!(
            history.json["history"].as_array().map(Vec::len),
            Some(1),
            "{}",
            history.text
        );

        // accounting: an account (a second creation would be a 409).
        once(
            gw,
            &admin,
            "POST",
            "/api/accounting/accounts",
            "accounting-1",
            json!({"code": "6190", "name": "Idempotent costs", "type": "expense"}),
            json!({"code": "6191", "name": "Other costs", "type": "expense"}),
        )
        .await;
        let accounts = gw
            .get("/api/accounting/accounts")
            .bearer(&admin)
            .send()
            .await
            .expect(200);
        let codes: Vec<&str> = accounts.json["accounts"]
            .as_array()
            .unwrap()
            .iter()
            .filter_map(|a| a["code"].as_str())
            .filter(|c| c.starts_with("619"))
            .collect();
        assert_eq!(codes, ["6190"]);

        // factory: an item.
        once(
            gw,
            &admin,
            "POST",
            "/api/factory/items",
            "factory-1",
            json!({"sku": "IDEM-BOLT", "name": "Bolt", "kind": "raw_material", "unit": "pcs", "standard_cost": "0.10", "reorder_point": "0"}),
            json!({"sku": "IDEM-NUT", "name": "Nut", "kind": "raw_material", "unit": "pcs", "standard_cost": "0.05", "reorder_point": "0"}),
        )
        .await;
        let items = gw
            .get("/api/factory/items")
            .bearer(&admin)
            .send()
            .await
            .expect(200);
        let skus: Vec<&str> = items.json["items"]
            .as_array()
            .unwrap()
            .iter()
            .filter_map(|i| i["sku"].as_str())
            .filter(|s| s.starts_with("IDEM-"))
            .collect();
        assert_eq!(skus, ["IDEM-BOLT"]);

        // shop: a product (layer), then an order paid (in-transaction).
        let product = once(
            gw,
            &admin,
            "POST",
            "/api/shop/admin/products",
            "shop-1",
            json!({"name": "Idempotent Lamp", "price": "12.50", "stock": 5}),
            json!({"name": "Idempotent Lamp", "price": "13.00", "stock": 5}),
        )
        .await;
        let product_id = product.json["product"]["id"].as_str().unwrap().to_owned();
        let catalog = gw
            .get("/api/shop/products?q=Idempotent")
            .send()
            .await
            .expect(200);
        assert_eq!(
            catalog.json["products"].as_array().map(Vec::len),
            Some(1),
            "{}",
            catalog.text
        );
        let order = once(
            gw,
            &customer,
            "POST",
            "/api/shop/orders",
            "order-1",
            json!({"items": [{"product_id": product_id, "quantity": 2}]}),
            json!({"items": [{"product_id": product_id, "quantity": 3}]}),
        )
        .await;
        let order_id = order.json["order"]["id"].as_str().unwrap().to_owned();
        let paid = once(
            gw,
            &admin,
            "POST",
            &format!("/api/shop/orders/{order_id}/pay"),
            "pay-1",
            json!({"method": "card", "reference": "R-1"}),
            json!({"method": "card", "reference": "R-2"}),
        )
        .await;
        assert_eq!(paid.json["order"]["status"], "paid");
        let shown = gw
            .get(&format!("/api/shop/orders/{order_id}"))
            .bearer(&admin)
            .send()
            .await
            .expect(200);
        let payments = shown.json["payments"].as_array().unwrap();
        assert_eq!(payments.len(), 1, "captured once: {}", shown.text);
        // 2 × 12.50: the subtotal; the capture is the order's total.
        assert_eq!(shown.json["subtotal"], "25.00");
        assert_eq!(payments[0]["amount"], shown.json["total"]);

        // worker: a webhook.
        once(
            gw,
            &admin,
            "POST",
            "/api/notifications/webhooks",
            "worker-1",
            json!({"url": "https://hooks.example.com/idem", "event_types": ["shop.order.*"], "secret": "0123456789abcdef"}),
            json!({"url": "https://hooks.example.com/other", "event_types": ["shop.order.*"], "secret": "0123456789abcdef"}),
        )
        .await;
        let hooks = gw
            .get("/api/notifications/webhooks")
            .bearer(&admin)
            .send()
            .await
            .expect(200);
        assert_eq!(hooks.json["webhooks"].as_array().map(Vec::len), Some(1));
        sys.stop().await;
    }
}

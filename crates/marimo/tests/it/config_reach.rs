//! A setting changed in the config service reaches the services that use
//! it without a restart: the shop's next order is taxed at the new rate,
//! and the gateway's cached config answer is not served stale; a unit of
//! measure added there becomes usable in the factory; token lifetimes set
//! there apply to the next sign-in; so do rate limits, and a business
//! currency set before anything is posted becomes the ledger's.

use marimo_testkit::backends;
use marimo_testkit::eventually;
use serde_json::json;

use crate::support::{Running, login, register_and_login, start};

const ADMIN: (&str, &str) = ("boss@marimo.test", "Boss-Passw0rd");

/// The system on `backend` (limits off) and the bootstrap admin's token.
async fn start_as_admin(backend: &marimo_testkit::Backend) -> (Running, String) {
    let sys = start(
        backend,
        &[
            ("MARIMO_RATE_LIMITS", "off"),
            ("MARIMO_ADMIN_EMAIL", ADMIN.0),
            ("MARIMO_ADMIN_PASSWORD", ADMIN.1),
        ],
    )
    .await;
    let admin = login(&sys.gw, ADMIN.0, ADMIN.1).await["access_token"]
        .as_str()
        .unwrap()
        .to_owned();
    (sys, admin)
}

#[tokio::test]
async fn a_tax_rate_change_reaches_the_shop_without_a_restart() {
    for backend in backends() {
        let (sys, admin) = start_as_admin(&backend).await;
        let gw = &sys.gw;
        let customer = register_and_login(gw, "tax@example.com").await["access_token"]
            .as_str()
            .unwrap()
            .to_owned();

        // Read (and so cache) the setting through the gateway first.
        let before = gw
            .get("/api/config/tax_rate")
            .bearer(&admin)
            .send()
            .await
            .expect(200);
        assert_eq!(before.json["value"], "0", "{}", before.text);

        let catalog = gw
            .get("/api/shop/products?q=premium")
            .send()
            .await
            .expect(200)
            .json;
        let product = catalog["products"][0]["id"].as_str().unwrap().to_owned();

        gw.put("/api/config/tax_rate")
            .bearer(&admin)
            .json(json!({"value": "8.25"}))
            .send()
            .await
            .expect(200);
        let after = gw
            .get("/api/config/tax_rate")
            .bearer(&admin)
            .send()
            .await
            .expect(200);
        assert_eq!(after.json["value"], "8.25", "no stale cached answer");

        // The event reaches the shop; until it has, orders carry the old
        // rate and are cancelled again so stock is not tied up.
        let order = eventually("an order taxed at the new rate", || async {
            let order = gw
                .post("/api/shop/orders")
                .bearer(&customer)
                .json(json!({"items": [{"product_id": product, "quantity": 1}]}))
                .send()
                .await
                .expect(201)
                .json;
            if order["order"]["tax_rate"] == "8.25" {
                return Some(order);
            }
            let id = order["order"]["id"].as_str().unwrap();
            gw.post(&format!("/api/shop/orders/{id}/cancel"))
                .bearer(&customer)
                .send()
                .await
                .expect(200);
            None
        })
        .await;
        // 29.99 × 8.25 % = 2.474175 → 2.47; total 32.46, exactly.
        assert_eq!(order["order"]["subtotal"], "29.99", "{}", order);
        assert_eq!(order["order"]["tax"], "2.47");
        assert_eq!(order["order"]["total"], "32.46");
        sys.stop().await;
    }
}

#[tokio::test]
async fn a_unit_added_in_the_config_service_can_be_used_by_the_factory() {
    for backend in backends() {
        let (sys, admin) = start_as_admin(&backend).await;
        let gw = &sys.gw;
        let item = json!({"sku": "FABRIC", "name": "Fabric", "kind": "raw_material", "uom": "m2"});
        let refused = gw
            .post("/api/factory/items")
            .bearer(&admin)
            .json(item.clone())
            .send()
            .await
            .expect(422);
        assert!(refused.text.contains("m2"), "{}", refused.text);

        gw.post("/api/config/reference/units")
            .bearer(&admin)
            .json(json!({"code": "m2", "name": "Square metre"}))
            .send()
            .await
            .expect(200);
        eventually("the factory accepting the new unit", || async {
            let res = gw
                .post("/api/factory/items")
                .bearer(&admin)
                .json(item.clone())
                .send()
                .await;
            (res.status == 201).then_some(())
        })
        .await;
        let units = gw
            .get("/api/factory/units")
            .bearer(&admin)
            .send()
            .await
            .expect(200);
        assert!(units.text.contains("Square metre"), "{}", units.text);
        sys.stop().await;
    }
}

#[tokio::test]
async fn token_lifetimes_set_in_the_config_service_apply_to_the_next_sign_in() {
    for backend in backends() {
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
        let first = login(gw, ADMIN.0, ADMIN.1).await;
        assert_eq!(first["expires_in"], 900, "the default: 15 minutes");
        let admin = first["access_token"].as_str().unwrap().to_owned();

        gw.put("/api/config/access_token_ttl_minutes")
            .bearer(&admin)
            .json(json!({"value": "5"}))
            .send()
            .await
            .expect(200);
        eventually("a sign-in with the new lifetime", || async {
            let body = login(gw, ADMIN.0, ADMIN.1).await;
            (body["expires_in"] == 300).then_some(())
        })
        .await;

        // Deleting the setting restores the default.
        gw.delete("/api/config/access_token_ttl_minutes")
            .bearer(&admin)
            .send()
            .await
            .expect(200);
        eventually("the default lifetime again", || async {
            let body = login(gw, ADMIN.0, ADMIN.1).await;
            (body["expires_in"] == 900).then_some(())
        })
        .await;
        sys.stop().await;
    }
}

#[tokio::test]
async fn rate_limits_set_in_the_config_service_reach_the_gateway() {
    for backend in backends() {
        // The environment turns limits off; the setting turns them on.
        let (sys, admin) = start_as_admin(&backend).await;
        let gw = &sys.gw;
        gw.put("/api/config/rate_limits")
            .bearer(&admin)
            .json(json!({"value": "login=2/m", "value_type": "string", "type": "system"}))
            .send()
            .await
            .expect(200);
        let attempt = || async {
            gw.post("/api/users/login")
                .json(json!({"email": ADMIN.0, "password": ADMIN.1}))
                .send()
                .await
        };
        eventually("the login limit enforced", || async {
            let res = attempt().await;
            (res.status == 429).then_some(())
        })
        .await;
        let limited = attempt().await.expect(429);
        assert!(limited.header("retry-after").is_some());

        // Deleted: back to the environment's (off).
        gw.delete("/api/config/rate_limits")
            .bearer(&admin)
            .send()
            .await
            .expect(200);
        eventually("limits off again", || async {
            for _ in 0..5 {
                if attempt().await.status != 200 {
                    return None;
                }
            }
            Some(())
        })
        .await;
        sys.stop().await;
    }
}

#[tokio::test]
async fn a_new_business_currency_reaches_the_empty_ledger() {
    let backend = marimo_testkit::Backend::Sqlite;
    let (sys, admin) = start_as_admin(&backend).await;
    let gw = &sys.gw;
    gw.put("/api/config/currency")
        .bearer(&admin)
        .json(json!({"value": "EUR"}))
        .send()
        .await
        .expect(200);
    eventually("the ledger in euros", || async {
        let tb = gw
            .get("/api/accounting/reports/trial-balance")
            .bearer(&admin)
            .send()
            .await
            .expect(200);
        (tb.json["currency"] == "EUR").then_some(())
    })
    .await;
    sys.stop().await;
}

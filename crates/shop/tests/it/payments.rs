//! Who may mark an order paid (issue 14.3): never the customer; staff with
//! the method and reference of the payment received; the payment
//! provider's callback, signed, fresh, for the exact total, once per event.

use marimo_platform::{auth::Role, clock};
use marimo_shop::domain::payment::callback_signature;
use serde_json::{Value, json};

use marimo_testkit::each_backend;

use crate::support::{App, WIDGET, line};

const SECRET: &str = "provider-secret-0123456789abcdef0123456789";

async fn status(app: &App, id: &str) -> String {
    sqlx::query_scalar("SELECT status FROM orders WHERE id = $1")
        .bind(id)
        .fetch_one(app.pool())
        .await
        .unwrap()
}

async fn captures(app: &App, id: &str) -> Vec<(String, String, String)> {
    sqlx::query_as(
        "SELECT method, reference, recorded_by FROM payments
         WHERE order_id = $1 AND kind = 'capture'",
    )
    .bind(id)
    .fetch_all(app.pool())
    .await
    .unwrap()
}

/// Sends a provider callback, signed with `secret` at `timestamp`.
async fn callback(app: &App, body: &Value, secret: &str, timestamp: i64) -> marimo_testkit::Res {
    let raw = body.to_string();
    let ts = timestamp.to_string();
    app.http()
        .post("/api/shop/payments/callback")
        .header("content-type", "application/json")
        .header("x-payment-timestamp", &ts)
        .header(
            "x-payment-signature",
            &callback_signature(secret.as_bytes(), &ts, raw.as_bytes()),
        )
        .body(raw)
        .send()
        .await
}

#[tokio::test]
async fn a_customer_cannot_pay_and_staff_record_method_and_reference() {
    each_backend(|app: App| async move {
        let ann = app.user(Role::User);
        let order = app.order(&ann, json!([line(WIDGET, 1)])).await;
        let id = order["id"].as_str().unwrap();

        // The customer, with or without a plausible body: 403, nothing paid.
        for body in [None, Some(json!({"method": "card", "reference": "mine"}))] {
            let req = app
                .http()
                .post(&format!("/api/shop/orders/{id}/pay"))
                .bearer(&ann.token);
            let req = match body {
                Some(b) => req.json(b),
                None => req,
            };
            let res = req.send().await.expect(403);
            assert_eq!(res.json["error"]["code"], "FORBIDDEN");
        }
        assert_eq!(status(&app, id).await, "pending");
        assert!(captures(&app, id).await.is_empty());

        // Staff must say how it was paid and with what reference.
        let staff = app.user(Role::ShopManager);
        for (body, field) in [
            (json!({}), "method"),
            (json!({"method": "card"}), "reference"),
            (json!({"method": "Card!", "reference": "R-1"}), "method"),
        ] {
            let res = app
                .http()
                .post(&format!("/api/shop/orders/{id}/pay"))
                .bearer(&staff.token)
                .json(body)
                .send()
                .await
                .expect(400);
            assert_eq!(res.json["error"]["details"]["field"], field);
        }
        let res = app
            .http()
            .post(&format!("/api/shop/orders/{id}/pay"))
            .bearer(&staff.token)
            .json(json!({"method": "cash", "reference": "TILL-7 #0042"}))
            .send()
            .await
            .expect(200);
        assert_eq!(res.json["order"]["status"], "paid");
        assert_eq!(
            captures(&app, id).await,
            [("cash".into(), "TILL-7 #0042".into(), staff.id.clone())]
        );
        let shown = app
            .http()
            .get(&format!("/api/shop/orders/{id}"))
            .bearer(&ann.token)
            .send()
            .await
            .expect(200);
        assert_eq!(shown.json["payments"][0]["method"], "cash");
        assert_eq!(shown.json["payments"][0]["reference"], "TILL-7 #0042");
    })
    .await;
}

#[tokio::test]
async fn the_providers_callback_must_be_signed_fresh_exact_and_is_applied_once() {
    for backend in marimo_testkit::backends() {
        let app = App::start_with(&backend, &[("PAYMENT_WEBHOOK_SECRET", SECRET)]).await;
        let ann = app.user(Role::User);
        let order = app.order(&ann, json!([line(WIDGET, 1)])).await;
        let id = order["id"].as_str().unwrap();
        let now = clock::unix_now();
        let paid = json!({
            "event_id": "evt_1",
            "type": "payment.succeeded",
            "order_id": id,
            "amount": order["total"],
            "currency": order["currency"],
            "reference": "pi_123",
        });

        // Forged (another key), stale, unsigned: 401, the order untouched.
        let res = callback(&app, &paid, "not-the-providers-secret-0123456789", now).await;
        assert_eq!(res.status, 401, "{}", res.text);
        let res = callback(&app, &paid, SECRET, now - 3600).await;
        assert_eq!(res.status, 401, "{}", res.text);
        let res = app
            .http()
            .post("/api/shop/payments/callback")
            .json(paid.clone())
            .send()
            .await;
        assert_eq!(res.status, 401, "{}", res.text);
        // Signed, but for less than the order's total: 422.
        let mut cheap = paid.clone();
        cheap["event_id"] = "evt_0".into();
        cheap["amount"] = "0.01".into();
        let res = callback(&app, &cheap, SECRET, now).await;
        assert_eq!(res.status, 422, "{}", res.text);
        assert_eq!(status(&app, id).await, "pending");

        // The real one: paid, recorded as the provider's.
        let res = callback(&app, &paid, SECRET, now).await;
        assert_eq!(res.status, 200, "{}", res.text);
        assert_eq!(res.json["order"]["status"], "paid");
        assert_eq!(
            captures(&app, id).await,
            [(
                "provider".into(),
                "pi_123".into(),
                "payment-provider".into()
            )]
        );
        // Replayed or retried: acknowledged, nothing changes.
        let res = callback(&app, &paid, SECRET, now).await;
        assert_eq!(res.status, 200, "{}", res.text);
        assert_eq!(res.json["duplicate"], true);
        assert_eq!(captures(&app, id).await.len(), 1);
    }
}

#[tokio::test]
async fn without_a_configured_secret_every_callback_is_refused() {
    each_backend(|app: App| async move {
        let ann = app.user(Role::User);
        let order = app.order(&ann, json!([line(WIDGET, 1)])).await;
        let id = order["id"].as_str().unwrap();
        let body = json!({
            "event_id": "evt_1", "type": "payment.succeeded", "order_id": id,
            "amount": order["total"], "currency": order["currency"],
        });
        let res = callback(&app, &body, SECRET, clock::unix_now()).await;
        assert_eq!(res.status, 401, "{}", res.text);
        assert_eq!(status(&app, id).await, "pending");
    })
    .await;
}

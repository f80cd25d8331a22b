//! Webhooks: registration rules, signed deliveries retried until the
//! receiver accepts, every attempt logged.

use std::sync::{Arc, Mutex};

use axum::{
    Router,
    body::Bytes,
    http::{HeaderMap, StatusCode},
    routing::post,
};
use marimo_platform::{auth::Role, bus::Envelope};
use marimo_testkit::{TestServer, backends, spawn};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use marimo_testkit::eventually;

use crate::support::{token, world};

const SECRET: &str = "s3cret-s3cret-s3cret";

/// HMAC-SHA256 written out from RFC 2104, independent of the worker's code.
fn hmac_sha256(key: &[u8], msg: &[u8]) -> String {
    let mut k = [0u8; 64];
    if key.len() > 64 {
        k[..32].copy_from_slice(&Sha256::digest(key)[..]);
    } else {
        k[..key.len()].copy_from_slice(key);
    }
    let ipad: Vec<u8> = k.iter().map(|b| b ^ 0x36).collect();
    let opad: Vec<u8> = k.iter().map(|b| b ^ 0x5c).collect();
    let inner = Sha256::new()
        .chain_update(&ipad)
        .chain_update(msg)
        .finalize();
    let outer = Sha256::new()
        .chain_update(&opad)
        .chain_update(inner)
        .finalize();
    hex::encode(outer)
}

#[derive(Clone, Debug)]
struct Hit {
    headers: HeaderMap,
    body: Bytes,
}

/// A receiver that answers 500 to the first `fail_first` requests, then 204.
async fn receiver(fail_first: usize) -> (TestServer, String, Arc<Mutex<Vec<Hit>>>) {
    let hits: Arc<Mutex<Vec<Hit>>> = Arc::default();
    let h = hits.clone();
    let app = Router::new().route(
        "/hook",
        post(move |headers: HeaderMap, body: Bytes| {
            let h = h.clone();
            async move {
                let mut hits = h.lock().unwrap();
                hits.push(Hit { headers, body });
                if hits.len() <= fail_first {
                    StatusCode::INTERNAL_SERVER_ERROR
                } else {
                    StatusCode::NO_CONTENT
                }
            }
        }),
    );
    let server = spawn(app).await;
    let url = format!("{}/hook", server.url);
    (server, url, hits)
}

fn header<'a>(h: &'a Hit, name: &str) -> &'a str {
    h.headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
}

#[tokio::test]
async fn a_delivery_is_retried_until_accepted_signed_and_logged() {
    for backend in backends() {
        let w = world(&backend, &[]).await;
        let (_, admin) = token(Role::Admin);
        let http = &w.server.http;
        let (_receiver, url, hits) = receiver(2).await;

        let created = http
            .post("/api/notifications/webhooks")
            .bearer(&admin)
            .json(json!({"url": url, "event_types": ["shop.order.*"], "secret": SECRET}))
            .send()
            .await
            .expect(201);
        assert!(
            !created.text.contains(SECRET),
            "secret echoed: {}",
            created.text
        );
        let hook_id = created.json["webhook"]["id"].as_str().unwrap().to_owned();

        let paid = Envelope::new(
            "shop",
            "shop.order.paid",
            json!({"order_id": "o-5", "user_id": "u-1", "email": "c@example.com", "total": "5.00", "currency": "EUR", "items": []}),
        );
        w.publish(&Envelope::new(
            "users",
            "users.user.registered",
            json!({"user_id": "u-9", "email": "new@example.com", "name": "New"}),
        ))
        .await;
        w.publish(&paid).await;

        eventually("the delivery delivered", || async {
            (w.count("SELECT COUNT(*) FROM webhook_deliveries WHERE status = 'delivered'")
                .await
                == 1)
                .then_some(())
        })
        .await;
        // Redelivery of the events creates no second delivery.
        w.redeliver_all().await;
        assert_eq!(
            w.count("SELECT COUNT(*) FROM webhook_deliveries").await,
            1,
            "{}",
            w.name()
        );

        let hits = hits.lock().unwrap().clone();
        assert_eq!(hits.len(), 3, "{}", w.name());
        let delivery_id = header(&hits[0], "x-marimo-delivery").to_owned();
        for h in &hits {
            assert_eq!(header(h, "x-marimo-event"), "shop.order.paid");
            assert_eq!(header(h, "x-marimo-delivery"), delivery_id);
            assert_eq!(header(h, "content-type"), "application/json");
            // The signature is over the exact bytes received.
            assert_eq!(
                header(h, "x-marimo-signature"),
                format!("sha256={}", hmac_sha256(SECRET.as_bytes(), &h.body))
            );
            assert_eq!(h.body, hits[0].body);
        }
        let body: Value = serde_json::from_slice(&hits[0].body).unwrap();
        assert_eq!(body["id"], paid.id.as_str());
        assert_eq!(body["type"], "shop.order.paid");
        assert_eq!(body["payload"]["order_id"], "o-5");

        let v = http
            .get(&format!("/api/notifications/webhooks/{hook_id}/deliveries"))
            .bearer(&admin)
            .send()
            .await
            .expect(200)
            .json;
        assert_eq!(v["total"], 1);
        let d = &v["deliveries"][0];
        assert_eq!(d["id"], delivery_id.as_str());
        assert_eq!(d["event_id"], paid.id.as_str());
        assert_eq!(d["status"], "delivered");
        assert_eq!(d["attempt_count"], 3);
        assert!(d["delivered_at"].is_string());
        let codes: Vec<Value> = d["attempts"]
            .as_array()
            .unwrap()
            .iter()
            .map(|a| a["status_code"].clone())
            .collect();
        assert_eq!(codes, vec![json!(500), json!(500), json!(204)]);
        assert!(d["attempts"][0]["error"].as_str().unwrap().contains("500"));
        assert_eq!(d["attempts"][2]["error"], Value::Null);
        assert!(d["attempts"][0]["duration_ms"].is_i64());

        let summary = http
            .get("/api/worker/summary")
            .bearer(&admin)
            .send()
            .await
            .expect(200)
            .json;
        assert_eq!(summary["summary"]["webhook_deliveries"]["delivered"], 1);
        assert_eq!(summary["summary"]["webhook_deliveries"]["pending"], 0);
        assert_eq!(summary["summary"]["audit_entries"], 2);
        let metrics = http.get("/metrics").send().await.expect(200).text;
        assert!(
            metrics.contains("webhook_deliveries_total{status=\"delivered\"} 1"),
            "{metrics}"
        );
        assert!(
            metrics.contains("webhook_deliveries_total{status=\"retry\"} 2"),
            "{metrics}"
        );
    }
}

#[tokio::test]
async fn a_receiver_that_never_accepts_fails_the_delivery_after_the_limit() {
    for backend in backends() {
        let w = world(&backend, &[]).await;
        let (_, admin) = token(Role::Admin);
        let (_receiver, url, hits) = receiver(usize::MAX).await;
        w.server
            .http
            .post("/api/notifications/webhooks")
            .bearer(&admin)
            .json(json!({"url": url, "event_types": ["factory.#"], "secret": SECRET}))
            .send()
            .await
            .expect(201);
        w.publish(&Envelope::new(
            "factory",
            "factory.stock.low",
            json!({"sku": "X", "warehouse": "main", "on_hand": "0", "reorder_point": "1"}),
        ))
        .await;
        eventually("the delivery failed", || async {
            (w.count("SELECT COUNT(*) FROM webhook_deliveries WHERE status = 'failed'")
                .await
                == 1)
                .then_some(())
        })
        .await;
        // The test tuning allows 4 attempts.
        assert_eq!(hits.lock().unwrap().len(), 4, "{}", w.name());
        assert_eq!(w.count("SELECT COUNT(*) FROM webhook_attempts").await, 4);
        let summary = w
            .server
            .http
            .get("/api/worker/summary")
            .bearer(&admin)
            .send()
            .await
            .expect(200)
            .json;
        assert_eq!(summary["summary"]["webhook_deliveries"]["failed"], 1);
    }
}

#[tokio::test]
async fn webhook_management_is_validated_admin_only_and_never_shows_the_secret() {
    for backend in backends() {
        let w = world(&backend, &[]).await;
        let http = &w.server.http;
        let (_, admin) = token(Role::Admin);
        let (_, manager) = token(Role::Manager);
        let good =
            json!({"url": "https://hooks.example.com/x", "event_types": ["#"], "secret": SECRET});

        for (body, field) in [
            (
                json!({"url": "ftp://x.example/", "event_types": ["#"], "secret": SECRET}),
                "url",
            ),
            (
                json!({"url": "not a url", "event_types": ["#"], "secret": SECRET}),
                "url",
            ),
            (
                json!({"url": "http://x.example/", "event_types": [], "secret": SECRET}),
                "event_types",
            ),
            (
                json!({"url": "http://x.example/", "event_types": ["Shop.Order"], "secret": SECRET}),
                "event_types",
            ),
            (
                json!({"url": "http://x.example/", "event_types": ["#"], "secret": "short"}),
                "secret",
            ),
        ] {
            let res = http
                .post("/api/notifications/webhooks")
                .bearer(&admin)
                .json(body)
                .send()
                .await
                .expect(400);
            assert_eq!(res.json["error"]["details"]["field"], field, "{}", res.text);
        }
        http.post("/api/notifications/webhooks")
            .bearer(&manager)
            .json(good.clone())
            .send()
            .await
            .expect(403);
        http.get("/api/notifications/webhooks")
            .bearer(&manager)
            .send()
            .await
            .expect(403);
        http.get("/api/worker/summary")
            .bearer(&manager)
            .send()
            .await
            .expect(403);

        let created = http
            .post("/api/notifications/webhooks")
            .bearer(&admin)
            .json(good)
            .send()
            .await
            .expect(201);
        let id = created.json["webhook"]["id"].as_str().unwrap().to_owned();
        let listed = http
            .get("/api/notifications/webhooks")
            .bearer(&admin)
            .send()
            .await
            .expect(200);
        assert_eq!(
            listed.json["webhooks"][0]["id"],
            id.as_str(),
            "{}",
            w.name()
        );
        assert_eq!(listed.json["webhooks"][0]["event_types"], json!(["#"]));
        assert!(!listed.text.contains(SECRET));

        http.delete(&format!("/api/notifications/webhooks/{id}"))
            .bearer(&manager)
            .send()
            .await
            .expect(403);
        http.delete(&format!("/api/notifications/webhooks/{id}"))
            .bearer(&admin)
            .send()
            .await
            .expect(200);
        http.delete(&format!("/api/notifications/webhooks/{id}"))
            .bearer(&admin)
            .send()
            .await
            .expect(404);
        let listed = http
            .get("/api/notifications/webhooks")
            .bearer(&admin)
            .send()
            .await
            .expect(200);
        assert_eq!(listed.json["webhooks"], json!([]));
        http.get(&format!("/api/notifications/webhooks/{id}/deliveries"))
            .bearer(&admin)
            .send()
            .await
            .expect(404);
    }
}

#[tokio::test]
async fn an_https_webhook_goes_over_tls_and_a_failed_handshake_is_logged_not_fatal() {
    for backend in backends() {
        let w = world(&backend, &[]).await;
        let (_, admin) = token(Role::Admin);
        // A plain-HTTP receiver addressed as https: the TLS handshake fails.
        let (_receiver, url, hits) = receiver(0).await;
        let url = url.replacen("http://", "https://", 1);
        w.server
            .http
            .post("/api/notifications/webhooks")
            .bearer(&admin)
            .json(json!({"url": url, "event_types": ["users.user.*"], "secret": SECRET}))
            .send()
            .await
            .expect(201);
        w.publish(&Envelope::new(
            "users",
            "users.user.logged_in",
            json!({"user_id": "u-1", "email": "a@example.com"}),
        ))
        .await;
        eventually("the delivery failed", || async {
            (w.count("SELECT COUNT(*) FROM webhook_deliveries WHERE status = 'failed'")
                .await
                == 1)
                .then_some(())
        })
        .await;
        assert!(hits.lock().unwrap().is_empty(), "{}", w.name());
        assert_eq!(
            w.count(
                "SELECT COUNT(*) FROM webhook_attempts
                 WHERE status_code IS NULL AND error IS NOT NULL"
            )
            .await,
            4
        );
    }
}

//! Rate limits and the client address they are keyed by.

use marimo_platform::{auth::Role, service::ServiceName};
use marimo_testkit::{eventually, token_for_user};
use serde_json::json;

use crate::support::{System, assert_error, seen};

async fn login(sys: &System, xff: Option<&str>) -> marimo_testkit::Res {
    let mut req = sys
        .gw
        .http
        .post("/api/users/login")
        .json(json!({"email": "a@b.c", "password": "x"}));
    if let Some(x) = xff {
        req = req.header("x-forwarded-for", x);
    }
    req.send().await
}

#[tokio::test]
async fn login_is_limited_per_address_after_its_burst() {
    let sys = System::start(&[]).await;
    for i in 0..3 {
        assert_eq!(login(&sys, None).await.status, 200, "login {i}");
    }
    let res = login(&sys, None).await;
    assert_error(&res, 429, "RATE_LIMITED");
    let retry: u64 = res
        .header("retry-after")
        .expect("Retry-After")
        .parse()
        .unwrap();
    assert!(
        (1..=6).contains(&retry),
        "10/min means one every 6 s: {retry}"
    );
    assert_eq!(
        sys.echo(ServiceName::Users).hits(),
        3,
        "the 4th is not forwarded"
    );
    // Register and refresh have their own budgets; other routes none.
    for path in [
        "/api/users/register",
        "/api/users/refresh",
        "/api/users/logout",
    ] {
        sys.gw
            .http
            .post(path)
            .json(json!({}))
            .send()
            .await
            .expect(200);
    }
}

#[tokio::test]
async fn register_burst_is_two() {
    let sys = System::start(&[]).await;
    for _ in 0..2 {
        sys.gw
            .http
            .post("/api/users/register")
            .json(json!({}))
            .send()
            .await
            .expect(200);
    }
    let res = sys
        .gw
        .http
        .post("/api/users/register")
        .json(json!({}))
        .send()
        .await;
    assert_error(&res, 429, "RATE_LIMITED");
}

#[tokio::test]
async fn signed_in_traffic_is_limited_per_user() {
    let sys = System::start(&[("MARIMO_RATE_LIMITS", "user=60/m:2")]).await;
    let alice = token_for_user("alice", Role::User);
    let bob = token_for_user("bob", Role::User);
    for _ in 0..2 {
        sys.gw
            .http
            .get("/api/shop/orders")
            .bearer(&alice)
            .send()
            .await
            .expect(200);
    }
    let res = sys
        .gw
        .http
        .get("/api/main/dashboard")
        .bearer(&alice)
        .send()
        .await;
    assert_error(&res, 429, "RATE_LIMITED");
    assert!(res.header("retry-after").is_some());
    // Another user from the same address is not affected.
    sys.gw
        .http
        .get("/api/shop/orders")
        .bearer(&bob)
        .send()
        .await
        .expect(200);
    // Login keeps its default limit alongside.
    assert_eq!(login(&sys, None).await.status, 200);
}

#[tokio::test]
async fn limits_can_be_switched_off() {
    let sys = System::start(&[("MARIMO_RATE_LIMITS", "off")]).await;
    let t = token_for_user("u1", Role::User);
    for _ in 0..20 {
        assert_eq!(login(&sys, None).await.status, 200);
    }
    for _ in 0..60 {
        sys.gw
            .http
            .get("/api/shop/orders")
            .bearer(&t)
            .send()
            .await
            .expect(200);
    }
}

#[tokio::test]
async fn forwarded_for_from_an_untrusted_peer_is_ignored() {
    let sys = System::start(&[]).await;
    for i in 0..3 {
        let res = login(&sys, Some(&format!("198.51.100.{i}")))
            .await
            .expect(200);
        // The forged chain is replaced by the real peer.
        assert_eq!(seen(&res.json, "x-forwarded-for"), Some("127.0.0.1"));
    }
    // A new forged address does not buy a new budget.
    let res = login(&sys, Some("203.0.113.99")).await;
    assert_error(&res, 429, "RATE_LIMITED");
}

#[tokio::test]
async fn forwarded_for_from_a_trusted_proxy_names_the_client() {
    let sys = System::start(&[("TRUSTED_PROXIES", "127.0.0.0/8, ::1")]).await;
    for _ in 0..3 {
        let res = login(&sys, Some("6.6.6.6, 198.51.100.7")).await.expect(200);
        assert_eq!(
            seen(&res.json, "x-forwarded-for"),
            Some("6.6.6.6, 198.51.100.7, 127.0.0.1")
        );
    }
    // The right-most untrusted address is the client: its budget is spent...
    let res = login(&sys, Some("1.1.1.1, 198.51.100.7")).await;
    assert_error(&res, 429, "RATE_LIMITED");
    // ...while another client behind the same proxy still has its own.
    login(&sys, Some("198.51.100.8")).await.expect(200);
}

/// A gateway that starts after `rate_limits` was set in the config service
/// reads it at start: the environment says off, the setting says 1 a minute.
#[tokio::test]
async fn a_replica_reads_the_rate_limits_setting_at_start() {
    use axum::{Json, Router, routing::get};
    let config = Router::new().route(
        "/api/config/rate_limits",
        get(|| async {
            Json(
                json!({"success": true, "key": "rate_limits", "value": "login=1/m",
                        "value_type": "string", "type": "system", "version": 4}),
            )
        }),
    );
    let config = marimo_testkit::spawn(config).await;
    let sys = System::start(&[
        ("CONFIG_URLS", config.url.as_str()),
        ("MARIMO_RATE_LIMITS", "off"),
    ])
    .await;
    eventually("the rate_limits setting to apply", async || {
        login(&sys, None).await.status == 429
    })
    .await;
    assert_error(&login(&sys, None).await, 429, "RATE_LIMITED");
}

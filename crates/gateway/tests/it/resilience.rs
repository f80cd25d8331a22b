//! Load balancing, circuit breakers and retries under injected faults.

use std::time::{Duration, Instant};

use marimo_platform::auth::Role;
use marimo_testkit::{TestServer, spawn, token_for_user};

use crate::{
    fakes::{Fake, Script, breaker_gauge},
    support::gateway,
};

async fn gw(vars: &[(&str, &str)]) -> TestServer {
    spawn(gateway(vars).await.expect("gateway starts")).await
}

#[tokio::test]
async fn a_replica_killed_mid_traffic_is_invisible_to_clients() {
    let a = Fake::start("a").await;
    let b = Fake::start("b").await;
    let urls = format!("{},{}", a.url(), b.url());
    let gw = gw(&[("FACTORY_URLS", &urls), ("MARIMO_RATE_LIMITS", "off")]).await;
    let t = token_for_user("u1", Role::Manager);
    let mut a = Some(a);
    let mut seen_a = 0;
    for i in 0..120 {
        if i == 10 {
            seen_a = a.as_ref().map_or(0, |a| a.script.hits());
            a = None; // killed
        }
        let res = gw.http.get("/api/factory/items").bearer(&t).send().await;
        assert_eq!(res.status, 200, "request {i}: {}", res.text);
    }
    assert!(seen_a > 0, "both replicas took traffic before the kill");
    assert!(b.script.hits() >= 110);
    let metrics = gw.http.get("/metrics").send().await.text;
    let a_url = urls.split(',').next().unwrap_or("");
    assert_eq!(breaker_gauge(&metrics, a_url), Some(1), "{metrics}");
}

#[tokio::test]
async fn a_dead_service_turns_into_fast_503s_and_recovers_through_half_open() {
    let fake = Fake::start("only").await;
    let addr = fake.addr;
    let url = fake.url();
    drop(fake);
    let gw = gw(&[
        ("SHOP_URLS", &url),
        (
            "MARIMO_BREAKER",
            "min_requests=5,failure_rate=50,open_ms=1500,half_open=1",
        ),
    ])
    .await;
    let t = token_for_user("u1", Role::User);
    // Failures (each retried, within the budget) until the breaker opens.
    let mut opened = false;
    for _ in 0..10 {
        let res = gw.http.get("/api/shop/orders").bearer(&t).send().await;
        assert_eq!(res.status, 503, "{}", res.text);
        if res.json["error"]["details"]["circuit_breaker"] == "open" {
            opened = true;
            break;
        }
    }
    assert!(opened, "the breaker opened");
    let metrics = gw.http.get("/metrics").send().await.text;
    assert_eq!(breaker_gauge(&metrics, &url), Some(1), "{metrics}");
    let health = gw.http.get("/health").send().await;
    assert_eq!(
        health.json["services"]["shop"]["instances"][0]["circuit_breaker"], "open",
        "{}",
        health.text
    );

    // The service is back, but the open breaker keeps traffic away.
    let script = Script::default();
    let back = Fake::start_on(addr, "back", script.clone()).await;
    let mut worst = Duration::ZERO;
    let mut total = Duration::ZERO;
    for _ in 0..20 {
        let started = Instant::now();
        let res = gw.http.get("/api/shop/orders").bearer(&t).send().await;
        let took = started.elapsed();
        if res.status == 200 {
            break; // the open period ended already (slow machine)
        }
        worst = worst.max(took);
        total += took;
        assert_eq!(res.status, 503);
        assert_eq!(res.code(), "SERVICE_UNAVAILABLE");
        assert!(res.json["message"].as_str().unwrap_or("").contains("shop"));
        assert!(res.header("retry-after").is_some());
        assert_eq!(
            script.hits(),
            0,
            "no request reaches an open breaker's instance"
        );
    }
    eprintln!(
        "open-breaker 503 latency through the gateway: mean {:?}, worst {:?} (20 requests)",
        total / 20,
        worst
    );

    // After the open period one trial goes through and closes it.
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let res = gw.http.get("/api/shop/orders").bearer(&t).send().await;
        if res.status == 200 {
            assert_eq!(res.json["instance"], "back");
            break;
        }
        assert!(Instant::now() < deadline, "the breaker never closed");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let metrics = gw.http.get("/metrics").send().await.text;
    assert_eq!(breaker_gauge(&metrics, &url), Some(0), "{metrics}");
    for _ in 0..5 {
        gw.http
            .get("/api/shop/orders")
            .bearer(&t)
            .send()
            .await
            .expect(200);
    }
    drop(back);
}

#[tokio::test]
async fn gets_are_retried_through_503s() {
    let fake = Fake::start("s").await;
    fake.script.then(&[503, 503]);
    // A breaker that does not judge this few requests.
    let gw = gw(&[
        ("FACTORY_URLS", &fake.url()),
        ("MARIMO_BREAKER", "min_requests=50"),
    ])
    .await;
    let t = token_for_user("u1", Role::Manager);
    let res = gw
        .http
        .get("/api/factory/items")
        .bearer(&t)
        .send()
        .await
        .expect(200);
    assert_eq!(res.json["n"], 3);
    assert_eq!(fake.script.hits(), 3);
    // Three attempts in all: a fourth 503 reaches the client.
    fake.script.then(&[503, 503, 503]);
    let res = gw.http.get("/api/factory/items").bearer(&t).send().await;
    assert_eq!(res.status, 503);
    assert_eq!(fake.script.hits(), 6);
    // 500 is not retried.
    fake.script.then(&[500]);
    let res = gw.http.get("/api/factory/items").bearer(&t).send().await;
    assert_eq!(res.status, 500);
    assert_eq!(fake.script.hits(), 7);
}

#[tokio::test]
async fn post_is_retried_only_with_an_idempotency_key() {
    let fake = Fake::start("s").await;
    let gw = gw(&[("FACTORY_URLS", &fake.url())]).await;
    let t = token_for_user("u1", Role::Manager);
    fake.script.then(&[503]);
    let res = gw
        .http
        .post("/api/factory/orders")
        .bearer(&t)
        .json(serde_json::json!({"qty": 1}))
        .send()
        .await;
    assert_eq!(res.status, 503);
    assert_eq!(fake.script.hits(), 1, "a POST without a key is sent once");

    fake.script.then(&[503, 502]);
    let res = gw
        .http
        .post("/api/factory/orders")
        .bearer(&t)
        .header("idempotency-key", "k-1")
        .json(serde_json::json!({"qty": 1}))
        .send()
        .await
        .expect(200);
    assert_eq!(fake.script.hits(), 4);
    // The buffered body was replayed whole on the last attempt.
    assert_eq!(res.json["body_len"], 9);
}

#[tokio::test]
async fn a_full_instance_answers_503_at_once() {
    // A silent upstream: accepts and never answers.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((s, _)) = listener.accept().await {
            held.push(s);
        }
    });
    let url = format!("http://{addr}");
    let gw = gw(&[
        ("FACTORY_URLS", &url),
        ("MARIMO_UPSTREAM", "max_inflight=1,factory.timeout_ms=1500"),
    ])
    .await;
    let t = token_for_user("u1", Role::Manager);
    let http = gw.http.clone();
    let t2 = t.clone();
    let slow = tokio::spawn(async move {
        http.post("/api/factory/orders")
            .bearer(&t2)
            .json(serde_json::json!({}))
            .send()
            .await
    });
    // Wait until the first request holds the only slot.
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let res = gw
            .http
            .post("/api/factory/orders")
            .bearer(&t)
            .json(serde_json::json!({}))
            .send()
            .await;
        if res.status == 503 && res.json["error"]["details"]["reason"] == "busy" {
            assert!(res.header("retry-after").is_some());
            break;
        }
        assert!(Instant::now() < deadline, "never busy: {}", res.text);
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // The slow one ends with the per-service timeout (or, had a probe
    // taken the slot first, was refused as busy).
    let res = slow.await.unwrap();
    assert!([503, 504].contains(&res.status), "{}", res.text);
}

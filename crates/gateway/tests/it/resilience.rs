//! Load balancing, circuit breakers and retries under injected faults.

use std::time::{Duration, Instant};

use marimo_platform::auth::Role;
use marimo_testkit::{Res, TestServer, eventually_within, spawn, token_for_user};

use crate::{
    fakes::{Conduct, Fake, Raw, Script, breaker_gauge, ejected_gauge},
    support::{closed_port_url, gateway},
};

async fn gw(vars: &[(&str, &str)]) -> TestServer {
    spawn(gateway(vars).await.expect("gateway starts")).await
}

#[tokio::test]
async fn a_replica_killed_mid_traffic_is_invisible_to_clients() {
    let a = Fake::start("a").await;
    let b = Fake::start("b").await;
    let urls = format!("{},{}", a.url(), b.url());
    let a_url = a.url();
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
    // Out of rotation at its first refused connection (a probe may have
    // found it gone too); its breaker had no reason to open.
    let metrics = gw.http.get("/metrics").send().await.text;
    assert_eq!(ejected_gauge(&metrics, &a_url), Some(1), "{metrics}");
    assert_eq!(breaker_gauge(&metrics, &a_url), Some(0), "{metrics}");
    let health = gw.http.get("/health").send().await;
    let instances = &health.json["services"]["factory"]["instances"];
    assert_eq!(instances[0]["ejected"], true, "{}", health.text);
    assert_eq!(instances[1]["ejected"], false, "{}", health.text);
}

#[tokio::test]
async fn a_post_without_a_key_goes_to_another_replica_when_the_first_refuses() {
    let dead = closed_port_url().await;
    let live = Fake::start("live").await;
    // The dead replica first: round robin starts with it.
    let urls = format!("{dead},{}", live.url());
    let gw = gw(&[("FACTORY_URLS", &urls), ("MARIMO_RATE_LIMITS", "off")]).await;
    let t = token_for_user("u1", Role::Manager);
    // Larger than one read: the streamed (not buffered) body must reach
    // the second replica whole, though the first attempt held it.
    let body = serde_json::json!({"note": "x".repeat(200_000)});
    let len = body.to_string().len();
    let res = gw
        .http
        .post("/api/factory/orders")
        .bearer(&t)
        .json(body.clone())
        .send()
        .await
        .expect(200);
    assert_eq!(res.json["instance"], "live");
    assert_eq!(res.json["body_len"], len);
    assert_eq!(live.script.hits(), 1, "sent once, to the live replica");
    let metrics = gw.http.get("/metrics").send().await.text;
    assert_eq!(ejected_gauge(&metrics, &dead), Some(1), "{metrics}");
    assert!(
        metrics
            .lines()
            .any(|l| l.starts_with("gateway_retries_total{")
                && l.contains("kind=\"unsent\"")
                && l.ends_with(" 1")),
        "{metrics}"
    );
    // From now on the dead one is not even tried.
    for n in 2..=5 {
        gw.http
            .post("/api/factory/orders")
            .bearer(&t)
            .json(body.clone())
            .send()
            .await
            .expect(200);
        assert_eq!(live.script.hits(), n);
    }
    let metrics = gw.http.get("/metrics").send().await.text;
    assert!(
        metrics
            .lines()
            .any(|l| l.starts_with("gateway_upstream_ejections_total{")
                && l.contains("service=\"factory\"")
                && l.ends_with(" 1")),
        "ejected once: {metrics}"
    );
}

#[tokio::test]
async fn an_ejected_replica_is_readmitted_once_it_is_ready_again() {
    let a = Fake::start("a").await;
    let b = Fake::start("b").await;
    let (a_addr, a_url) = (a.addr, a.url());
    let urls = format!("{},{}", a.url(), b.url());
    let gw = gw(&[("FACTORY_URLS", &urls), ("MARIMO_RATE_LIMITS", "off")]).await;
    let t = token_for_user("u1", Role::Manager);
    drop(a);
    for _ in 0..4 {
        gw.http
            .get("/api/factory/items")
            .bearer(&t)
            .send()
            .await
            .expect(200);
    }
    let metrics = gw.http.get("/metrics").send().await.text;
    assert_eq!(ejected_gauge(&metrics, &a_url), Some(1), "{metrics}");

    // Back on the same address: the probe readmits it and it takes its
    // share again, without a client request failing meanwhile.
    let back = Fake::start_on(a_addr, "a-again", Script::default()).await;
    eventually_within(
        Duration::from_secs(30),
        "the restarted replica takes traffic again",
        async || {
            let res = gw.http.get("/api/factory/items").bearer(&t).send().await;
            assert_eq!(res.status, 200, "{}", res.text);
            back.script.hits() > 0
        },
    )
    .await;
    let metrics = gw.http.get("/metrics").send().await.text;
    assert_eq!(ejected_gauge(&metrics, &a_url), Some(0), "{metrics}");
    assert!(
        metrics
            .lines()
            .any(|l| l.starts_with("gateway_upstream_readmissions_total{")
                && l.contains("service=\"factory\"")),
        "{metrics}"
    );
}

#[tokio::test]
async fn a_failing_instance_opens_its_breaker_and_one_success_closes_it() {
    let fake = Fake::start("s").await;
    let url = fake.url();
    // Five failures, then healthy again.
    fake.script.then(&[503; 5]);
    let gw = gw(&[
        ("SHOP_URLS", &url),
        ("MARIMO_RATE_LIMITS", "off"),
        (
            "MARIMO_BREAKER",
            "min_requests=5,failure_rate=50,open_ms=1500,half_open=1",
        ),
    ])
    .await;
    let t = token_for_user("u1", Role::User);
    // Failures (each retried, within the budget) until the breaker opens.
    let mut opened = false;
    for _ in 0..5 {
        let res = gw.http.get("/api/shop/orders").bearer(&t).send().await;
        if res.status == 200 {
            break; // a slow machine let the open period pass already
        }
        assert_eq!(res.status, 503, "{}", res.text);
        if res.json["error"]["details"]["circuit_breaker"] == "open" {
            assert!(res.header("retry-after").is_some());
            opened = true;
            break;
        }
    }
    assert!(opened, "the breaker opened");
    assert_eq!(fake.script.hits(), 5, "the scripted failures were used up");
    let health = gw.http.get("/health").send().await;
    assert_eq!(
        health.json["services"]["shop"]["instances"][0]["circuit_breaker"], "open",
        "{}",
        health.text
    );
    // An open breaker sends nothing to its instance; once the open period
    // is over, the first trial's success closes it.
    eventually_within(
        Duration::from_secs(15),
        "the breaker lets a trial through",
        async || {
            let res = gw.http.get("/api/shop/orders").bearer(&t).send().await;
            if res.status != 200 {
                assert_eq!(res.status, 503, "{}", res.text);
                assert_eq!(res.json["error"]["details"]["circuit_breaker"], "open");
                assert_eq!(fake.script.hits(), 5, "nothing reaches an open breaker");
            }
            res.status == 200
        },
    )
    .await;
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
}

#[tokio::test]
async fn a_dead_service_is_a_fast_503_until_it_is_back() {
    let fake = Fake::start("only").await;
    let (addr, url) = (fake.addr, fake.url());
    drop(fake);
    let gw = gw(&[("SHOP_URLS", &url), ("MARIMO_RATE_LIMITS", "off")]).await;
    let t = token_for_user("u1", Role::User);
    for _ in 0..3 {
        let res = gw.http.get("/api/shop/orders").bearer(&t).send().await;
        assert_eq!(res.status, 503, "{}", res.text);
        assert_eq!(res.code(), "SERVICE_UNAVAILABLE");
        assert!(res.json["message"].as_str().unwrap_or("").contains("shop"));
        assert!(res.header("retry-after").is_some());
    }
    let back = Fake::start_on(addr, "back", Script::default()).await;
    eventually_within(
        Duration::from_secs(15),
        "the service answers again",
        async || {
            let res = gw.http.get("/api/shop/orders").bearer(&t).send().await;
            res.status == 200 && res.json["instance"] == "back"
        },
    )
    .await;
    assert!(back.script.hits() >= 1);
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

/// A gateway in front of these factory instances, with a breaker that
/// does not judge this few requests.
pub async fn factory_gateway(urls: &str) -> TestServer {
    gw(&[
        ("FACTORY_URLS", urls),
        ("MARIMO_RATE_LIMITS", "off"),
        ("MARIMO_BREAKER", "min_requests=50"),
    ])
    .await
}

/// A POST without an `Idempotency-Key`: never sent twice.
pub async fn unkeyed_post(gw: &TestServer, token: &str) -> Res {
    gw.http
        .post("/api/factory/orders")
        .bearer(token)
        .json(serde_json::json!({}))
        .send()
        .await
}

/// A factory GET answered 200 by `instance`.
async fn served_by(gw: &TestServer, token: &str, instance: &str) {
    let res = gw
        .http
        .get("/api/factory/items")
        .bearer(token)
        .send()
        .await
        .expect(200);
    assert_eq!(res.json["instance"], instance, "{}", res.text);
}

/// The value of a counter with these label fragments in `/metrics`.
pub fn counter(metrics: &str, name: &str, labels: &[&str]) -> Option<u64> {
    metrics
        .lines()
        .filter(|l| l.starts_with(&format!("{name}{{")))
        .find(|l| labels.iter().all(|label| l.contains(label)))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.trim().parse().ok())
}

#[tokio::test]
async fn a_single_instance_that_broke_one_connection_keeps_serving() {
    // Its readiness probe fails throughout, so only panic mode can send it
    // anything once it is ejected.
    let only = Raw::start("only", Conduct::default()).await;
    only.set_ready(false);
    let url = only.url();
    let gw = factory_gateway(&url).await;
    let t = token_for_user("u1", Role::Manager);
    only.hang_up(1);
    // A POST without a key it read and never answered: whether it took
    // effect is unknown, so 502; the broken connection ejects it.
    let res = unkeyed_post(&gw, &t).await;
    assert_eq!(res.status, 502, "{}", res.text);
    assert_eq!(res.code(), "BAD_GATEWAY");
    let metrics = gw.http.get("/metrics").send().await.text;
    assert_eq!(ejected_gauge(&metrics, &url), Some(1), "{metrics}");

    // Every instance is ejected: panic mode sends to it anyway, rather
    // than answering 503 until a probe passes (this one never does).
    served_by(&gw, &t, "only").await;
    // Its answer readmitted it: in rotation again, out of panic mode.
    let metrics = gw.http.get("/metrics").send().await.text;
    assert_eq!(ejected_gauge(&metrics, &url), Some(0), "{metrics}");
    assert_eq!(
        counter(
            &metrics,
            "gateway_upstream_panic_total",
            &["service=\"factory\""]
        ),
        Some(1),
        "{metrics}"
    );
    assert_eq!(
        counter(
            &metrics,
            "gateway_upstream_readmissions_total",
            &["service=\"factory\"", "by=\"answer\""]
        ),
        Some(1),
        "{metrics}"
    );
    for _ in 0..5 {
        gw.http
            .post("/api/factory/orders")
            .bearer(&t)
            .json(serde_json::json!({"qty": 1}))
            .send()
            .await
            .expect(200);
    }

    // A GET it hangs up on is retried, on the same (ejected, only)
    // instance: the client sees 200.
    only.hang_up(1);
    let before = only.hits();
    served_by(&gw, &t, "only").await;
    assert_eq!(only.hits(), before + 2, "hung up on once, then answered");
}

#[tokio::test]
async fn with_every_instance_ejected_a_dead_one_fails_fast_and_a_live_one_serves() {
    let dead = closed_port_url().await;
    let live = Raw::start("live", Conduct::default()).await;
    live.set_ready(false);
    // The dead one first: round robin starts with it.
    let urls = format!("{dead},{}", live.url());
    let gw = factory_gateway(&urls).await;
    let t = token_for_user("u1", Role::Manager);
    // Refused by the dead one, then hung up on by the live one: both out.
    live.hang_up(1);
    let res = unkeyed_post(&gw, &t).await;
    assert_eq!(res.status, 502, "{}", res.text);
    let metrics = gw.http.get("/metrics").send().await.text;
    assert_eq!(ejected_gauge(&metrics, &dead), Some(1), "{metrics}");
    assert_eq!(ejected_gauge(&metrics, &live.url()), Some(1), "{metrics}");
    // Panic mode tries them in turn: the dead one refuses at once, the
    // live one answers (and is back in rotation by that answer).
    for _ in 0..6 {
        served_by(&gw, &t, "live").await;
    }
    let metrics = gw.http.get("/metrics").send().await.text;
    assert_eq!(ejected_gauge(&metrics, &dead), Some(1), "{metrics}");
    assert_eq!(ejected_gauge(&metrics, &live.url()), Some(0), "{metrics}");
    assert!(
        counter(
            &metrics,
            "gateway_upstream_panic_total",
            &["service=\"factory\""]
        )
        .is_some_and(|n| n >= 1),
        "{metrics}"
    );
}

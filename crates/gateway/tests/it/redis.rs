//! The gateway on Redis (`MARIMO_TEST_REDIS_URL`): the response cache and
//! the rate limits shared by replicas, and what happens when Redis goes
//! away under traffic (a TCP proxy is cut; the shared Redis never stops).

use std::sync::{
    Arc, Mutex,
    atomic::{AtomicUsize, Ordering},
};

use marimo_platform::auth::Role;
use marimo_testkit::{
    Res, TcpProxy, TestRedis, TestServer, eventually, redis_url, spawn, token_for_user,
};
use serde_json::json;

use crate::{
    fakes::Fake,
    support::{assert_error, gateway},
};

/// A gateway replica on `redis` with the shop and users fakes upstream.
async fn replica(redis: &TestRedis, shop: &Fake, users: &Fake, limits: &str) -> TestServer {
    let (shop_url, users_url) = (shop.url(), users.url());
    let mut vars = vec![
        ("SHOP_URLS", shop_url.as_str()),
        ("USERS_URLS", users_url.as_str()),
        ("MARIMO_RATE_LIMITS", limits),
    ];
    vars.extend(redis.vars());
    spawn(gateway(&vars).await.expect("gateway starts")).await
}

/// A counter's value in a Prometheus exposition (0 when absent).
fn counter(metrics: &str, series: &str) -> f64 {
    metrics
        .lines()
        .find_map(|l| l.strip_prefix(series)?.trim().parse().ok())
        .unwrap_or(0.0)
}

#[tokio::test]
async fn cache_in_redis_misses_hits_and_is_invalidated_for_every_replica() {
    let Some(url) = redis_url() else { return };
    let redis = TestRedis::new(&url);
    let (shop, users) = (Fake::start("shop").await, Fake::start("users").await);
    let a = replica(&redis, &shop, &users, "off").await;
    let b = replica(&redis, &shop, &users, "off").await;

    let res = a
        .http
        .get("/api/shop/products?x=1")
        .send()
        .await
        .expect(200);
    assert_eq!(res.header("x-cache"), Some("MISS"));
    let res = a
        .http
        .get("/api/shop/products?x=1")
        .send()
        .await
        .expect(200);
    assert_eq!(res.header("x-cache"), Some("HIT"));
    assert_eq!(res.json["n"], 1);
    // The other replica finds what the first stored.
    let res = b
        .http
        .get("/api/shop/products?x=1")
        .send()
        .await
        .expect(200);
    assert_eq!(res.header("x-cache"), Some("HIT"));
    assert_eq!(res.json["n"], 1);
    assert_eq!(shop.script.hits(), 1);

    // A write through one replica invalidates for both.
    let t = token_for_user("u1", Role::User);
    b.http
        .post("/api/shop/orders")
        .bearer(&t)
        .json(json!({}))
        .send()
        .await
        .expect(200);
    let res = a
        .http
        .get("/api/shop/products?x=1")
        .send()
        .await
        .expect(200);
    assert_eq!(res.header("x-cache"), Some("MISS"));
    assert_eq!(res.json["n"], 3, "fetched again after the write");

    let metrics = a.http.get("/metrics").send().await.expect(200).text;
    assert_eq!(
        counter(&metrics, "cache_hits_total{store=\"redis\"}"),
        1.0,
        "{metrics}"
    );
    assert_eq!(
        counter(&metrics, "cache_misses_total{store=\"redis\"}"),
        2.0,
        "{metrics}"
    );
}

#[tokio::test]
async fn two_replicas_on_redis_enforce_one_limit() {
    let Some(url) = redis_url() else { return };
    let redis = TestRedis::new(&url);
    let (shop, users) = (Fake::start("shop").await, Fake::start("users").await);
    // One request back per hour: the test never sees a refill.
    let limits = "login=1/h:6,user=1/h:5";
    let a = replica(&redis, &shop, &users, limits).await;
    let b = replica(&redis, &shop, &users, limits).await;

    let login = |gw: &TestServer| {
        gw.http
            .post("/api/users/login")
            .json(json!({"email": "a@b.c", "password": "x"}))
            .send()
    };
    let mut allowed = 0;
    let mut refused: Vec<Res> = Vec::new();
    for i in 0..14 {
        let res = login(if i % 2 == 0 { &a } else { &b }).await;
        match res.status {
            200 => allowed += 1,
            _ => refused.push(res),
        }
    }
    assert_eq!(allowed, 6, "one login limit across both replicas");
    assert_eq!(users.script.hits(), 6);
    for res in &refused {
        assert_error(res, 429, "RATE_LIMITED");
        let retry: u64 = res.header("retry-after").unwrap().parse().unwrap();
        assert!((1..=3600).contains(&retry), "{retry}");
    }

    // Per user likewise, whichever replica the requests land on.
    let t = token_for_user("u-limited", Role::User);
    let statuses = futures_util::future::join_all((0..12).map(|i| {
        let gw = if i % 3 == 0 { &a } else { &b };
        gw.http.get("/api/shop/orders").bearer(&t).send()
    }))
    .await;
    let ok = statuses.iter().filter(|r| r.status == 200).count();
    assert_eq!(ok, 5, "one user limit across both replicas");
    assert!(statuses.iter().all(|r| r.status == 200 || r.status == 429));
}

#[tokio::test]
async fn redis_stopped_under_traffic_fails_no_request() {
    let Some(url) = redis_url() else { return };
    let proxy = TcpProxy::to_url(&url).await;
    let redis = TestRedis::new(&proxy.url("redis"));
    let (shop, users) = (Fake::start("shop").await, Fake::start("users").await);
    let gw = replica(&redis, &shop, &users, "login=100000/s,user=100000/s").await;
    let t = token_for_user("u-traffic", Role::User);

    // Clients: cached catalog reads, signed-in (user-limited) calls and
    // logins (address-limited).
    let sent = Arc::new(AtomicUsize::new(0));
    let failures = Arc::new(Mutex::new(Vec::<String>::new()));
    let stop = tokio_util::sync::CancellationToken::new();
    let clients: Vec<_> = (0..4)
        .map(|c| {
            let (http, t, sent, failures, stop) = (
                gw.http.clone(),
                t.clone(),
                sent.clone(),
                failures.clone(),
                stop.clone(),
            );
            tokio::spawn(async move {
                let mut i = 0usize;
                // Bounded: it stops when told, or after this many requests.
                while !stop.is_cancelled() && i < 20_000 {
                    let res = match (c + i) % 3 {
                        0 => http.get("/api/shop/products?page=1").send().await,
                        1 => http.get("/api/shop/orders").bearer(&t).send().await,
                        _ => {
                            http.post("/api/users/login")
                                .json(json!({"email": "a@b.c", "password": "x"}))
                                .send()
                                .await
                        }
                    };
                    if res.status != 200 {
                        failures
                            .lock()
                            .unwrap()
                            .push(format!("{} {}", res.status, res.text));
                    }
                    sent.fetch_add(1, Ordering::SeqCst);
                    i += 1;
                }
            })
        })
        .collect();

    let reached = async |n: usize| {
        let target = sent.load(Ordering::SeqCst) + n;
        eventually("traffic flows", async || {
            sent.load(Ordering::SeqCst) >= target
        })
        .await;
    };
    reached(150).await;
    let res = gw
        .http
        .get("/api/shop/products?page=1")
        .send()
        .await
        .expect(200);
    assert_eq!(
        res.header("x-cache"),
        Some("HIT"),
        "cached in Redis before the cut"
    );

    proxy.cut().await;
    reached(300).await;
    let res = gw
        .http
        .get("/api/shop/products?page=1")
        .send()
        .await
        .expect(200);
    assert_eq!(
        res.header("x-cache"),
        Some("MISS"),
        "passes through while cut"
    );

    proxy.restore().await;
    reached(150).await;
    eventually("the cache is used again", async || {
        gw.http
            .get("/api/shop/products?page=1")
            .send()
            .await
            .header("x-cache")
            == Some("HIT")
    })
    .await;
    stop.cancel();
    for c in clients {
        c.await.unwrap();
    }
    let failures = std::mem::take(&mut *failures.lock().unwrap());
    eprintln!(
        "{} requests through a Redis outage, {} failed",
        sent.load(Ordering::SeqCst),
        failures.len()
    );
    assert!(
        failures.is_empty(),
        "{} of {} requests failed, e.g. {:?}",
        failures.len(),
        sent.load(Ordering::SeqCst),
        failures.first()
    );

    let metrics = gw.http.get("/metrics").send().await.expect(200).text;
    assert_eq!(
        counter(&metrics, "gateway_rate_limit_fallbacks_total"),
        1.0,
        "the fallback is counted once per outage: {metrics}"
    );
    assert!(counter(&metrics, "redis_outages_total") >= 1.0, "{metrics}");
    assert!(
        metrics.contains("redis_errors_total{op="),
        "failed commands are counted: {metrics}"
    );
}

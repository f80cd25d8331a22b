//! Upstreams that close kept-alive connections: a pooled connection the
//! instance closed as the gateway reused it is not the instance failing.

use std::time::Duration;

use marimo_platform::auth::Role;
use marimo_testkit::{TestServer, token_for_user};

use crate::{
    fakes::{Conduct, Raw},
    resilience::{counter, factory_gateway, unkeyed_post},
};

/// No instance of the factory was ever ejected.
#[track_caller]
fn assert_never_ejected(metrics: &str) {
    assert!(
        counter(
            metrics,
            "gateway_upstream_ejections_total",
            &["service=\"factory\""]
        )
        .is_none(),
        "never ejected: {metrics}"
    );
}

/// One request of the mix: every kind that may be sent twice.
async fn replayable(gw: &TestServer, token: &str, i: usize) -> u16 {
    let path = format!("/api/factory/items/{i}");
    let body = serde_json::json!({"i": i});
    let req = match i % 4 {
        0 => gw.http.get(&path),
        1 => gw.http.put(&path).json(body),
        2 => gw.http.delete(&path),
        _ => gw
            .http
            .post("/api/factory/orders")
            .header("idempotency-key", &format!("k-{i}"))
            .json(body),
    };
    req.bearer(token).send().await.status
}

#[tokio::test]
async fn a_connection_closed_as_it_is_reused_fails_no_replayable_request() {
    // Every kept-alive connection is closed as its second request arrives.
    let raw = Raw::start(
        "only",
        Conduct {
            close_reused: true,
            ..Conduct::default()
        },
    )
    .await;
    let url = raw.url();
    let gw = factory_gateway(&url).await;
    let t = token_for_user("u1", Role::Manager);
    for i in 0..24 {
        assert_eq!(replayable(&gw, &t, i).await, 200, "request {i}");
        // Let the answered connection settle in the pool, so that the
        // next request reuses it.
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(raw.hits(), 24, "each request acted on once");
    let metrics = gw.http.get("/metrics").send().await.text;
    assert!(
        counter(
            &metrics,
            "gateway_retries_total",
            &["service=\"factory\"", "kind=\"stale\""]
        )
        .is_some_and(|n| n >= 12),
        "reused connections were closed and the requests sent again: {metrics}"
    );
    assert_never_ejected(&metrics);

    // A POST without a key on a reused connection cannot be told from one
    // the instance acted on and died: 502, as for a mid-request failure —
    // but the instance is not ejected and the next request is served.
    let res = unkeyed_post(&gw, &t).await;
    assert_eq!(res.status, 502, "{}", res.text);
    assert_eq!(res.code(), "BAD_GATEWAY");
    assert_never_ejected(&gw.http.get("/metrics").send().await.text);
    gw.http
        .get("/api/factory/items/1")
        .bearer(&t)
        .send()
        .await
        .expect(200);
}

#[tokio::test]
async fn an_upstream_with_a_short_keep_alive_costs_no_request() {
    // Idle connections are closed after 40 ms, and requests come 38-42 ms
    // apart: some arrive just as the instance closes their connection.
    let raw = Raw::start(
        "only",
        Conduct {
            idle_close: Some(Duration::from_millis(40)),
            ..Conduct::default()
        },
    )
    .await;
    let url = raw.url();
    let gw = factory_gateway(&url).await;
    let t = token_for_user("u1", Role::Manager);
    let loops = (0..3).map(|l| {
        let (gw, t) = (&gw, &t);
        async move {
            let mut failed = Vec::new();
            for i in 0..60 {
                let n = l * 1000 + i;
                let status = replayable(gw, t, n).await;
                if status != 200 {
                    failed.push((n, status));
                }
                let pause = 38 + (n * 7919) % 5;
                tokio::time::sleep(Duration::from_millis(pause as u64)).await;
            }
            failed
        }
    });
    let failed: Vec<_> = futures_util::future::join_all(loops)
        .await
        .into_iter()
        .flatten()
        .collect();
    assert!(failed.is_empty(), "no 502 or 503: {failed:?}");
    assert_eq!(raw.hits(), 180);
    assert_never_ejected(&gw.http.get("/metrics").send().await.text);
}

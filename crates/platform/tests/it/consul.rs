//! The Consul adapter against a small Consul-compatible server: the agent
//! registration endpoints, `/v1/health/service/:name` and `/v1/kv/...`,
//! with `X-Consul-Index` and `?index=&wait=` blocking queries, in Consul's
//! documented JSON shapes (the server is `testkit::consul`).

use std::{
    net::SocketAddr,
    time::{Duration, Instant},
};

use marimo_platform::{
    discovery::{
        Discovery, StaticDiscovery,
        consul::{ConsulClient, ConsulDiscovery, register, registration},
    },
    service::ServiceName,
};
use marimo_testkit::{
    Backend,
    consul::{FakeConsul, parse_wait, serve},
    context, eventually,
};
use tokio_util::sync::CancellationToken;

#[tokio::test]
async fn registers_on_start_and_deregisters_on_shutdown() {
    let consul = FakeConsul::new();
    let running = serve(consul.clone()).await;
    let settings = Backend::Sqlite.settings(&[]).await;
    let ctx = context(ServiceName::Main, settings).await;
    let client = ConsulClient::new(&running.addr.to_string()).unwrap();
    let addr: SocketAddr = "127.0.0.1:18086".parse().unwrap();
    register(&ctx, client, addr);
    eventually("registration", async || {
        consul.with(|d| d.registered.len() == 1)
    })
    .await;
    let body = consul.with(|d| d.registered[0].clone());
    assert_eq!(
        body,
        serde_json::to_value(registration(ServiceName::Main, addr)).unwrap()
    );
    assert_eq!(body["ID"], "main-127.0.0.1-18086");
    assert_eq!(body["Name"], "main");
    assert_eq!(body["Address"], "127.0.0.1");
    assert_eq!(body["Port"], 18086);
    assert_eq!(body["Check"]["HTTP"], "http://127.0.0.1:18086/health");
    assert_eq!(body["Check"]["Interval"], "10s");
    assert_eq!(body["Check"]["Timeout"], "5s");
    assert_eq!(body["Check"]["DeregisterCriticalServiceAfter"], "1m");
    assert!(
        body["Tags"]
            .as_array()
            .unwrap()
            .iter()
            .any(|t| t.as_str().is_some_and(|t| t.starts_with("version=")))
    );
    assert!(consul.with(|d| d.deregistered.is_empty()));

    ctx.shutdown.cancel();
    ctx.tasks.close();
    ctx.tasks.wait().await;
    assert_eq!(
        consul.with(|d| d.deregistered.clone()),
        ["main-127.0.0.1-18086"]
    );
    assert!(consul.with(|d| d.services.is_empty()));
    running.handle.abort();
}

fn urls(d: &dyn Discovery, s: ServiceName) -> Vec<String> {
    let mut v: Vec<String> = d
        .instances(s)
        .iter()
        .map(|i| i.base_url.to_string())
        .collect();
    v.sort();
    v
}

#[tokio::test]
async fn resolves_passing_instances_and_follows_changes() {
    let consul = FakeConsul::new();
    let running = serve(consul.clone()).await;
    let client = ConsulClient::new(&format!("http://{}", running.addr)).unwrap();
    for port in [9001u16, 9002] {
        client
            .register(&registration(
                ServiceName::Shop,
                SocketAddr::from(([127, 0, 0, 1], port)),
            ))
            .await
            .unwrap();
    }
    // One of them fails its check.
    consul.change(|d| {
        if let Some(s) = d.services.get_mut("shop-127.0.0.1-9002") {
            s.1 = false;
        }
    });
    let stop = CancellationToken::new();
    let d = ConsulDiscovery::start(
        client.clone(),
        &[ServiceName::Shop, ServiceName::Users],
        StaticDiscovery::default(),
        stop.clone(),
        Duration::from_secs(30),
    );
    let mut changes = d.changes().unwrap();
    eventually("first resolution", async || {
        urls(&d, ServiceName::Shop).len() == 1
    })
    .await;
    assert_eq!(urls(&d, ServiceName::Shop), ["http://127.0.0.1:9001"]);
    assert!(urls(&d, ServiceName::Users).is_empty());

    // The watch is a blocking query: a new instance shows up at once,
    // well before the 30 s wait ends.
    changes.borrow_and_update();
    let started = Instant::now();
    client
        .register(&registration(
            ServiceName::Shop,
            SocketAddr::from(([127, 0, 0, 1], 9003)),
        ))
        .await
        .unwrap();
    tokio::time::timeout(Duration::from_secs(10), async {
        while urls(&d, ServiceName::Shop).len() != 2 {
            changes.changed().await.unwrap();
        }
    })
    .await
    .expect("the blocking query returned the change");
    assert!(started.elapsed() < Duration::from_secs(25));
    assert_eq!(
        urls(&d, ServiceName::Shop),
        ["http://127.0.0.1:9001", "http://127.0.0.1:9003"]
    );

    // Consul errors: the last good list stays.
    consul.change(|d| d.down = true);
    eventually("failed watches", async || consul.with(|d| d.errors >= 3)).await;
    assert_eq!(
        urls(&d, ServiceName::Shop),
        ["http://127.0.0.1:9001", "http://127.0.0.1:9003"]
    );
    // Consul gone altogether: still the last good list.
    running.handle.abort();
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(urls(&d, ServiceName::Shop).len(), 2);
    stop.cancel();
}

#[tokio::test]
async fn static_lists_serve_until_consul_first_answers() {
    let closed = {
        let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        l.local_addr().unwrap()
    };
    let settings = Backend::Sqlite
        .settings(&[("SHOP_URLS", "http://10.1.1.1:8085")])
        .await;
    let stop = CancellationToken::new();
    let d = ConsulDiscovery::start(
        ConsulClient::new(&closed.to_string()).unwrap(),
        &[ServiceName::Shop],
        StaticDiscovery::from_settings(&settings),
        stop.clone(),
        Duration::from_secs(1),
    );
    assert_eq!(urls(&d, ServiceName::Shop), ["http://10.1.1.1:8085"]);
    stop.cancel();
}

#[tokio::test]
async fn kv_get_put_cas_recurse_and_watch() {
    let consul = FakeConsul::new();
    let running = serve(consul.clone()).await;
    let client = ConsulClient::new(&running.addr.to_string()).unwrap();
    assert_eq!(client.kv_get("config/app_name").await.unwrap(), None);
    assert!(client.kv_put("config/app_name", b"Marimo").await.unwrap());
    let e = client.kv_get("config/app_name").await.unwrap().unwrap();
    assert_eq!(e.key, "config/app_name");
    assert_eq!(e.value.as_deref(), Some(&b"Marimo"[..]));
    assert_eq!(e.create_index, e.modify_index);
    assert_eq!(e.flags, 0);
    assert_eq!(e.lock_index, 0);

    // Check-and-set: the current ModifyIndex wins, a stale one conflicts.
    assert!(
        client
            .kv_cas("config/app_name", b"Marimo ERP", e.modify_index)
            .await
            .unwrap()
    );
    assert!(
        !client
            .kv_cas("config/app_name", b"stale", e.modify_index)
            .await
            .unwrap()
    );
    let e2 = client.kv_get("config/app_name").await.unwrap().unwrap();
    assert_eq!(e2.value.as_deref(), Some(&b"Marimo ERP"[..]));
    assert!(e2.modify_index > e.modify_index);
    assert_eq!(e2.create_index, e.create_index);
    // cas=0: only if absent.
    assert!(!client.kv_cas("config/app_name", b"x", 0).await.unwrap());
    assert!(client.kv_cas("config/currency", b"EUR", 0).await.unwrap());
    client.kv_put("other/x", b"1").await.unwrap();

    let list = client.kv_list("config/").await.unwrap();
    let keys: Vec<_> = list.iter().map(|e| e.key.as_str()).collect();
    assert_eq!(keys, ["config/app_name", "config/currency"]);

    // Watch: blocks until a change after the index.
    let index = consul.index();
    let watcher = {
        let client = client.clone();
        tokio::spawn(async move {
            client
                .kv_watch("config/", index, Duration::from_secs(30))
                .await
        })
    };
    client.kv_put("config/currency", b"USD").await.unwrap();
    let (entries, next) = tokio::time::timeout(Duration::from_secs(10), watcher)
        .await
        .expect("the watch returned on the change")
        .unwrap()
        .unwrap();
    assert!(next > index);
    let usd = entries.iter().find(|e| e.key == "config/currency").unwrap();
    assert_eq!(usd.value.as_deref(), Some(&b"USD"[..]));
    running.handle.abort();
}

#[test]
fn the_fake_parses_waits() {
    assert_eq!(parse_wait("30s"), Duration::from_secs(30));
    assert_eq!(parse_wait("1m"), Duration::from_secs(60));
    assert_eq!(parse_wait("200ms"), Duration::from_millis(200));
}

#[tokio::test]
async fn with_acls_on_only_the_configured_token_gets_through() {
    let consul = FakeConsul::with_acl("s3cr3t-acl-token");
    let running = serve(consul.clone()).await;
    let addr = running.addr.to_string();

    // No token: Consul's 403, surfaced as an error, never as success.
    let bare = ConsulClient::new(&addr).unwrap();
    let err = bare.kv_put("marimo/x", b"1").await.unwrap_err();
    assert!(err.to_string().contains("403"), "{err}");
    let wrong = ConsulClient::with_token(&addr, Some("guess")).unwrap();
    assert!(wrong.kv_get("marimo/x").await.is_err());
    assert_eq!(consul.with(|d| d.denied), 2);
    assert!(consul.with(|d| d.kv.is_empty()));

    // CONSUL_HTTP_TOKEN from the settings is sent on every call.
    let settings = Backend::Sqlite
        .settings(&[
            ("CONSUL_ADDR", &addr),
            ("CONSUL_HTTP_TOKEN", "s3cr3t-acl-token"),
        ])
        .await;
    assert_eq!(format!("{:?}", settings.consul_token), "Some(***)");
    let client = ConsulClient::from_settings(&settings).unwrap().unwrap();
    assert!(client.kv_put("marimo/x", b"1").await.unwrap());
    assert_eq!(
        client.kv_get("marimo/x").await.unwrap().unwrap().value,
        Some(b"1".to_vec())
    );
    let ctx = context(ServiceName::Main, settings).await;
    let at: SocketAddr = "127.0.0.1:18096".parse().unwrap();
    register(&ctx, client, at);
    eventually("registration with the token", async || {
        consul.with(|d| d.registered.len() == 1)
    })
    .await;
    assert_eq!(consul.with(|d| d.denied), 2);
}

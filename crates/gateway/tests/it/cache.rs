//! The response cache: hits, misses, invalidation, scopes, coalescing.

use marimo_platform::auth::Role;
use marimo_testkit::{TestServer, eventually, spawn, token_for_user};

use crate::{fakes::Fake, support::gateway};

async fn setup() -> (Fake, Fake, TestServer) {
    let shop = Fake::start("shop").await;
    let config = Fake::start("config").await;
    let gw = spawn(
        gateway(&[("SHOP_URLS", &shop.url()), ("CONFIG_URLS", &config.url())])
            .await
            .expect("gateway starts"),
    )
    .await;
    (shop, config, gw)
}

#[tokio::test]
async fn miss_then_hit_then_invalidated_by_a_write() {
    let (shop, _config, gw) = setup().await;
    let res = gw
        .http
        .get("/api/shop/products?b=2&a=1")
        .send()
        .await
        .expect(200);
    assert_eq!(res.header("x-cache"), Some("MISS"));
    let res = gw
        .http
        .get("/api/shop/products?a=1&b=2")
        .send()
        .await
        .expect(200);
    assert_eq!(res.header("x-cache"), Some("HIT"));
    assert_eq!(res.json["n"], 1);
    assert_eq!(shop.script.hits(), 1);
    // Another query is another entry.
    let res = gw
        .http
        .get("/api/shop/products?a=2")
        .send()
        .await
        .expect(200);
    assert_eq!(res.header("x-cache"), Some("MISS"));
    // Non-cacheable routes carry no X-Cache.
    let t = token_for_user("u1", Role::User);
    let res = gw
        .http
        .get("/api/shop/orders")
        .bearer(&t)
        .send()
        .await
        .expect(200);
    assert_eq!(res.header("x-cache"), None);
    let before = shop.script.hits();
    // A failed write invalidates nothing; a successful one the prefix.
    shop.script.then(&[409]);
    gw.http
        .post("/api/shop/orders")
        .bearer(&t)
        .json(serde_json::json!({}))
        .send()
        .await
        .expect(409);
    let res = gw
        .http
        .get("/api/shop/products?a=1&b=2")
        .send()
        .await
        .expect(200);
    assert_eq!(res.header("x-cache"), Some("HIT"));
    gw.http
        .post("/api/shop/orders")
        .bearer(&t)
        .json(serde_json::json!({}))
        .send()
        .await
        .expect(200);
    let res = gw
        .http
        .get("/api/shop/products?a=1&b=2")
        .send()
        .await
        .expect(200);
    assert_eq!(res.header("x-cache"), Some("MISS"));
    assert_eq!(shop.script.hits(), before + 3);
}

/// A token of `user_id` with `role` acting in `tenant`.
fn token_in(tenant: &str, user_id: &str, role: Role) -> String {
    marimo_testkit::sign(&marimo_platform::auth::jwt::Identity {
        user_id: user_id.to_owned(),
        email: format!("{user_id}@example.com"),
        role,
        tenant: marimo_platform::tenant::TenantId::parse(tenant).unwrap(),
    })
}

#[tokio::test]
async fn one_tenants_cached_answer_never_answers_another() {
    let (shop, config, gw) = setup().await;
    let get = |tenant: Option<&'static str>| {
        let req = gw.http.get("/api/shop/products?page=1");
        match tenant {
            Some(t) => req.header("x-marimo-tenant", t),
            None => req,
        }
    };
    // Anonymous catalog reads: keyed by the header's tenant, which is
    // forwarded upstream.
    let res = get(Some("acme")).send().await.expect(200);
    assert_eq!(
        (res.header("x-cache"), res.json["tenant"].as_str()),
        (Some("MISS"), Some("acme"))
    );
    let res = get(Some("acme")).send().await.expect(200);
    assert_eq!(res.header("x-cache"), Some("HIT"));
    let res = get(Some("bolt")).send().await.expect(200);
    assert_eq!(
        (res.header("x-cache"), res.json["tenant"].as_str()),
        (Some("MISS"), Some("bolt")),
        "acme's answer served to bolt"
    );
    let res = get(None).send().await.expect(200);
    assert_eq!(
        (res.header("x-cache"), res.json["tenant"].as_str()),
        (Some("MISS"), Some("default"))
    );
    assert_eq!(shop.script.hits(), 3);

    // Signed in: the token's tenant, whatever header the client adds.
    let acme_user = token_in("acme", "u1", Role::User);
    let bolt_user = token_in("bolt", "u2", Role::User);
    let res = gw
        .http
        .get("/api/config/app")
        .bearer(&acme_user)
        .header("x-marimo-tenant", "bolt")
        .send()
        .await
        .expect(200);
    assert_eq!(
        (res.header("x-cache"), res.json["tenant"].as_str()),
        (Some("MISS"), Some("acme"))
    );
    let res = gw
        .http
        .get("/api/config/app")
        .bearer(&bolt_user)
        .send()
        .await
        .expect(200);
    assert_eq!(
        (res.header("x-cache"), res.json["tenant"].as_str()),
        (Some("MISS"), Some("bolt")),
        "same role, other tenant: not shared"
    );
    assert_eq!(config.script.hits(), 2);

    // A write in acme drops acme's entries only.
    gw.http
        .post("/api/shop/orders")
        .bearer(&acme_user)
        .json(serde_json::json!({}))
        .send()
        .await
        .expect(200);
    let res = get(Some("acme")).send().await.expect(200);
    assert_eq!(res.header("x-cache"), Some("MISS"));
    let res = get(Some("bolt")).send().await.expect(200);
    assert_eq!(res.header("x-cache"), Some("HIT"));

    // A malformed tenant header is refused before anything is looked up.
    get(Some("Not A Tenant")).send().await.expect(400);
}

#[tokio::test]
async fn per_role_entries_are_never_shared_across_roles() {
    let (_shop, config, gw) = setup().await;
    let admin = token_for_user("a1", Role::Admin);
    let user1 = token_for_user("u1", Role::User);
    let user2 = token_for_user("u2", Role::User);
    let res = gw
        .http
        .get("/api/config/app")
        .bearer(&admin)
        .send()
        .await
        .expect(200);
    assert_eq!(res.header("x-cache"), Some("MISS"));
    let res = gw
        .http
        .get("/api/config/app")
        .bearer(&user1)
        .send()
        .await
        .expect(200);
    assert_eq!(
        res.header("x-cache"),
        Some("MISS"),
        "admin's answer not served to a user"
    );
    assert_eq!(res.json["n"], 2);
    let res = gw
        .http
        .get("/api/config/app")
        .bearer(&user2)
        .send()
        .await
        .expect(200);
    assert_eq!(res.header("x-cache"), Some("HIT"));
    assert_eq!(res.json["n"], 2);
    // Anonymous callers are refused at the edge before any cache lookup.
    let res = gw.http.get("/api/config/app").send().await;
    assert_eq!(res.status, 401);
    assert_eq!(config.script.hits(), 2);
    // A write under /api/config/ invalidates it.
    gw.http
        .put("/api/config/app")
        .bearer(&admin)
        .json(serde_json::json!({"value": 1}))
        .send()
        .await
        .expect(200);
    let res = gw
        .http
        .get("/api/config/app")
        .bearer(&user2)
        .send()
        .await
        .expect(200);
    assert_eq!(res.header("x-cache"), Some("MISS"));
}

#[tokio::test]
async fn no_store_private_and_errors_are_not_stored() {
    let (shop, _config, gw) = setup().await;
    for path in [
        "/api/shop/products?cc=no-store",
        "/api/shop/products?cc=private,%20max-age=60",
    ] {
        for _ in 0..2 {
            let res = gw.http.get(path).send().await.expect(200);
            assert_eq!(res.header("x-cache"), Some("MISS"), "{path}");
        }
    }
    assert_eq!(shop.script.hits(), 4);
    shop.script.then(&[404]);
    gw.http.get("/api/shop/categories").send().await.expect(404);
    let res = gw.http.get("/api/shop/categories").send().await.expect(200);
    assert_eq!(res.header("x-cache"), Some("MISS"));
    let res = gw.http.get("/api/shop/categories").send().await.expect(200);
    assert_eq!(res.header("x-cache"), Some("HIT"));
}

#[tokio::test]
async fn fifty_concurrent_misses_make_one_upstream_call() {
    let (shop, _config, gw) = setup().await;
    let calls = (0..50).map(|_| {
        let http = gw.http.clone();
        async move { http.get("/api/shop/products/p1").send().await }
    });
    let answers = futures_util::future::join_all(calls).await;
    for res in &answers {
        assert_eq!(res.status, 200, "{}", res.text);
        assert_eq!(res.json["n"], 1);
    }
    let misses = answers
        .iter()
        .filter(|r| r.header("x-cache") == Some("MISS"))
        .count();
    assert_eq!(misses, 1);
    assert_eq!(shop.script.hits(), 1);
}

#[tokio::test]
async fn the_cache_can_be_turned_off() {
    let shop = Fake::start("shop").await;
    let gw = spawn(
        gateway(&[("SHOP_URLS", &shop.url()), ("MARIMO_CACHE", "off")])
            .await
            .expect("gateway starts"),
    )
    .await;
    for _ in 0..2 {
        let res = gw.http.get("/api/shop/products").send().await.expect(200);
        assert_eq!(res.header("x-cache"), None);
    }
    assert_eq!(shop.script.hits(), 2);
}

/// Two gateway replicas with in-process caches on one RabbitMQ: an event
/// that invalidates the catalog reaches both (each has a queue of its own),
/// so neither keeps serving the stale answer until its TTL.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_replica_drops_its_in_process_copies_on_an_event() {
    use marimo_platform::{
        bus::{Bus, Envelope, rabbit::RabbitBroker},
        service::ServiceName,
    };
    use marimo_testkit::{Backend, context_on, rabbitmq_url};
    use tokio_util::sync::CancellationToken;

    let Some(url) = rabbitmq_url() else { return };
    let shop = Fake::start("shop").await;
    let mut replicas = Vec::new();
    let mut buses = Vec::new();
    for _ in 0..2 {
        let broker = RabbitBroker::start(&url, CancellationToken::new())
            .await
            .unwrap();
        let bus = Bus::new(broker.clone());
        let settings = Backend::Sqlite
            .settings(&[("SHOP_URLS", &shop.url()), ("RABBITMQ_URL", url.as_str())])
            .await;
        let ctx = context_on(ServiceName::Gateway, settings, bus.clone()).await;
        replicas.push(spawn(marimo_gateway::router(ctx).await.unwrap()).await);
        buses.push((broker, bus));
    }
    let path = format!(
        "/api/shop/products?probe={}",
        marimo_platform::ids::new_id()
    );
    for gw in &replicas {
        gw.http.get(&path).send().await.expect(200);
        let res = gw.http.get(&path).send().await.expect(200);
        assert_eq!(res.header("x-cache"), Some("HIT"));
    }

    // The shop announces a restock (through its outbox, as it does).
    let settings = Backend::Sqlite
        .settings(&[("RABBITMQ_URL", url.as_str())])
        .await;
    let publisher = context_on(ServiceName::Shop, settings, buses[0].1.clone()).await;
    let mut tx = publisher.db().begin().await.unwrap();
    let env = Envelope::new(
        "shop",
        "shop.product.restocked",
        serde_json::json!({"sku": "X", "qty": 1}),
    );
    publisher.outbox.publish(&mut tx, &env).await.unwrap();
    tx.commit().await.unwrap();
    publisher.outbox.wake();

    for (i, gw) in replicas.iter().enumerate() {
        eventually(&format!("replica {i} to drop its copy"), async || {
            let res = gw.http.get(&path).send().await.expect(200);
            res.header("x-cache") == Some("MISS")
        })
        .await;
    }
    for (broker, _) in buses {
        broker.shutdown().await;
    }
}

//! The Redis cache store and the locks on a real Redis
//! (`MARIMO_TEST_REDIS_URL`), each test in its own key namespace, and the
//! in-process locks under the same rules. Outages are made with a TCP
//! proxy that is cut, never by stopping the shared server.

use std::{
    sync::{
        Arc,
        atomic::{AtomicUsize, Ordering},
    },
    time::Duration,
};

use bytes::Bytes;
use marimo_platform::{
    cache::{CacheStore, RedisStore},
    config::LogFormat,
    lock::{self, Lease, LocalLocks, Locks, Turn, run_exclusive},
    redis::{LuaScript, Redis, RedisError},
    telemetry::log,
};
use marimo_testkit::{TcpProxy, TestRedis, eventually, redis_url};

use crate::support::Capture;

const TTL: Duration = Duration::from_secs(60);

fn redis() -> Option<(TestRedis, Redis)> {
    let t = TestRedis::new(&redis_url()?);
    let r = t.client("test");
    Some((t, r))
}

/// Keys matching `pattern`, once a whole SCAN got through (on a busy
/// machine a page may miss Redis's short deadline: then it scans again).
async fn count_keys(r: &Redis, pattern: &str) -> usize {
    eventually("a complete SCAN", async || {
        let mut cursor = "0".to_owned();
        let mut n = 0;
        loop {
            let mut scan = ::redis::cmd("SCAN");
            scan.arg(&cursor)
                .arg("MATCH")
                .arg(format!("{}:{pattern}", r.namespace()))
                .arg("COUNT")
                .arg(1000);
            let (next, keys): (String, Vec<String>) = r.query("test_scan", &scan).await.ok()?;
            n += keys.len();
            if next == "0" {
                return Some(n);
            }
            cursor = next;
        }
    })
    .await
}

/// The entry is (still) there: read until a read gets through (a read
/// that misses the deadline on a busy machine is a miss by design).
async fn still_there(store: &RedisStore, key: &str) {
    eventually(&format!("{key} read"), async || {
        store.get(key).await.is_some()
    })
    .await;
}

/// Puts until the entry is there: a put that misses the command deadline
/// (a busy machine) is dropped by design.
async fn put_surely(store: &RedisStore, key: &str, value: &'static [u8]) {
    eventually(&format!("{key} stored"), async || {
        store
            .put(key.to_owned(), Bytes::from_static(value), TTL)
            .await;
        store.get(key).await.as_deref() == Some(value)
    })
    .await;
}

#[tokio::test]
async fn store_gets_puts_expires_and_invalidates_a_prefix_across_scan_pages() {
    let Some((_t, r)) = redis() else { return };
    let store = RedisStore::new(r.clone());
    assert_eq!(store.kind(), "redis");
    assert_eq!(store.get("/api/shop/nothing").await, None);
    put_surely(
        &store,
        "/api/shop/products?a=1\u{1f}GET\u{1f}anon",
        b"\x00\x01binary\xff",
    )
    .await;
    assert_eq!(
        store
            .get("/api/shop/products?a=1\u{1f}GET\u{1f}anon")
            .await
            .as_deref(),
        Some(&b"\x00\x01binary\xff"[..])
    );

    // Far more keys than one SCAN page (1000), plus keys that must stay:
    // another prefix, and a prefix with glob characters in it. Written as
    // one pipeline, again if a busy machine made it miss Redis's short
    // deadline (the store drops a put rather than wait): this test is
    // about invalidating across pages, not about puts.
    const MANY: usize = 2_500;
    eventually("the keys are stored", async || {
        let mut pipe = ::redis::pipe();
        for i in 0..MANY {
            pipe.cmd("SET")
                .arg(r.key("cache", &format!("/api/shop/products/{i}")))
                .arg(i.to_string())
                .arg("PX")
                .arg(60_000)
                .ignore();
        }
        r.run("test_fill", |mut conn| async move {
            pipe.query_async::<()>(&mut conn).await
        })
        .await
        .is_ok()
    })
    .await;
    put_surely(&store, "/api/config/x", b"c").await;
    put_surely(&store, "/api/sho*/x", b"g").await;
    assert_eq!(count_keys(&r, "cache:/api/shop/*").await, MANY + 1);
    store.invalidate_prefix("/api/shop/".into()).await;
    // An invalidation that missed the deadline is retried before the next
    // read (a read here); on an idle machine the first one did it all.
    eventually("every page of the prefix dropped", async || {
        let _ = store.get("/api/shop/products/7").await;
        count_keys(&r, "cache:/api/shop/*").await == 0
    })
    .await;
    assert_eq!(store.get("/api/shop/products/7").await, None);
    still_there(&store, "/api/config/x").await;
    still_there(&store, "/api/sho*/x").await;
    // A glob in the prefix is literal: it drops only its own keys.
    store.invalidate_prefix("/api/sho*".into()).await;
    assert_eq!(store.get("/api/sho*/x").await, None);
    still_there(&store, "/api/config/x").await;

    // Entries expire with their TTL (Redis's PX).
    store
        .put(
            "short".into(),
            Bytes::from_static(b"s"),
            Duration::from_millis(50),
        )
        .await;
    eventually("the entry expires", async || {
        store.get("short").await.is_none()
    })
    .await;
    let ttl_ms: i64 = r
        .query(
            "test_pttl",
            ::redis::cmd("PTTL").arg(r.key("cache", "/api/config/x")),
        )
        .await
        .unwrap();
    assert!(ttl_ms > 0 && ttl_ms <= 60_000, "{ttl_ms}");
}

#[tokio::test]
async fn store_passes_through_while_redis_is_cut_and_catches_up_after() {
    let Some(url) = redis_url() else { return };
    let proxy = TcpProxy::to_url(&url).await;
    let t = TestRedis::new(&proxy.url("redis"));
    let store = RedisStore::new(t.client("test"));
    store
        .put("/api/shop/a".into(), Bytes::from_static(b"a"), TTL)
        .await;
    store
        .put("/api/config/b".into(), Bytes::from_static(b"b"), TTL)
        .await;
    assert!(store.get("/api/shop/a").await.is_some());

    proxy.cut().await;
    assert_eq!(
        store.get("/api/config/b").await,
        None,
        "a miss, not an error"
    );
    store
        .put("/api/config/c".into(), Bytes::from_static(b"c"), TTL)
        .await;
    // A write during the outage: its invalidation cannot reach Redis.
    store.invalidate_prefix("/api/shop/".into()).await;

    proxy.restore().await;
    eventually("the store reads from Redis again", async || {
        store.get("/api/config/b").await.is_some()
    })
    .await;
    assert_eq!(
        store.get("/api/shop/a").await,
        None,
        "the invalidation missed during the outage was applied"
    );
    assert_eq!(store.get("/api/config/c").await, None, "dropped put");
}

// A current-thread runtime: the probe task and the log subscriber set
// below live on this one thread.
#[tokio::test]
async fn a_blackholed_redis_is_cut_off_and_found_back_by_a_probe_never_by_a_caller() {
    let Some(url) = redis_url() else { return };
    let capture = Capture::default();
    let _logs =
        tracing::subscriber::set_default(log::subscriber("info", LogFormat::Json, capture.clone()));
    let proxy = TcpProxy::to_url(&url).await;
    let t = TestRedis::new(&proxy.url("redis"));
    let r = t.client("test");
    let store = RedisStore::new(r.clone());
    put_surely(&store, "/api/shop/a", b"a").await;

    // Redis stops answering without closing anything: every call still
    // ends (its deadline), and soon the breaker answers for Redis without
    // touching the network at all.
    let logged_before = capture.lines().len();
    proxy.blackhole();
    eventually("the breaker opened", async || {
        matches!(
            r.query::<Option<String>>("test_get", ::redis::cmd("GET").arg("trip"))
                .await,
            Err(RedisError::Down)
        )
    })
    .await;
    assert!(!r.is_up());

    // While it is open, callers keep calling (past the moment a caller
    // used to be let through as the trial) and fail at once; the proxy
    // sees none of their commands, only the probes. Each probe that got no
    // answer leaves its connection for a fresh one: three new connections
    // are three probes (their PING waits behind the connection's
    // handshake, which the blackhole holds).
    proxy.record();
    let connections = proxy.connections();
    let marker = format!("while-open-{}", marimo_platform::ids::new_id());
    let mut calls = 0;
    eventually("three probes", async || {
        let got = r
            .query::<Option<String>>("test_get", ::redis::cmd("GET").arg(&marker))
            .await;
        assert!(matches!(got, Err(RedisError::Down)), "{got:?}");
        assert_eq!(store.get(&marker).await, None, "a miss, not an error");
        store
            .put(marker.clone(), Bytes::from_static(b"x"), TTL)
            .await;
        calls += 3;
        proxy.connections() >= connections + 3
    })
    .await;
    assert!(calls >= 3);
    assert_eq!(
        proxy.sent_count(marker.as_bytes()),
        0,
        "a caller's command was sent while the breaker was open"
    );

    // Healed: a probe finds it (no caller calls meanwhile) and closes the
    // breaker; then callers are served again.
    proxy.restore().await;
    eventually("a probe closed the breaker", async || r.is_up()).await;
    assert_eq!(proxy.sent_count(marker.as_bytes()), 0);
    assert!(proxy.sent_count(b"PING") >= 1, "closed by a PING");
    // One warning for the outage, one line for its end.
    let lines = capture.lines().split_off(logged_before);
    still_there(&store, "/api/shop/a").await;

    let said = |m: &str| {
        lines
            .iter()
            .filter(|l| l["message"].as_str().is_some_and(|s| s.starts_with(m)))
            .count()
    };
    assert_eq!(said("redis unreachable"), 1, "{lines:?}");
    assert_eq!(said("redis reachable again"), 1, "{lines:?}");
}

#[tokio::test]
async fn scripts_are_called_by_hash_and_sent_whole_when_the_server_lacks_them() {
    let Some((_t, r)) = redis() else { return };
    // A script no server has seen: the first call meets NOSCRIPT.
    let source = format!(
        "-- {}\nreturn tonumber(ARGV[1]) + 1",
        marimo_platform::ids::new_id()
    );
    let script = LuaScript::new(Box::leak(source.into_boxed_str()));
    let exists = async || -> Vec<i64> {
        r.query(
            "test_exists",
            ::redis::cmd("SCRIPT").arg("EXISTS").arg(script.hash()),
        )
        .await
        .unwrap()
    };
    assert_eq!(exists().await, [0]);
    let n: i64 = r.eval("test_eval", &script, &[], &[&41]).await.unwrap();
    assert_eq!(n, 42);
    assert_eq!(exists().await, [1], "EVAL cached it");
    let n: i64 = r.eval("test_eval", &script, &[], &[&1]).await.unwrap();
    assert_eq!(n, 2);
}

// ------------------------------------------------------------------ locks

/// Several contenders (each its own client, like replicas) loop on one
/// lease; an overlap is a contender finding another inside.
async fn never_two_holders(contenders: Vec<Arc<dyn Locks>>) {
    let name = format!("overlap-{}", marimo_platform::ids::new_id());
    let inside = Arc::new(AtomicUsize::new(0));
    let overlaps = Arc::new(AtomicUsize::new(0));
    let runs = Arc::new(AtomicUsize::new(0));
    let tasks = contenders.into_iter().flat_map(|locks| {
        // Two tasks per client too: concurrency within a replica.
        (0..2).map(move |_| locks.clone())
    });
    let tasks = tasks.map(|locks| {
        let (name, inside, overlaps, runs) =
            (name.clone(), inside.clone(), overlaps.clone(), runs.clone());
        tokio::spawn(async move {
            for _ in 0..150 {
                let turn = run_exclusive(&locks, &name, Duration::from_secs(5), |_| async {
                    if inside.fetch_add(1, Ordering::SeqCst) != 0 {
                        overlaps.fetch_add(1, Ordering::SeqCst);
                    }
                    tokio::task::yield_now().await;
                    tokio::time::sleep(Duration::from_micros(200)).await;
                    inside.fetch_sub(1, Ordering::SeqCst);
                })
                .await;
                match turn {
                    Turn::Ran(()) => {
                        runs.fetch_add(1, Ordering::SeqCst);
                    }
                    Turn::Busy => tokio::task::yield_now().await,
                    other => panic!("unexpected turn {other:?}"),
                }
            }
        })
    });
    for t in futures_util::future::join_all(tasks).await {
        t.unwrap();
    }
    assert_eq!(overlaps.load(Ordering::SeqCst), 0, "two holders at once");
    assert!(runs.load(Ordering::SeqCst) > 0, "nobody ever got the lease");
}

#[tokio::test]
async fn local_lock_never_has_two_holders() {
    let local: Arc<dyn Locks> = Arc::new(LocalLocks::default());
    never_two_holders(vec![local.clone(), local]).await;
}

#[tokio::test]
async fn redis_lock_never_has_two_holders() {
    let Some((t, _)) = redis() else { return };
    let replicas = (0..3)
        .map(|_| lock::from_redis(Some(t.client("test"))))
        .collect();
    never_two_holders(replicas).await;
}

async fn renewal_keeps_a_long_jobs_lease(a: Arc<dyn Locks>, b: Arc<dyn Locks>) {
    let name = format!("long-{}", marimo_platform::ids::new_id());
    let ttl = Duration::from_secs(1);
    let rivals = Arc::new(AtomicUsize::new(0));
    let (started_tx, started_rx) = tokio::sync::oneshot::channel();
    let job = {
        let (a, name) = (a.clone(), name.clone());
        tokio::spawn(async move {
            run_exclusive(&a, &name, ttl, |lost| async move {
                let _ = started_tx.send(());
                // Three TTLs of work: without renewal the lease would expire.
                tokio::time::sleep(ttl * 3).await;
                lost.is_cancelled()
            })
            .await
        })
    };
    started_rx.await.unwrap();
    while !job.is_finished() {
        if matches!(
            run_exclusive(&b, &name, ttl, |_| async {}).await,
            Turn::Ran(())
        ) {
            rivals.fetch_add(1, Ordering::SeqCst);
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    match job.await.unwrap() {
        Turn::Ran(lost) => assert!(!lost, "the lease was kept"),
        other => panic!("the long job did not finish holding its lease: {other:?}"),
    }
    assert_eq!(rivals.load(Ordering::SeqCst), 0, "a rival got the lease");
    // Released at the end: the rival gets it now.
    assert!(matches!(
        run_exclusive(&b, &name, ttl, |_| async {}).await,
        Turn::Ran(())
    ));
}

#[tokio::test]
async fn local_renewal_keeps_a_long_jobs_lease() {
    let local: Arc<dyn Locks> = Arc::new(LocalLocks::default());
    renewal_keeps_a_long_jobs_lease(local.clone(), local).await;
}

#[tokio::test]
async fn redis_renewal_keeps_a_long_jobs_lease() {
    let Some((t, _)) = redis() else { return };
    renewal_keeps_a_long_jobs_lease(
        lock::from_redis(Some(t.client("a"))),
        lock::from_redis(Some(t.client("b"))),
    )
    .await;
}

#[tokio::test]
async fn a_lost_redis_lease_is_detected_and_its_job_stopped() {
    let Some((t, r)) = redis() else { return };
    let locks = lock::from_redis(Some(t.client("a")));
    let name = format!("lost-{}", marimo_platform::ids::new_id());
    let ttl = Duration::from_millis(600);
    let (started_tx, started_rx) = tokio::sync::oneshot::channel();
    let job = {
        let (locks, name) = (locks.clone(), name.clone());
        tokio::spawn(async move {
            run_exclusive(&locks, &name, ttl, |_| async move {
                let _ = started_tx.send(());
                std::future::pending::<()>().await;
            })
            .await
        })
    };
    started_rx.await.unwrap();
    // Someone else takes the key over (as after an expiry).
    let key = r.key("lock", &name);
    let _: () = r
        .query("test_set", ::redis::cmd("SET").arg(&key).arg("intruder"))
        .await
        .unwrap();
    let turn = tokio::time::timeout(Duration::from_secs(20), job)
        .await
        .expect("the job is stopped")
        .unwrap();
    assert!(matches!(turn, Turn::Lost), "{turn:?}");
    let holder: Option<String> = r
        .query("test_get", ::redis::cmd("GET").arg(&key))
        .await
        .unwrap();
    assert_eq!(
        holder.as_deref(),
        Some("intruder"),
        "the new holder keeps it"
    );
}

async fn only_the_owner_releases_or_renews(locks: Arc<dyn Locks>) {
    let name = format!("owner-{}", marimo_platform::ids::new_id());
    let ttl = Duration::from_secs(30);
    assert!(locks.acquire(&name, "token-a", ttl).await.unwrap());
    assert!(!locks.acquire(&name, "token-b", ttl).await.unwrap());
    assert!(!locks.release(&name, "token-b").await.unwrap());
    assert!(!locks.renew(&name, "token-b", ttl).await.unwrap());
    assert!(
        !locks.acquire(&name, "token-b", ttl).await.unwrap(),
        "still held by a"
    );
    assert!(locks.renew(&name, "token-a", ttl).await.unwrap());
    assert!(locks.release(&name, "token-a").await.unwrap());
    assert!(
        !locks.release(&name, "token-a").await.unwrap(),
        "released once"
    );
    assert!(locks.acquire(&name, "token-b", ttl).await.unwrap());
    // A lease expires by itself.
    let short = format!("{name}-short");
    assert!(
        locks
            .acquire(&short, "a", Duration::from_millis(30))
            .await
            .unwrap()
    );
    eventually("the short lease expires", async || {
        locks
            .acquire(&short, "b", Duration::from_secs(30))
            .await
            .unwrap()
    })
    .await;
    assert!(!locks.renew(&short, "a", ttl).await.unwrap());
}

#[tokio::test]
async fn local_release_by_a_non_owner_does_nothing() {
    only_the_owner_releases_or_renews(Arc::new(LocalLocks::default())).await;
}

#[tokio::test]
async fn redis_release_by_a_non_owner_does_nothing() {
    let Some((t, _)) = redis() else { return };
    only_the_owner_releases_or_renews(lock::from_redis(Some(t.client("a")))).await;
}

#[tokio::test]
async fn with_redis_cut_jobs_skip_their_turn_and_a_held_lease_is_lost() {
    let Some(url) = redis_url() else { return };
    let proxy = TcpProxy::to_url(&url).await;
    let t = TestRedis::new(&proxy.url("redis"));
    let (a, b) = (
        lock::from_redis(Some(t.client("a"))),
        lock::from_redis(Some(t.client("b"))),
    );
    let name = format!("cut-{}", marimo_platform::ids::new_id());
    let ttl = Duration::from_millis(600);
    let ran = Arc::new(AtomicUsize::new(0));

    // A holder whose Redis vanishes mid-job loses its lease before the TTL
    // could let anyone else in, and its job is stopped.
    let lease = Lease::try_acquire(&a, &name, ttl)
        .await
        .unwrap()
        .expect("free");
    proxy.cut().await;
    tokio::time::timeout(Duration::from_secs(20), lease.lost().cancelled())
        .await
        .expect("the lease is lost");
    drop(lease);

    // While cut, no replica runs the job: each skips its turn.
    for locks in [&a, &b, &a, &b] {
        let turn = run_exclusive(locks, &name, ttl, |_| {
            let ran = ran.clone();
            async move {
                ran.fetch_add(1, Ordering::SeqCst);
            }
        })
        .await;
        assert!(matches!(turn, Turn::Unavailable(_)), "{turn:?}");
    }
    assert_eq!(ran.load(Ordering::SeqCst), 0, "a job ran without a lease");

    proxy.restore().await;
    eventually("the job runs again", async || {
        matches!(
            run_exclusive(&b, &name, ttl, |_| async {}).await,
            Turn::Ran(())
        )
    })
    .await;
}

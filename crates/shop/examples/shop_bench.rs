//! Shop benchmark: orders placed per second and catalog reads per second,
//! through the HTTP API of a real shop service. Not a test: it prints
//! numbers.
//!
//! ```sh
//! CARGO_TARGET_DIR=... cargo run --release -p marimo-shop --example shop_bench
//! # PostgreSQL too:
//! MARIMO_TEST_DATABASE_URL=postgres://postgres@127.0.0.1:5432/postgres cargo run --release ...
//! # knobs: BENCH_SECS=10 CONCURRENCY=32 PRODUCTS=20
//! ```
//!
//! 1. Orders: `CONCURRENCY` clients place orders (1–3 lines over
//!    `PRODUCTS` products with ample stock) for `BENCH_SECS`; every order is a
//!    full placement (reservation, order, lines, history, outbox event).
//! 2. Hot product: the same, all clients on one product (row contention).
//! 3. Catalog: the same clients read `GET /products?q=..&sort=price` and
//!    `GET /products/{id}` alternately.
//!
//! Client and server share the machine, so numbers are a floor.

// A benchmark reports its numbers on stdout.
#![allow(clippy::print_stdout)]

use std::{
    sync::Arc,
    time::{Duration, Instant},
};

use marimo_platform::{
    auth::{JwtKeys, Role, jwt::Identity},
    ids,
    service::ServiceName,
};
use marimo_testkit::{Backend, TEST_JWT_SECRET};
use serde_json::{Value, json};

fn env_usize(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn token(role: Role) -> String {
    JwtKeys::new(TEST_JWT_SECRET.as_bytes())
        .issue(&Identity {
            user_id: ids::new_id(),
            email: "bench@example.com".into(),
            role,
            tenant: Default::default(),
        })
        .0
}

struct Outcome {
    ok: u64,
    failed: u64,
    latencies: Vec<Duration>,
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

/// Runs `CONCURRENCY` clients calling `op` for `secs`; `op(client, i)`
/// returns whether the call succeeded.
async fn drive<F, Fut>(label: &str, concurrency: usize, secs: u64, op: F)
where
    F: Fn(reqwest::Client, u64) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = bool> + Send,
{
    let op = Arc::new(op);
    let client = reqwest::Client::new();
    let deadline = Instant::now() + Duration::from_secs(secs);
    let started = Instant::now();
    let workers: Vec<_> = (0..concurrency)
        .map(|w| {
            let (op, client) = (op.clone(), client.clone());
            tokio::spawn(async move {
                let mut out = Outcome {
                    ok: 0,
                    failed: 0,
                    latencies: Vec::new(),
                };
                let mut i = w as u64 * 1_000_000;
                while Instant::now() < deadline {
                    let t = Instant::now();
                    if op(client.clone(), i).await {
                        out.ok += 1;
                    } else {
                        out.failed += 1;
                    }
                    out.latencies.push(t.elapsed());
                    i += 1;
                }
                out
            })
        })
        .collect();
    let (mut ok, mut failed, mut lat) = (0, 0, Vec::new());
    for w in workers {
        if let Ok(o) = w.await {
            ok += o.ok;
            failed += o.failed;
            lat.extend(o.latencies);
        }
    }
    let elapsed = started.elapsed().as_secs_f64();
    lat.sort();
    println!(
        "  {label:<28} {:>9.0}/s  ok {ok:>7}  failed {failed:>5}  p50 {:>6.1} ms  p99 {:>6.1} ms",
        ok as f64 / elapsed,
        percentile(&lat, 0.50).as_secs_f64() * 1000.0,
        percentile(&lat, 0.99).as_secs_f64() * 1000.0,
    );
}

async fn run(backend: &Backend, secs: u64, concurrency: usize, products: usize) {
    println!("backend: {}", backend.name());
    let settings = backend.settings(&[]).await;
    let ctx = marimo_testkit::context(ServiceName::Shop, settings).await;
    let router = match marimo_shop::router(ctx.clone()).await {
        Ok(r) => r,
        Err(e) => {
            eprintln!("shop does not start: {e}");
            return;
        }
    };
    let server = marimo_testkit::spawn(router).await;
    let base = server.url.clone();

    let admin = token(Role::Admin);
    let client = reqwest::Client::new();
    let mut ids = Vec::new();
    for i in 0..products {
        let res = client
            .post(format!("{base}/api/shop/admin/products"))
            .bearer_auth(&admin)
            .json(&json!({
                "name": format!("Bench product {i:03}"),
                "description": "A product for the benchmark",
                "price": format!("{}.99", 1 + i),
                "stock": 1_000_000_000i64,
                "category": if i % 2 == 0 { "Even" } else { "Odd" },
            }))
            .send()
            .await;
        let body: Value = match res {
            Ok(r) => r.json().await.unwrap_or(Value::Null),
            Err(_) => Value::Null,
        };
        if let Some(id) = body["product"]["id"].as_str() {
            ids.push(id.to_owned());
        }
    }
    if ids.is_empty() {
        eprintln!("could not create products");
        return;
    }
    let ids = Arc::new(ids);
    let user = Arc::new(token(Role::User));

    let place = |ids: Arc<Vec<String>>, user: Arc<String>, base: String, hot: bool| {
        move |client: reqwest::Client, i: u64| {
            let (ids, user, base) = (ids.clone(), user.clone(), base.clone());
            async move {
                let n = ids.len() as u64;
                let items: Vec<Value> = if hot {
                    vec![json!({"product_id": ids[0], "quantity": 1})]
                } else {
                    (0..1 + i % 3)
                        .map(|k| json!({"product_id": ids[((i * 7 + k * 3) % n) as usize], "quantity": 1 + k}))
                        .collect()
                };
                let res = client
                    .post(format!("{base}/api/shop/orders"))
                    .bearer_auth(user.as_str())
                    .json(&json!({ "items": items }))
                    .send()
                    .await;
                match res {
                    Ok(r) => {
                        let ok = r.status().as_u16() == 201;
                        let _ = r.bytes().await;
                        ok
                    }
                    Err(_) => false,
                }
            }
        }
    };
    drive(
        "orders (spread)",
        concurrency,
        secs,
        place(ids.clone(), user.clone(), base.clone(), false),
    )
    .await;
    drive(
        "orders (one hot product)",
        concurrency,
        secs,
        place(ids.clone(), user.clone(), base.clone(), true),
    )
    .await;
    let (cat_ids, cat_base) = (ids.clone(), base.clone());
    drive(
        "catalog GETs",
        concurrency,
        secs,
        move |client: reqwest::Client, i: u64| {
            let (ids, base) = (cat_ids.clone(), cat_base.clone());
            async move {
                let url = if i.is_multiple_of(2) {
                    format!(
                        "{base}/api/shop/products?q=bench&sort=price&limit=20&page={}",
                        1 + i % 2
                    )
                } else {
                    format!(
                        "{base}/api/shop/products/{}",
                        ids[(i % ids.len() as u64) as usize]
                    )
                };
                match client.get(url).send().await {
                    Ok(r) => {
                        let ok = r.status().is_success();
                        let _ = r.bytes().await;
                        ok
                    }
                    Err(_) => false,
                }
            }
        },
    )
    .await;
    let orders: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM orders")
        .fetch_one(ctx.db().pool())
        .await
        .unwrap_or(-1);
    println!("  orders stored: {orders}");
    ctx.shutdown.cancel();
}

#[tokio::main]
async fn main() {
    let secs = env_usize("BENCH_SECS", 10) as u64;
    let concurrency = env_usize("CONCURRENCY", 32);
    let products = env_usize("PRODUCTS", 20).max(1);
    println!("shop_bench: {secs} s per run, {concurrency} clients, {products} products");
    for backend in marimo_testkit::backends() {
        run(&backend, secs, concurrency, products).await;
    }
}

//! Factory benchmark: stock moves per second, and the explosion of a
//! 5-level BOM with ~1,000 distinct components. Not a test: it prints
//! numbers.
//!
//! ```sh
//! export CARGO_TARGET_DIR=/work/target-factory
//! cargo run --release -p marimo-factory --example factory_bench
//! # PostgreSQL too:
//! MARIMO_TEST_DATABASE_URL=postgres://postgres@127.0.0.1:5432/postgres \
//!   cargo run --release -p marimo-factory --example factory_bench
//! # sizes: MOVES=4000 CONCURRENCY=8 EXPLOSIONS=20
//! ```
//!
//! 1. Moves per second through the engine (one transaction per move, each
//!    with its balance update and its `factory.stock.moved` outbox event —
//!    the perpetual-inventory feed the ledger posts from — and, for
//!    receipts, `factory.stock.received` too): one
//!    client alternating receipts and issues on one SKU; `CONCURRENCY`
//!    clients each on its own SKU; `CONCURRENCY` clients contending for one
//!    SKU; and through the HTTP API (`CONCURRENCY` clients).
//! 2. A 5-level BOM (levels of 1, 10, 40, 150 and 800 items: 1,001
//!    distinct items, every non-leaf with 8 components): the explosion's
//!    time through the engine (loading the active BOM graph + exploding),
//!    the pure explosion alone, and through `GET /boms/{id}/explode`.

// A benchmark reports its numbers on stdout.
#![allow(clippy::print_stdout)]

use std::{
    sync::{
        Arc,
        atomic::{AtomicUsize, Ordering},
    },
    time::{Duration, Instant},
};

use marimo_factory::{Factory, Item, NewBom, Requester, domain};
use marimo_platform::{
    auth::{JwtKeys, Role, jwt::Identity},
    service::ServiceName,
    tenant::TenantId,
};
use marimo_testkit::{Backend, TEST_JWT_SECRET};
use serde_json::json;

fn env_usize(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn item(sku: &str, kind: domain::items::Kind) -> Item {
    Item {
        sku: sku.to_owned(),
        name: format!("Item {sku}"),
        kind,
        category: domain::items::Category::of(kind, false),
        uom: "pcs".to_owned(),
        // 1.00 a unit, in fine units.
        standard_cost: 1_000_000,
        reorder_point: 0,
        active: true,
        status: domain::items::ProductStatus::Planned,
    }
}

/// The bench runs in the default tenant (a single business).
fn dt() -> TenantId {
    TenantId::default_tenant()
}

fn per_sec(n: usize, d: Duration) -> f64 {
    n as f64 / d.as_secs_f64()
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

/// 1.5 a unit, in fine units: a receipt of 2 books 3.00.
const COST: i64 = 1_500_000;

async fn moves(f: &Arc<Factory>, backend: &str, n: usize, conc: usize) {
    use domain::items::{Kind, Reason};
    let actor = "bench";
    // One client, one SKU: receipt, issue, receipt, issue...
    f.create_item(&dt(), actor, item("SEQ", Kind::RawMaterial))
        .await
        .expect("item");
    let t = Instant::now();
    for i in 0..n {
        if i % 2 == 0 {
            f.receive(
                Requester::new(&dt(), actor),
                Reason::Receipt,
                ("SEQ", "MAIN"),
                2000,
                COST,
                None,
            )
            .await
            .expect("receipt");
        } else {
            f.issue(
                Requester::new(&dt(), actor),
                Reason::Issue,
                "SEQ",
                "MAIN",
                1000,
                None,
            )
            .await
            .expect("issue");
        }
    }
    let d = t.elapsed();
    println!(
        "{backend:8} moves, 1 client, 1 SKU:              {n:6} in {:7.2?} = {:8.0} moves/s",
        d,
        per_sec(n, d)
    );

    // `conc` clients, each on its own SKU.
    for c in 0..conc {
        f.create_item(&dt(), actor, item(&format!("PAR{c}"), Kind::RawMaterial))
            .await
            .expect("item");
    }
    f.create_item(&dt(), actor, item("HOT", Kind::RawMaterial))
        .await
        .expect("item");
    for (label, shared) in [("own SKU each", false), ("one shared SKU", true)] {
        let per = n / conc;
        let made = Arc::new(AtomicUsize::new(0));
        let t = Instant::now();
        let tasks: Vec<_> = (0..conc)
            .map(|c| {
                let f = f.clone();
                let made = made.clone();
                tokio::spawn(async move {
                    let sku = if shared {
                        "HOT".to_owned()
                    } else {
                        format!("PAR{c}")
                    };
                    for i in 0..per {
                        if i % 2 == 0 {
                            f.receive(
                                Requester::new(&dt(), "bench"),
                                Reason::Receipt,
                                (&sku, "MAIN"),
                                2000,
                                COST,
                                None,
                            )
                            .await
                            .expect("receipt");
                            made.fetch_add(1, Ordering::Relaxed);
                        } else if f
                            .issue(
                                Requester::new(&dt(), "bench"),
                                Reason::Issue,
                                &sku,
                                "MAIN",
                                1000,
                                None,
                            )
                            .await
                            .is_ok()
                        {
                            // Under contention another client may have taken
                            // the stock: a refusal is not a move.
                            made.fetch_add(1, Ordering::Relaxed);
                        }
                    }
                })
            })
            .collect();
        for t in tasks {
            t.await.expect("task");
        }
        let d = t.elapsed();
        let total = made.load(Ordering::Relaxed);
        println!(
            "{backend:8} moves, {conc} clients, {label:14}: {total:6} in {:7.2?} = {:8.0} moves/s",
            d,
            per_sec(total, d)
        );
    }
}

async fn http_moves(url: &str, backend: &str, n: usize, conc: usize) {
    let token = JwtKeys::new(TEST_JWT_SECRET.as_bytes())
        .issue(&Identity {
            user_id: "bench".into(),
            email: "bench@example.com".into(),
            role: Role::Manager,
            tenant: Default::default(),
        })
        .0;
    let http = marimo_testkit::Http::new(url);
    http.post("/api/factory/items")
        .bearer(&token)
        .json(json!({"sku": "WEB", "name": "Web", "kind": "raw_material"}))
        .send()
        .await
        .expect(201);
    let per = n / conc;
    let made = Arc::new(AtomicUsize::new(0));
    let t = Instant::now();
    let tasks: Vec<_> = (0..conc)
        .map(|_| {
            let http = http.clone();
            let token = token.clone();
            let made = made.clone();
            tokio::spawn(async move {
                for i in 0..per {
                    let (path, body) = if i % 2 == 0 {
                        (
                            "/api/factory/stock/receipts",
                            json!({"sku": "WEB", "qty": 2, "unit_cost": "1.50"}),
                        )
                    } else {
                        ("/api/factory/stock/issues", json!({"sku": "WEB", "qty": 1}))
                    };
                    let r = http.post(path).bearer(&token).json(body).send().await;
                    assert!(r.status == 201 || r.status == 409, "{}", r.text);
                    if r.status == 201 {
                        made.fetch_add(1, Ordering::Relaxed);
                    }
                }
            })
        })
        .collect();
    for t in tasks {
        t.await.expect("task");
    }
    let d = t.elapsed();
    let total = made.load(Ordering::Relaxed);
    println!(
        "{backend:8} moves over HTTP, {conc} clients, 1 SKU:    {total:6} in {:7.2?} = {:8.0} moves/s",
        d,
        per_sec(total, d)
    );
}

/// Levels of 1, 10, 40, 150 and 800 items; node `k` of a level needs 8
/// consecutive (wrapping) items of the next level, so every item is used.
async fn build_bom(f: &Factory) -> String {
    use domain::{bom::Component, items::Kind};
    let sizes = [1usize, 10, 40, 150, 800];
    let name = |level: usize, k: usize| format!("L{level}-{k:04}");
    for (level, size) in sizes.iter().enumerate() {
        let kind = match level {
            0 => Kind::FinishedGood,
            4 => Kind::RawMaterial,
            _ => Kind::Component,
        };
        for k in 0..*size {
            f.create_item(&dt(), "bench", item(&name(level, k), kind))
                .await
                .expect("item");
        }
    }
    let mut root = String::new();
    // Bottom-up, so every BOM is created after its components' BOMs.
    for level in (0..4).rev() {
        let next = sizes[level + 1];
        for k in 0..sizes[level] {
            let components = (0..8)
                .map(|t| Component {
                    sku: name(level + 1, (k * 8 + t) % next),
                    qty: 1000 + ((k + t) % 3) as i64 * 500,
                })
                .collect();
            let bom = f
                .create_bom(
                    &dt(),
                    "bench",
                    NewBom {
                        product_sku: name(level, k),
                        output_qty: 1000 + (k % 2) as i64 * 1000,
                        components,
                    },
                )
                .await
                .expect("bom");
            if level == 0 {
                root = bom.id;
            }
        }
    }
    root
}

async fn explosion(f: &Factory, url: &str, backend: &str, runs: usize) {
    let t = Instant::now();
    let root = build_bom(f).await;
    println!(
        "{backend:8} built the 5-level BOM (1,001 items, 201 BOMs) in {:.2?}",
        t.elapsed()
    );
    let mut engine = Vec::new();
    let mut leaves = 0;
    for _ in 0..runs {
        let t = Instant::now();
        let (_, e) = f.explode(&dt(), &root, 7000).await.expect("explode");
        engine.push(t.elapsed());
        leaves = e.requirements.len();
        assert_eq!(e.depth, 4);
    }
    println!(
        "{backend:8} explosion via engine (load graph + explode), {leaves} leaves: median {:.2?}",
        median(engine)
    );
    // The pure part, on a graph loaded once.
    let mut conn = f.db().pool().acquire().await.expect("conn");
    let graph: domain::bom::Graph = {
        use sqlx::Row;
        let rows = sqlx::query(
            "SELECT b.product_sku, b.output_qty, c.sku, c.qty FROM boms b
             JOIN bom_components c ON c.bom_id = b.id ORDER BY b.product_sku, c.line",
        )
        .fetch_all(&mut conn)
        .await
        .expect("graph");
        let mut g = domain::bom::Graph::new();
        for r in &rows {
            let p: String = r.get("product_sku");
            let out: i64 = r.get("output_qty");
            g.entry(p)
                .or_insert_with(|| domain::bom::Bom {
                    output_qty: out,
                    components: vec![],
                })
                .components
                .push(domain::bom::Component {
                    sku: r.get("sku"),
                    qty: r.get("qty"),
                });
        }
        g
    };
    let root_bom = graph.get("L0-0000").expect("root").clone();
    let mut pure = Vec::new();
    for _ in 0..runs {
        let t = Instant::now();
        let e = domain::bom::explode(&graph, "L0-0000", &root_bom, 7000).expect("explode");
        pure.push(t.elapsed());
        assert_eq!(e.requirements.len(), leaves);
    }
    println!(
        "{backend:8} explosion, pure domain:                       median {:.2?}",
        median(pure)
    );
    let token = JwtKeys::new(TEST_JWT_SECRET.as_bytes())
        .issue(&Identity {
            user_id: "bench".into(),
            email: "bench@example.com".into(),
            role: Role::Manager,
            tenant: Default::default(),
        })
        .0;
    let http = marimo_testkit::Http::new(url);
    let mut over_http = Vec::new();
    for _ in 0..runs {
        let t = Instant::now();
        http.get(&format!("/api/factory/boms/{root}/explode?qty=7"))
            .bearer(&token)
            .send()
            .await
            .expect(200);
        over_http.push(t.elapsed());
    }
    println!(
        "{backend:8} explosion over HTTP:                          median {:.2?}",
        median(over_http)
    );
}

#[tokio::main]
async fn main() {
    let n = env_usize("MOVES", 4000);
    let conc = env_usize("CONCURRENCY", 8).max(1);
    let runs = env_usize("EXPLOSIONS", 20).max(1);
    for backend in marimo_testkit::backends() {
        let name = backend.name();
        let settings = backend.settings(&[]).await;
        let ctx = marimo_testkit::context(ServiceName::Factory, settings).await;
        let f = Arc::new(marimo_factory::start(&ctx).await.expect("start"));
        let server =
            marimo_testkit::spawn(marimo_factory::router(ctx.clone()).await.expect("router")).await;
        moves(&f, name, n, conc).await;
        http_moves(&server.url, name, n, conc).await;
        explosion(&f, &server.url, name, runs).await;
        if let Backend::Postgres { .. } = backend {
            println!(
                "(postgres: a fresh database per run, on the server of MARIMO_TEST_DATABASE_URL)"
            );
        }
    }
}

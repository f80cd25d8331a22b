//! Event bus benchmark over RabbitMQ: outbox → relay → RabbitMQ → consumer.
//!
//! ```text
//! MARIMO_TEST_RABBITMQ_URL=amqp://guest:guest@127.0.0.1:5672/%2f \
//! MARIMO_TEST_DATABASE_URL=postgres://postgres@127.0.0.1:5432/postgres \
//! cargo run --release -p marimo-platform --example bus_bench -- [EVENTS] [RATE]
//! ```
//!
//! For SQLite, and PostgreSQL when `MARIMO_TEST_DATABASE_URL` is set, a
//! publisher (shop) and a consumer (accounting) share one RabbitMQ broker;
//! the consumer applies each event in its own transaction through
//! `bus::inbox`, as a real service does. Two phases:
//!
//! - **burst**: `EVENTS` (default 10000) events written to the outbox in
//!   transactions of 100 as fast as the database takes them; reports
//!   events/second from the first write to the last event applied, and
//!   the lag (`occurred_at` → applied) under that backlog; the `relay`
//!   line is the same burst measured until the outbox was drained.
//! - **steady**: `RATE` events/second (default 200) for 5 s, one event per
//!   transaction like a request would; reports the lag p50/p99/max.

// A benchmark reports its numbers on stdout.
#![allow(clippy::print_stdout)]

use std::{
    sync::{
        Arc, Mutex,
        atomic::{AtomicUsize, Ordering},
    },
    time::{Duration, Instant},
};

use marimo_platform::{
    bus::{Bus, Envelope, inbox, rabbit::RabbitBroker},
    clock,
    ids::new_id,
    service::{ServiceContext, ServiceName},
};
use marimo_testkit::{Backend, context_on};
use serde_json::json;
use tokio_util::sync::CancellationToken;

type BoxError = Box<dyn std::error::Error + Send + Sync>;

struct Rig {
    broker: Arc<RabbitBroker>,
    publisher: ServiceContext,
    queue: String,
    event_type: String,
    applied: Arc<AtomicUsize>,
    lags: Arc<Mutex<Vec<Duration>>>,
}

#[tokio::main]
async fn main() -> Result<(), BoxError> {
    let mut args = std::env::args().skip(1);
    let events: usize = args.next().map_or(Ok(10_000), |a| a.parse())?;
    let rate: usize = args.next().map_or(Ok(200), |a| a.parse())?;
    let url = std::env::var("MARIMO_TEST_RABBITMQ_URL")
        .map_err(|_| "set MARIMO_TEST_RABBITMQ_URL (amqp://...)")?;
    let mut list = vec![Backend::Sqlite];
    if let Ok(server_url) = std::env::var("MARIMO_TEST_DATABASE_URL") {
        list.push(Backend::Postgres { server_url });
    }
    println!(
        "{:<9} {:<7} {:>7} {:>8} {:>10} {:>9} {:>9} {:>9}",
        "backend", "phase", "events", "seconds", "events/s", "lag p50", "lag p99", "lag max"
    );
    for backend in &list {
        let r = rig(backend, &url).await?;
        burst(&r, backend, events).await?;
        steady(&r, backend, rate, Duration::from_secs(5)).await?;
        r.broker.shutdown().await;
        delete_queues(&url, &r.queue).await?;
    }
    Ok(())
}

async fn rig(backend: &Backend, url: &str) -> Result<Rig, BoxError> {
    let token = new_id().replace('-', "");
    let queue = format!("bench-{token}");
    let event_type = format!("shop.b{token}.paid");
    let broker = RabbitBroker::start(url, CancellationToken::new()).await?;
    let bus = Bus::new(broker.clone());
    let settings = backend.settings(&[]).await;
    let publisher = context_on(ServiceName::Shop, settings.clone(), bus.clone()).await;
    let consumer = context_on(ServiceName::Accounting, settings, bus.clone()).await;
    let db = consumer.db().clone();
    sqlx::query("CREATE TABLE bench_effects (event_id TEXT PRIMARY KEY, amount BIGINT NOT NULL)")
        .execute(db.pool())
        .await?;
    let applied = Arc::new(AtomicUsize::new(0));
    let lags = Arc::new(Mutex::new(Vec::new()));
    let (h_db, h_applied, h_lags) = (db.clone(), applied.clone(), lags.clone());
    let binding = format!("shop.b{token}.*");
    bus.subscribe(&db, &queue, &[binding.as_str()], move |env: Envelope| {
        let (db, applied, lags) = (h_db.clone(), h_applied.clone(), h_lags.clone());
        async move {
            let Some(mut tx) = inbox::begin(&db, "accounting", &env.id).await? else {
                return Ok(());
            };
            sqlx::query("INSERT INTO bench_effects (event_id, amount) VALUES ($1, $2)")
                .bind(&env.id)
                .bind(env.payload["amount"].as_i64().unwrap_or(0))
                .execute(&mut *tx)
                .await?;
            tx.commit().await?;
            if let Some(at) = clock::parse(&env.occurred_at) {
                let lag = (clock::now() - at).max(time::Duration::ZERO);
                let lag = Duration::from_micros(lag.whole_microseconds() as u64);
                if let Ok(mut lags) = lags.lock() {
                    lags.push(lag);
                }
            }
            applied.fetch_add(1, Ordering::SeqCst);
            Ok(())
        }
    })
    .await?;
    Ok(Rig {
        broker,
        publisher,
        queue,
        event_type,
        applied,
        lags,
    })
}

async fn burst(r: &Rig, backend: &Backend, events: usize) -> Result<(), BoxError> {
    reset(r);
    let started = Instant::now();
    let mut written = 0;
    while written < events {
        let mut tx = r.publisher.db().begin().await?;
        for _ in 0..100.min(events - written) {
            let env = Envelope::new("shop", &r.event_type, json!({"amount": 1}));
            r.publisher.outbox.publish(&mut tx, &env).await?;
            written += 1;
        }
        tx.commit().await?;
        r.publisher.outbox.wake();
    }
    let relayed = wait_relayed(r).await?.duration_since(started);
    wait_applied(r, events).await?;
    let took = started.elapsed();
    report(r, backend, "burst", events, took);
    println!(
        "{:<9} {:<7} {:>7} {:>8.2} {:>10.0}   (outbox drained by the relay)",
        backend.name(),
        "relay",
        events,
        relayed.as_secs_f64(),
        events as f64 / relayed.as_secs_f64()
    );
    Ok(())
}

/// When the publisher's outbox has nothing unsent any more.
async fn wait_relayed(r: &Rig) -> Result<Instant, BoxError> {
    let deadline = Instant::now() + Duration::from_secs(300);
    loop {
        let unsent: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM outbox WHERE sent_at IS NULL")
            .fetch_one(r.publisher.db().pool())
            .await?;
        if unsent == 0 {
            return Ok(Instant::now());
        }
        if Instant::now() > deadline {
            return Err(format!("{unsent} events still unsent").into());
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

async fn steady(r: &Rig, backend: &Backend, rate: usize, length: Duration) -> Result<(), BoxError> {
    reset(r);
    let total = (rate as f64 * length.as_secs_f64()) as usize;
    let mut tick = tokio::time::interval(Duration::from_secs_f64(1.0 / rate as f64));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Burst);
    let started = Instant::now();
    for _ in 0..total {
        tick.tick().await;
        let mut tx = r.publisher.db().begin().await?;
        let env = Envelope::new("shop", &r.event_type, json!({"amount": 1}));
        r.publisher.outbox.publish(&mut tx, &env).await?;
        tx.commit().await?;
        r.publisher.outbox.wake();
    }
    wait_applied(r, total).await?;
    report(r, backend, "steady", total, started.elapsed());
    Ok(())
}

fn reset(r: &Rig) {
    r.applied.store(0, Ordering::SeqCst);
    if let Ok(mut lags) = r.lags.lock() {
        lags.clear();
    }
}

async fn wait_applied(r: &Rig, n: usize) -> Result<(), BoxError> {
    let deadline = Instant::now() + Duration::from_secs(300);
    while r.applied.load(Ordering::SeqCst) < n {
        if Instant::now() > deadline {
            return Err(format!("only {} of {n} applied", r.applied.load(Ordering::SeqCst)).into());
        }
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    Ok(())
}

fn report(r: &Rig, backend: &Backend, phase: &str, events: usize, took: Duration) {
    let mut lags = r.lags.lock().map(|l| l.clone()).unwrap_or_default();
    lags.sort();
    let pct = |p: f64| {
        lags.get(((lags.len() as f64 * p) as usize).min(lags.len().saturating_sub(1)))
            .copied()
            .unwrap_or_default()
    };
    let ms = |d: Duration| format!("{:.1}ms", d.as_secs_f64() * 1000.0);
    println!(
        "{:<9} {:<7} {:>7} {:>8.2} {:>10.0} {:>9} {:>9} {:>9}",
        backend.name(),
        phase,
        events,
        took.as_secs_f64(),
        events as f64 / took.as_secs_f64(),
        ms(pct(0.50)),
        ms(pct(0.99)),
        ms(lags.last().copied().unwrap_or_default()),
    );
}

async fn delete_queues(url: &str, queue: &str) -> Result<(), BoxError> {
    use lapin::{Connection, ConnectionProperties, options::QueueDeleteOptions};
    let conn = Connection::connect(url, ConnectionProperties::default()).await?;
    let channel = conn.create_channel().await?;
    for q in [queue.to_owned(), format!("{queue}.dlq")] {
        channel
            .queue_delete(q.as_str().into(), QueueDeleteOptions::default())
            .await?;
    }
    conn.close(200, "OK".into()).await?;
    Ok(())
}

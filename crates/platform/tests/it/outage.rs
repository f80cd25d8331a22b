//! A consumer whose database goes away for a while, on the embedded broker
//! and on RabbitMQ, on SQLite and PostgreSQL: the queue pauses (no event
//! is dead-lettered however long it lasts, `consumer_paused` says so) and
//! every event is applied exactly once after the database is back, with
//! no manual step.

use std::time::Duration;

use marimo_platform::{
    bus::{Bus, Envelope, dlq, inbox, rabbit::RabbitBroker},
    ids::new_id,
    service::{ServiceContext, ServiceName},
};
use marimo_testkit::{Backend, backends, context_on, eventually_within, rabbitmq_url, scrape};
use serde_json::json;
use tokio_util::sync::CancellationToken;

use crate::support::{DbOutage, PATIENCE, count_reaches, scalar};

/// Events published while the consumer's database is away.
const DURING: usize = 20;

/// Longer than the old give-up (5 tries in ~1.5 s) many times over; on
/// SQLite every attempt waits out the 10 s busy timeout first.
fn outage_length(backend: &Backend) -> Duration {
    match backend {
        Backend::Sqlite => Duration::from_secs(14),
        Backend::Postgres { .. } => Duration::from_secs(8),
    }
}

async fn paused(consumer: &ServiceContext, queue: &str) -> Option<f64> {
    scrape::sample(
        &consumer.metrics.scrape().await,
        "consumer_paused",
        &[("service", "accounting"), ("queue", queue)],
    )
}

/// Subscribes `queue` on `bus` for the consumer: one `effects` row per
/// event, in the inbox transaction.
async fn subscribe(bus: &Bus, consumer: &ServiceContext, queue: &str, binding: &str) {
    let db = consumer.db().clone();
    sqlx::query("CREATE TABLE effects (event_id TEXT PRIMARY KEY)")
        .execute(db.pool())
        .await
        .unwrap();
    let handler_db = db.clone();
    bus.subscribe(&db, queue, &[binding], move |env: Envelope| {
        let db = handler_db.clone();
        async move {
            let Some(mut tx) = inbox::begin(&db, "accounting", &env.id).await? else {
                return Ok(());
            };
            sqlx::query("INSERT INTO effects (event_id) VALUES ($1)")
                .bind(&env.id)
                .execute(&mut *tx)
                .await?;
            tx.commit().await?;
            Ok(())
        }
    })
    .await
    .unwrap();
}

async fn publish(ctx: &ServiceContext, event_type: &str, n: usize) {
    for i in 0..n {
        let mut tx = ctx.db().begin().await.unwrap();
        let env = Envelope::new("shop", event_type, json!({"n": i}));
        ctx.outbox.publish(&mut tx, &env).await.unwrap();
        tx.commit().await.unwrap();
    }
    ctx.outbox.wake();
}

/// The scenario on one bus: 5 events before, [`DURING`] while the
/// consumer's database is away, all applied once after.
async fn scenario(backend: &Backend, bus: Bus, rabbit_url: Option<&str>) -> String {
    let token = new_id().replace('-', "");
    // The embedded broker keeps dead letters by the consuming service's
    // name; a shared RabbitMQ needs a queue of this test's own.
    let queue = match rabbit_url {
        Some(_) => format!("outage-{token}"),
        None => "accounting".to_owned(),
    };
    let event_type = format!("shop.t{token}.paid");
    let mut overrides = Vec::new();
    if let Some(url) = rabbit_url {
        overrides.push(("RABBITMQ_URL", url));
    }
    let settings = backend.settings(&overrides).await;
    let (outage, consumer_settings) = DbOutage::for_service(&settings, "accounting").await;
    let publisher = context_on(ServiceName::Shop, settings.clone(), bus.clone()).await;
    let consumer = context_on(ServiceName::Accounting, consumer_settings, bus.clone()).await;
    subscribe(&bus, &consumer, &queue, &format!("shop.t{token}.*")).await;
    assert_eq!(paused(&consumer, &queue).await, Some(0.0));

    publish(&publisher, &event_type, 5).await;
    count_reaches(&consumer, "SELECT COUNT(*) FROM effects", 5).await;

    outage.begin().await;
    publish(&publisher, &event_type, DURING).await;
    eventually_within(PATIENCE, "the consumer paused", async || {
        paused(&consumer, &queue).await == Some(1.0)
    })
    .await;
    // The outage lasts (this is the fault, not a measurement).
    tokio::time::sleep(outage_length(backend)).await;
    assert_eq!(paused(&consumer, &queue).await, Some(1.0));
    outage.end().await;

    count_reaches(&consumer, "SELECT COUNT(*) FROM effects", 5 + DURING as i64).await;
    eventually_within(PATIENCE, "the consumer resumed", async || {
        paused(&consumer, &queue).await == Some(0.0)
    })
    .await;
    assert_eq!(
        scalar(&consumer, "SELECT COUNT(*) FROM processed_events").await,
        5 + DURING as i64,
        "{}",
        backend.name()
    );
    let letters = dlq::list(&consumer.settings, &queue).await.unwrap();
    assert!(letters.is_empty(), "dead-lettered: {letters:?}");
    let metrics = consumer.metrics.scrape().await;
    assert_eq!(
        scrape::sample(
            &metrics,
            "events_dead_lettered_total",
            &[
                ("service", "accounting"),
                ("queue", &queue),
                ("reason", "deferred")
            ],
        ),
        None,
        "nothing was dead-lettered"
    );
    queue
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_embedded_consumer_waits_out_its_database_and_loses_nothing() {
    for backend in backends() {
        eprintln!("--- backend: {}", backend.name());
        scenario(&backend, Bus::embedded(), None).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rabbitmq_consumer_waits_out_its_database_and_loses_nothing() {
    let Some(url) = rabbitmq_url() else { return };
    for backend in backends() {
        eprintln!("--- backend: {}", backend.name());
        let broker = RabbitBroker::start(&url, CancellationToken::new())
            .await
            .unwrap();
        let queue = scenario(&backend, Bus::new(broker.clone()), Some(&url)).await;
        broker.shutdown().await;
        crate::rabbit::delete_queues(&url, &queue).await;
    }
}

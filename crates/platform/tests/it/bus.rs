//! Outbox → relay → broker → idempotent consumer, on SQLite and PostgreSQL.

use std::{
    sync::{
        Arc,
        atomic::{AtomicBool, Ordering},
    },
    time::Duration,
};

use marimo_platform::{
    bus::{
        BoxFuture, Broker, Bus, BusError, Envelope, HandlerError, PublishOutcome, Subscription,
        embedded::EmbeddedBroker, inbox,
    },
    service::{ServiceContext, ServiceName},
};
use marimo_testkit::{Backend, backends, context_on};
use serde_json::json;

use crate::support::{count_reaches, scalar};

/// An embedded broker that can be "unplugged", like a broker outage.
#[derive(Default)]
struct Unpluggable {
    inner: EmbeddedBroker,
    down: AtomicBool,
}

impl Broker for Unpluggable {
    fn name(&self) -> &'static str {
        "unpluggable"
    }
    fn publish<'a>(&'a self, events: &'a [Envelope]) -> BoxFuture<'a, PublishOutcome> {
        Box::pin(async move {
            if self.down.load(Ordering::SeqCst) {
                return PublishOutcome {
                    confirmed: 0,
                    error: Some(BusError::Unavailable("unplugged".into())),
                };
            }
            self.inner.publish(events).await
        })
    }
    fn subscribe(&self, sub: Subscription) -> BoxFuture<'_, Result<(), BusError>> {
        self.inner.subscribe(sub)
    }
}

struct Pair {
    publisher: ServiceContext,
    consumer: ServiceContext,
}

/// A publishing service (shop) and a consuming one (accounting) on one bus;
/// the consumer counts each applied event in an `effects` table, and
/// refuses payloads marked as poison.
async fn pair(backend: &Backend, broker: Arc<dyn Broker>) -> Pair {
    let bus = Bus::new(broker);
    let settings = backend.settings(&[]).await;
    let publisher = context_on(ServiceName::Shop, settings.clone(), bus.clone()).await;
    let consumer = context_on(ServiceName::Accounting, settings, bus.clone()).await;
    let db = consumer.db().clone();
    sqlx::query("CREATE TABLE effects (event_id TEXT PRIMARY KEY, applied BIGINT NOT NULL)")
        .execute(db.pool())
        .await
        .unwrap();
    let handler_db = db.clone();
    bus.subscribe(
        &db,
        "accounting",
        &["shop.order.*"],
        move |env: Envelope| {
            let db = handler_db.clone();
            async move {
                if env.payload["poison"] == true {
                    return Err(HandlerError::Permanent("poison payload".into()));
                }
                let Some(mut tx) = inbox::begin(&db, "accounting", &env.id).await? else {
                    return Ok(());
                };
                // A plain INSERT: a second application would violate the key.
                sqlx::query("INSERT INTO effects (event_id, applied) VALUES ($1, 1)")
                    .bind(&env.id)
                    .execute(&mut *tx)
                    .await?;
                tx.commit().await?;
                Ok(())
            }
        },
    )
    .await
    .unwrap();
    Pair {
        publisher,
        consumer,
    }
}

async fn publish(ctx: &ServiceContext, n: usize, payload: serde_json::Value) {
    for _ in 0..n {
        let mut tx = ctx.db().begin().await.unwrap();
        let env = Envelope::new("shop", "shop.order.paid", payload.clone());
        ctx.outbox.publish(&mut tx, &env).await.unwrap();
        tx.commit().await.unwrap();
    }
    ctx.outbox.wake();
}

#[tokio::test]
async fn events_are_applied_exactly_once_even_when_redelivered() {
    for backend in backends() {
        let p = pair(&backend, Arc::new(EmbeddedBroker::default())).await;
        publish(&p.publisher, 50, json!({"order": 1})).await;
        count_reaches(&p.consumer, "SELECT COUNT(*) FROM effects", 50).await;
        count_reaches(
            &p.publisher,
            "SELECT COUNT(*) FROM outbox WHERE sent_at IS NULL",
            0,
        )
        .await;

        // As if the relay had crashed before marking them sent.
        sqlx::query("UPDATE outbox SET sent_at = NULL")
            .execute(p.publisher.db().pool())
            .await
            .unwrap();
        p.publisher.outbox.wake();
        count_reaches(
            &p.publisher,
            "SELECT COUNT(*) FROM outbox WHERE sent_at IS NULL",
            0,
        )
        .await;
        assert_eq!(
            scalar(&p.consumer, "SELECT COUNT(*) FROM effects").await,
            50,
            "{}",
            backend.name()
        );
        assert_eq!(
            scalar(&p.consumer, "SELECT COUNT(*) FROM processed_events").await,
            50
        );
    }
}

#[tokio::test]
async fn a_broker_outage_loses_nothing() {
    for backend in backends() {
        let broker = Arc::new(Unpluggable::default());
        broker.down.store(true, Ordering::SeqCst);
        let p = pair(&backend, broker.clone()).await;
        publish(&p.publisher, 1000, json!({"order": 2})).await;
        // Let the relay try (and fail) a few times.
        tokio::time::sleep(Duration::from_millis(300)).await;
        assert_eq!(
            scalar(
                &p.publisher,
                "SELECT COUNT(*) FROM outbox WHERE sent_at IS NULL"
            )
            .await,
            1000
        );
        assert_eq!(scalar(&p.consumer, "SELECT COUNT(*) FROM effects").await, 0);

        broker.down.store(false, Ordering::SeqCst);
        p.publisher.outbox.wake();
        count_reaches(&p.consumer, "SELECT COUNT(*) FROM effects", 1000).await;
        count_reaches(
            &p.publisher,
            "SELECT COUNT(*) FROM outbox WHERE sent_at IS NULL",
            0,
        )
        .await;
    }
}

#[tokio::test]
async fn a_poison_event_is_dead_lettered_and_the_rest_keep_flowing() {
    for backend in backends() {
        let p = pair(&backend, Arc::new(EmbeddedBroker::default())).await;
        publish(&p.publisher, 3, json!({"order": 3})).await;
        publish(&p.publisher, 1, json!({"poison": true})).await;
        publish(&p.publisher, 3, json!({"order": 4})).await;
        count_reaches(&p.consumer, "SELECT COUNT(*) FROM effects", 6).await;
        count_reaches(
            &p.consumer,
            "SELECT COUNT(*) FROM dead_letters WHERE queue = 'accounting'",
            1,
        )
        .await;
        let error: String = sqlx::query_scalar("SELECT error FROM dead_letters")
            .fetch_one(p.consumer.db().pool())
            .await
            .unwrap();
        assert!(error.contains("poison"), "{error}");
    }
}

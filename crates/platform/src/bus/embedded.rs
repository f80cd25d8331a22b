//! The in-process broker of `marimo up`.
//!
//! It keeps no messages of its own: the publisher's outbox is the durable
//! queue. The relay hands a batch to [`EmbeddedBroker::publish`], which
//! delivers each event to every matching subscription before confirming
//! it, so an event is marked sent only once every consumer has applied it
//! (or dead-lettered it). A crash in between means redelivery on restart,
//! which the consumers' processed-events records make harmless.

use std::time::Duration;

use tokio::sync::RwLock;

use super::{
    BoxFuture, Broker, BusError, Envelope, HandlerError, PublishOutcome, Subscription, topic,
};

/// Attempts per event and subscription before it is dead-lettered.
pub const MAX_ATTEMPTS: u32 = 5;
const FIRST_BACKOFF: Duration = Duration::from_millis(50);

#[derive(Default)]
pub struct EmbeddedBroker {
    subs: RwLock<Vec<Subscription>>,
}

impl EmbeddedBroker {
    async fn deliver(sub: &Subscription, env: &Envelope) -> Result<(), BusError> {
        let mut backoff = FIRST_BACKOFF;
        let mut attempt = 1;
        let error = loop {
            match (sub.handler)(env.clone()).await {
                Ok(()) => return Ok(()),
                Err(HandlerError::Transient(e)) if attempt < MAX_ATTEMPTS => {
                    tracing::warn!(queue = %sub.queue, event = %env.id, attempt, error = %e, "handler failed, retrying");
                    tokio::time::sleep(backoff).await;
                    backoff *= 2;
                    attempt += 1;
                }
                Err(e) => break e,
            }
        };
        let Some(db) = &sub.db else {
            tracing::error!(queue = %sub.queue, event = %env.id, attempts = attempt, error = %error, "stateless consumer failed; event skipped");
            return Ok(());
        };
        tracing::error!(queue = %sub.queue, event = %env.id, attempts = attempt, error = %error, "dead-lettering event");
        sqlx::query(
            "INSERT INTO dead_letters (queue, event_id, event_type, envelope, error, attempts, failed_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7)
             ON CONFLICT (queue, event_id) DO UPDATE SET error = excluded.error, attempts = excluded.attempts, failed_at = excluded.failed_at",
        )
        .bind(&sub.queue)
        .bind(&env.id)
        .bind(&env.event_type)
        .bind(serde_json::to_string(env).expect("envelope serialises"))
        .bind(error.to_string())
        .bind(i64::from(attempt))
        .bind(crate::clock::now_text())
        .execute(db.pool())
        .await?;
        Ok(())
    }
}

impl Broker for EmbeddedBroker {
    fn name(&self) -> &'static str {
        "embedded"
    }

    fn publish<'a>(&'a self, events: &'a [Envelope]) -> BoxFuture<'a, PublishOutcome> {
        Box::pin(async move {
            let subs = self.subs.read().await.clone();
            for (i, env) in events.iter().enumerate() {
                for sub in subs.iter().filter(|s| {
                    s.bindings
                        .iter()
                        .any(|b| topic::matches(b, &env.event_type))
                }) {
                    if let Err(error) = Self::deliver(sub, env).await {
                        return PublishOutcome {
                            confirmed: i,
                            error: Some(error),
                        };
                    }
                }
            }
            PublishOutcome {
                confirmed: events.len(),
                error: None,
            }
        })
    }

    fn dead_letter_count<'a>(
        &'a self,
        queue: &'a str,
        db: Option<&'a crate::db::Db>,
    ) -> BoxFuture<'a, Result<Option<u64>, BusError>> {
        Box::pin(async move {
            let Some(db) = db else { return Ok(None) };
            let n: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM dead_letters WHERE queue = $1")
                .bind(queue)
                .fetch_one(db.pool())
                .await?;
            Ok(Some(u64::try_from(n).unwrap_or(0)))
        })
    }

    fn subscribe(&self, sub: Subscription) -> BoxFuture<'_, Result<(), BusError>> {
        Box::pin(async move {
            let mut subs = self.subs.write().await;
            // A queue has one consumer group: re-subscribing replaces it.
            subs.retain(|s| s.queue != sub.queue);
            subs.push(sub);
            Ok(())
        })
    }
}

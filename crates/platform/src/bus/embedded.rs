//! The in-process broker of `marimo up`.
//!
//! It keeps no messages of its own: the publisher's outbox is the durable
//! queue. The relay hands a batch to [`EmbeddedBroker::publish`], which
//! delivers each event to every matching subscription before confirming
//! it, so an event is marked sent only once every consumer has applied it
//! (or dead-lettered it). A crash in between means redelivery on restart,
//! which the consumers' processed-events records make harmless.
//!
//! Failures follow the consumers' retry policy ([`super::retry`]): while a
//! consumer's dependency is down the delivery waits (the consumer is
//! paused), and with it the publisher's relay: the events behind it stay
//! in the outbox, in order, until the consumer recovers.

use std::sync::Arc;

use tokio::sync::RwLock;
use tokio_util::sync::CancellationToken;

use super::{
    BoxFuture, Broker, BusError, Envelope, PublishOutcome, Subscription,
    retry::{Outcome, Retrier},
    topic,
};

#[derive(Default)]
pub struct EmbeddedBroker {
    subs: RwLock<Vec<Entry>>,
}

#[derive(Clone)]
struct Entry {
    sub: Subscription,
    retrier: Arc<Retrier>,
}

impl EmbeddedBroker {
    /// Hands `env` to one subscription under the retry policy
    /// ([`super::retry`]): a transient failure holds the delivery — and so
    /// the publisher's relay — until the consumer recovers; an event given
    /// up on is stored in the consumer's `dead_letters` before it is
    /// confirmed. (Delivery stops when the relay's round is dropped at
    /// shutdown; the event then stays unsent.)
    async fn deliver(entry: &Entry, env: &Envelope) -> Result<(), BusError> {
        let sub = &entry.sub;
        let never = CancellationToken::new();
        let (reason, error, attempts, first_failed_at) =
            match entry.retrier.handle(&sub.handler, env, &never).await {
                Outcome::Applied => return Ok(()),
                Outcome::Stopped => {
                    return Err(BusError::Unavailable("consumer stopped".into()));
                }
                Outcome::GiveUp {
                    reason,
                    error,
                    attempts,
                    first_failed_at,
                } => (reason, error, attempts, first_failed_at),
            };
        let Some(db) = &sub.db else {
            tracing::error!(queue = %sub.queue, event = %env.id, attempts, reason, %error, "stateless consumer failed; event skipped");
            return Ok(());
        };
        tracing::error!(queue = %sub.queue, event = %env.id, attempts, reason, %error, "dead-lettering event");
        let envelope = serde_json::to_string(env)
            .map_err(|e| BusError::Refused(format!("event {}: {e}", env.id)))?;
        // The first failure's time and reason stay if it was dead-lettered
        // before (redelivered meanwhile).
        sqlx::query(
            "INSERT INTO dead_letters (queue, event_id, event_type, envelope, error, attempts, failed_at, reason)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
             ON CONFLICT (queue, event_id) DO UPDATE SET error = excluded.error, attempts = dead_letters.attempts + excluded.attempts",
        )
        .bind(&sub.queue)
        .bind(&env.id)
        .bind(&env.event_type)
        .bind(envelope)
        .bind(&error)
        .bind(i64::from(attempts))
        .bind(first_failed_at)
        .bind(reason)
        .execute(db.pool())
        .await?;
        entry.retrier.dead_lettered(reason);
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
                for entry in subs.iter().filter(|e| {
                    e.sub
                        .bindings
                        .iter()
                        .any(|b| topic::matches(b, &env.event_type))
                }) {
                    if let Err(error) = Self::deliver(entry, env).await {
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
            // Pausing a consumer without a database would hold up the
            // publisher's whole outbox (see `retry`).
            let retrier = Arc::new(Retrier::new(&sub, sub.db.is_some()));
            let mut subs = self.subs.write().await;
            // A queue has one consumer group: re-subscribing replaces it.
            subs.retain(|e| e.sub.queue != sub.queue);
            subs.push(Entry { sub, retrier });
            Ok(())
        })
    }
}

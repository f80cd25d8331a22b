//! Publishing: an outbox row written in the caller's transaction.

use std::sync::Arc;

use sqlx::{Any, Transaction};
use tokio::sync::Notify;

use super::Envelope;

/// A service's outbox. Cheap to clone.
#[derive(Clone, Debug, Default)]
pub struct Outbox {
    wake: Arc<Notify>,
}

impl Outbox {
    /// Writes `event` into the outbox within `tx`: it is relayed if and
    /// only if `tx` commits.
    pub async fn publish(
        &self,
        tx: &mut Transaction<'_, Any>,
        event: &Envelope,
    ) -> Result<(), sqlx::Error> {
        let json = serde_json::to_string(event).expect("an envelope always serialises");
        sqlx::query("INSERT INTO outbox (id, event_type, envelope, created_at, attempts) VALUES ($1, $2, $3, $4, 0)")
            .bind(&event.id)
            .bind(&event.event_type)
            .bind(json)
            .bind(&event.occurred_at)
            .execute(&mut **tx)
            .await?;
        Ok(())
    }

    /// Tells the relay there is something to send (call after commit);
    /// without it the relay still finds the row at its next poll.
    pub fn wake(&self) {
        self.wake.notify_one();
    }

    pub(super) async fn woken(&self) {
        self.wake.notified().await;
    }
}

//! Publishing: an outbox row written in the caller's transaction.

use std::sync::Arc;

use tokio::sync::Notify;

use super::Envelope;
use crate::{
    db::Tx,
    telemetry::trace::{self, SpanKind},
};

/// A service's outbox. Cheap to clone.
#[derive(Clone, Debug, Default)]
pub struct Outbox {
    wake: Arc<Notify>,
}

impl Outbox {
    /// Writes `event` into the outbox within `tx`: it is relayed if and
    /// only if `tx` commits. An event published in a tenant's transaction
    /// ([`crate::db::Db::tenant`]) carries that tenant.
    ///
    /// Inside a traced request or event this is a producer span
    /// (`<type> publish`), and the envelope's `traceparent` is set to it
    /// (unless the caller set one), so the consumers continue the trace.
    pub async fn publish(&self, tx: &mut Tx, event: &Envelope) -> Result<(), sqlx::Error> {
        let mut span = trace::current_tracer()
            .and_then(|t| t.child(format!("{} publish", event.event_type), SpanKind::Producer));
        let mut stamped = None::<Envelope>;
        if let Some(tenant) = tx.tenant()
            && *tenant != event.tenant
        {
            let copy = stamped.get_or_insert_with(|| event.clone());
            copy.tenant = tenant.clone();
        }
        if let Some(span) = &mut span {
            span.set_attribute("messaging.system", "marimo");
            span.set_attribute("messaging.operation.type", "publish");
            span.set_attribute("messaging.destination.name", event.event_type.clone());
            span.set_attribute("messaging.message.id", event.id.clone());
            if event.traceparent.is_none() {
                let copy = stamped.get_or_insert_with(|| event.clone());
                copy.traceparent = Some(span.context().traceparent());
            }
        }
        let event = stamped.as_ref().unwrap_or(event);
        let json = serde_json::to_string(event).expect("an envelope always serialises");
        sqlx::query("INSERT INTO outbox (id, event_type, envelope, created_at, attempts) VALUES ($1, $2, $3, $4, 0)")
            .bind(&event.id)
            .bind(&event.event_type)
            .bind(json)
            .bind(&event.occurred_at)
            .execute(&mut **tx)
            .await
            .inspect_err(|e| {
                if let Some(span) = &mut span {
                    span.set_error(e.to_string());
                }
            })?;
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

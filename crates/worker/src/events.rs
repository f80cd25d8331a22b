//! The worker's four consumers. Each applies an event exactly once: its
//! effect (a mail row, an audit row, notification rows, delivery rows) is
//! written in the transaction that records the event as processed for that
//! queue ([`inbox::begin_in`]), so a redelivered event changes nothing. Every
//! consumer acts in the event's tenant (`env.tenant`): its rows are that
//! tenant's, and a tenant's webhooks match only that tenant's events. The
//! slow, failure-prone side effects (SMTP, HTTP) are not done here but by
//! the sender loops, which read those rows; a consumer only wakes them.
//!
//! Failures are classified for the bus's retry policy: a payload this
//! worker cannot read (another version, a malformed one) is permanent and
//! dead-lettered at once; database trouble is transient (`?` on a
//! `sqlx::Error` classifies it): the queue pauses until it passes, so no
//! mail, audit row or notification is lost to an outage.

use std::sync::Arc;

use marimo_platform::{
    bus::{BusError, Envelope, HandlerError, inbox},
    clock,
    db::Db,
    ids,
    service::ServiceContext,
    telemetry::Metrics,
};
use tokio::sync::Notify;

use crate::{
    domain::{
        audit,
        event::{Event, SUPPORTED_VERSION},
        mail, notify, webhook,
    },
    store,
};

pub const EMAIL_QUEUE: &str = "email_queue";
pub const AUDIT_QUEUE: &str = "audit_queue";
pub const NOTIFICATION_QUEUE: &str = "notification_queue";
pub const EVENTS_QUEUE: &str = "events_queue";

/// What the consumers share with the sender loops.
#[derive(Clone)]
pub struct Shared {
    pub db: Db,
    pub metrics: Metrics,
    /// Wakes the mail sender when a mail was stored.
    pub mail_wake: Arc<Notify>,
    /// Wakes the webhook sender when deliveries were stored.
    pub hook_wake: Arc<Notify>,
}

/// Subscribes the four queues on the process's bus.
pub async fn subscribe(ctx: &ServiceContext, shared: &Shared) -> Result<(), BusError> {
    let db = &shared.db;
    let s = shared.clone();
    ctx.bus
        .subscribe(db, EMAIL_QUEUE, &mail::BINDINGS, move |env| {
            let s = s.clone();
            async move { s.counted(EMAIL_QUEUE, &env, email(&s, &env).await) }
        })
        .await?;
    let s = shared.clone();
    ctx.bus
        .subscribe(db, AUDIT_QUEUE, &["#"], move |env| {
            let s = s.clone();
            async move { s.counted(AUDIT_QUEUE, &env, audit(&s, &env).await) }
        })
        .await?;
    let s = shared.clone();
    ctx.bus
        .subscribe(db, NOTIFICATION_QUEUE, &notify::BINDINGS, move |env| {
            let s = s.clone();
            async move { s.counted(NOTIFICATION_QUEUE, &env, notifications(&s, &env).await) }
        })
        .await?;
    let s = shared.clone();
    ctx.bus
        .subscribe(db, EVENTS_QUEUE, &["#"], move |env| {
            let s = s.clone();
            async move { s.counted(EVENTS_QUEUE, &env, webhooks(&s, &env).await) }
        })
        .await?;
    Ok(())
}

impl Shared {
    /// Notes a failed handler call (debug: the bus logs a paused queue
    /// once and a dead letter once, not every attempt) and passes the
    /// outcome on (the bus counts `events_consumed_total` /
    /// `events_failed_total` itself).
    fn counted(
        &self,
        queue: &'static str,
        env: &Envelope,
        result: Result<(), HandlerError>,
    ) -> Result<(), HandlerError> {
        if let Err(e) = &result {
            tracing::debug!(queue, event = %env.id, r#type = %env.event_type, class = e.class(), error = %e, "event not applied");
        }
        result
    }
}

/// The email and notification consumers act on payloads they understand;
/// another version of a type they are bound to is dead-lettered (kept for a
/// replay once this worker learns it) rather than silently dropped.
fn understood(env: &Envelope) -> Result<Event, HandlerError> {
    if env.version != SUPPORTED_VERSION {
        return Err(HandlerError::Permanent(format!(
            "{} v{} is not understood (this worker reads v{SUPPORTED_VERSION})",
            env.event_type, env.version
        )));
    }
    Event::parse(env)
}

async fn email(s: &Shared, env: &Envelope) -> Result<(), HandlerError> {
    let event = understood(env)?;
    let Some(draft) = mail::draft(&event).map_err(HandlerError::Permanent)? else {
        return Ok(());
    };
    let Some(mut tx) = inbox::begin_in(&s.db.tenant(&env.tenant), EMAIL_QUEUE, &env.id).await?
    else {
        return Ok(());
    };
    store::mail::insert(
        &mut *tx,
        &env.tenant,
        &ids::new_id(),
        &env.id,
        &draft,
        &clock::now_text(),
    )
    .await?;
    tx.commit().await?;
    s.mail_wake.notify_one();
    Ok(())
}

async fn audit(s: &Shared, env: &Envelope) -> Result<(), HandlerError> {
    // Unknown types and versions are recorded too, without a target.
    let event = Event::parse(env)?;
    let record = audit::record(env, &event);
    let Some(mut tx) = inbox::begin_in(&s.db.tenant(&env.tenant), AUDIT_QUEUE, &env.id).await?
    else {
        return Ok(());
    };
    store::audit::insert(
        &mut *tx,
        &env.tenant,
        &ids::new_id(),
        &record,
        &clock::now_text(),
    )
    .await?;
    tx.commit().await?;
    Ok(())
}

async fn notifications(s: &Shared, env: &Envelope) -> Result<(), HandlerError> {
    let event = understood(env)?;
    let drafts = notify::drafts(&event);
    if drafts.is_empty() {
        return Ok(());
    }
    let Some(mut tx) =
        inbox::begin_in(&s.db.tenant(&env.tenant), NOTIFICATION_QUEUE, &env.id).await?
    else {
        return Ok(());
    };
    let now = clock::now_text();
    for d in &drafts {
        store::notifications::insert(&mut *tx, &env.tenant, &ids::new_id(), &env.id, d, &now)
            .await?;
    }
    tx.commit().await?;
    Ok(())
}

async fn webhooks(s: &Shared, env: &Envelope) -> Result<(), HandlerError> {
    // Most events match no webhook: find out without a write transaction.
    let wanted = |hooks: Vec<(String, Vec<String>)>| -> Vec<String> {
        hooks
            .into_iter()
            .filter(|(_, patterns)| webhook::wants(patterns, &env.event_type))
            .map(|(id, _)| id)
            .collect()
    };
    let probe = {
        let mut tx = s.db.tenant(&env.tenant).read().await?;
        store::webhooks::live_patterns(&mut *tx, &env.tenant).await?
    };
    if wanted(probe).is_empty() {
        return Ok(());
    }
    // The exact bytes every attempt will POST (and sign).
    let body = serde_json::to_string(env)
        .map_err(|e| HandlerError::Permanent(format!("envelope does not serialise: {e}")))?;
    let Some(mut tx) = inbox::begin_in(&s.db.tenant(&env.tenant), EVENTS_QUEUE, &env.id).await?
    else {
        return Ok(());
    };
    // Matched again inside the transaction: a webhook deleted meanwhile
    // gets nothing.
    let hooks = wanted(store::webhooks::live_patterns(&mut *tx, &env.tenant).await?);
    let now = clock::now_text();
    for hook in &hooks {
        let id = ids::new_id();
        store::webhooks::insert_delivery(
            &mut *tx,
            &store::webhooks::NewDelivery {
                tenant: &env.tenant,
                id: &id,
                webhook_id: hook,
                event_id: &env.id,
                event_type: &env.event_type,
                payload: &body,
                now: &now,
            },
        )
        .await?;
    }
    tx.commit().await?;
    if !hooks.is_empty() {
        s.hook_wake.notify_one();
    }
    Ok(())
}

//! Response views: audit entries, notifications, webhooks with their
//! deliveries and attempts, and the summary, as the API has always shown
//! them; dead letters and their queues. The store's read models carry no
//! JSON.

use marimo_platform::bus::dlq::{DeadLetter, QueueDepth};
use serde_json::{Value, json};

use crate::store::{
    audit::Entry,
    notifications::Notification,
    summary::Summary,
    webhooks::{Attempt, Delivery, Webhook},
};

pub(crate) fn audit_entry(e: &Entry) -> Value {
    json!({
        "id": e.id,
        "event_id": e.event_id,
        "occurred_at": e.occurred_at,
        "recorded_at": e.recorded_at,
        "source": e.source,
        "actor": e.actor,
        "action": e.action,
        "target": e.target,
        "client_ip": e.client_ip,
        "request_id": e.request_id,
        "details": e.details,
    })
}

pub(crate) fn notification(n: &Notification) -> Value {
    json!({
        "id": n.id,
        "kind": n.kind,
        "title": n.title,
        "body": n.body,
        "created_at": n.created_at,
        "audience_role": n.audience_role,
        "read": n.read,
        "read_at": n.read_at,
    })
}

/// Never the secret: it is accepted at registration and not shown again.
pub(crate) fn webhook(w: &Webhook) -> Value {
    json!({
        "id": w.id,
        "url": w.url,
        "event_types": w.event_types,
        "created_by": w.created_by,
        "created_at": w.created_at,
    })
}

fn attempt(a: &Attempt) -> Value {
    json!({
        "attempt": a.attempt,
        "at": a.at,
        "status_code": a.status_code,
        "error": a.error,
        "duration_ms": a.duration_ms,
    })
}

pub(crate) fn delivery(d: &Delivery) -> Value {
    json!({
        "id": d.id,
        "event_id": d.event_id,
        "event_type": d.event_type,
        "status": d.status,
        "attempt_count": d.attempt_count,
        "next_attempt_at": d.next_attempt_at,
        "last_status_code": d.last_status_code,
        "last_error": d.last_error,
        "created_at": d.created_at,
        "delivered_at": d.delivered_at,
        "attempts": d.attempts.iter().map(attempt).collect::<Vec<_>>(),
    })
}

pub(crate) fn summary(s: &Summary) -> Value {
    json!({
        "mail": {
            "pending": s.mail.pending,
            "failed": s.mail.failed,
            "sent": s.mail.sent,
        },
        "webhook_deliveries": {
            "pending": s.webhook_deliveries.pending,
            "failed": s.webhook_deliveries.failed,
            "delivered": s.webhook_deliveries.delivered,
        },
        "audit_entries": s.audit_entries,
        "dead_letters": s.dead_letters,
    })
}

pub(crate) fn queue_depth(q: &QueueDepth) -> Value {
    json!({"queue": q.queue, "depth": q.depth})
}

/// `failed_at` is when the event first failed; `envelope` the whole event
/// as it will be replayed (a string when it was not JSON at all).
pub(crate) fn dead_letter(d: &DeadLetter) -> Value {
    json!({
        "event_id": d.event_id,
        "event_type": d.event_type,
        "reason": d.reason,
        "error": d.error,
        "attempts": d.attempts,
        "failed_at": d.failed_at,
        "envelope": d.envelope,
    })
}

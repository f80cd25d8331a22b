//! Response views: audit entries, notifications, webhooks with their
//! deliveries and attempts, the summary, and dead letters with their
//! queues, as typed structs (each a schema of the OpenAPI document) in the
//! shape the API has always shown. The store's read models carry no JSON.

use marimo_platform::{
    bus::dlq::{DeadLetter, QueueDepth},
    openapi::PageFields,
};
use serde::Serialize;
use serde_json::Value;
use utoipa::ToSchema;

use crate::store::{
    audit::Entry,
    notifications::Notification,
    summary::Summary,
    webhooks::{Attempt, Delivery, Webhook},
};

/// An entry of the audit log: who did what to what, from an event.
#[derive(Debug, Serialize, ToSchema)]
#[schema(example = json!({"id": "0192f1c4-7c3e-7d2a-9c1e-2b9d2b7e4a10", "event_id": "0192f1c4-7c3e-7d2a-9c1e-2b9d2b7e4a11", "occurred_at": "2026-12-01T09:00:00.000000Z", "recorded_at": "2026-12-01T09:00:00.120000Z", "source": "users", "actor": "0192f1c4-0000-7000-8000-000000000001", "action": "users.role_changed", "target": "0192f1c4-0000-7000-8000-000000000002", "client_ip": "203.0.113.7", "request_id": "0192f1c4-7c3e-7d2a-9c1e-2b9d2b7e4a12", "details": {"role": "manager"}}))]
pub(crate) struct AuditEntryView {
    pub id: String,
    /// The event it records (each event is recorded once).
    pub event_id: String,
    /// When it happened, RFC 3339 UTC.
    pub occurred_at: String,
    /// When the worker recorded it.
    pub recorded_at: String,
    /// The publishing service.
    pub source: String,
    /// The user who did it, if a user did.
    pub actor: Option<String>,
    /// The event type (`shop.order.placed`, `users.role_changed`, ...).
    pub action: String,
    /// What it was done to, if anything.
    pub target: Option<String>,
    pub client_ip: Option<String>,
    pub request_id: Option<String>,
    /// The event's own fields (without secrets): an object, or the
    /// stored text when it was not JSON.
    pub details: Value,
}

pub(crate) fn audit_entry(e: &Entry) -> AuditEntryView {
    AuditEntryView {
        id: e.id.clone(),
        event_id: e.event_id.clone(),
        occurred_at: e.occurred_at.clone(),
        recorded_at: e.recorded_at.clone(),
        source: e.source.clone(),
        actor: e.actor.clone(),
        action: e.action.clone(),
        target: e.target.clone(),
        client_ip: e.client_ip.clone(),
        request_id: e.request_id.clone(),
        details: e.details.clone(),
    }
}

/// A notification for a user, or for everyone of a role.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct NotificationView {
    pub id: String,
    /// What it is about (`order.paid`, `stock.low`, `work_order.released`,
    /// ...).
    pub kind: String,
    pub title: String,
    pub body: String,
    /// RFC 3339, UTC.
    pub created_at: String,
    /// The role it is for; `null` when it is for the caller alone.
    pub audience_role: Option<String>,
    pub read: bool,
    pub read_at: Option<String>,
}

pub(crate) fn notification(n: &Notification) -> NotificationView {
    NotificationView {
        id: n.id.clone(),
        kind: n.kind.clone(),
        title: n.title.clone(),
        body: n.body.clone(),
        created_at: n.created_at.clone(),
        audience_role: n.audience_role.clone(),
        read: n.read,
        read_at: n.read_at.clone(),
    }
}

/// A webhook. Never the secret: it is accepted at registration and not
/// shown again.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct WebhookView {
    pub id: String,
    pub url: String,
    /// The event types it receives.
    pub event_types: Vec<String>,
    pub created_by: Option<String>,
    /// RFC 3339, UTC.
    pub created_at: String,
}

pub(crate) fn webhook(w: &Webhook) -> WebhookView {
    WebhookView {
        id: w.id.clone(),
        url: w.url.clone(),
        event_types: w.event_types.clone(),
        created_by: w.created_by.clone(),
        created_at: w.created_at.clone(),
    }
}

/// One try of a delivery.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct AttemptView {
    /// From 1.
    pub attempt: i64,
    /// RFC 3339, UTC.
    pub at: String,
    /// The receiver's HTTP status, if it answered.
    pub status_code: Option<i64>,
    pub error: Option<String>,
    pub duration_ms: i64,
}

fn attempt(a: &Attempt) -> AttemptView {
    AttemptView {
        attempt: a.attempt,
        at: a.at.clone(),
        status_code: a.status_code,
        error: a.error.clone(),
        duration_ms: a.duration_ms,
    }
}

/// An event's delivery to a webhook, with its attempts.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct DeliveryView {
    pub id: String,
    pub event_id: String,
    pub event_type: String,
    /// `pending`, `delivered` or `failed`.
    pub status: String,
    pub attempt_count: i64,
    /// When it is tried again, while pending.
    pub next_attempt_at: Option<String>,
    pub last_status_code: Option<i64>,
    pub last_error: Option<String>,
    pub created_at: String,
    pub delivered_at: Option<String>,
    pub attempts: Vec<AttemptView>,
}

pub(crate) fn delivery(d: &Delivery) -> DeliveryView {
    DeliveryView {
        id: d.id.clone(),
        event_id: d.event_id.clone(),
        event_type: d.event_type.clone(),
        status: d.status.clone(),
        attempt_count: d.attempt_count,
        next_attempt_at: d.next_attempt_at.clone(),
        last_status_code: d.last_status_code,
        last_error: d.last_error.clone(),
        created_at: d.created_at.clone(),
        delivered_at: d.delivered_at.clone(),
        attempts: d.attempts.iter().map(attempt).collect(),
    }
}

/// Mails by state.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct MailCountsView {
    pub pending: i64,
    pub failed: i64,
    pub sent: i64,
}

/// Webhook deliveries by state.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct DeliveryCountsView {
    pub pending: i64,
    pub failed: i64,
    pub delivered: i64,
}

/// The worker's backlog and failures.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct SummaryView {
    pub mail: MailCountsView,
    pub webhook_deliveries: DeliveryCountsView,
    pub audit_entries: i64,
    /// Messages no consumer could handle.
    pub dead_letters: i64,
}

pub(crate) fn summary(s: &Summary) -> SummaryView {
    SummaryView {
        mail: MailCountsView {
            pending: s.mail.pending,
            failed: s.mail.failed,
            sent: s.mail.sent,
        },
        webhook_deliveries: DeliveryCountsView {
            pending: s.webhook_deliveries.pending,
            failed: s.webhook_deliveries.failed,
            delivered: s.webhook_deliveries.delivered,
        },
        audit_entries: s.audit_entries,
        dead_letters: s.dead_letters,
    }
}

// ------------------------------------------------------------ answers

/// `{success, entries, total, page, limit}`.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct AuditPage {
    pub success: bool,
    pub entries: Vec<AuditEntryView>,
    #[serde(flatten)]
    pub page: PageFields,
}

/// `{success, notifications, unread_count, total, page, limit}`.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct NotificationPage {
    pub success: bool,
    pub notifications: Vec<NotificationView>,
    /// Unread over every page.
    pub unread_count: i64,
    #[serde(flatten)]
    pub page: PageFields,
}

/// `{success, id, read: true}`.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct MarkedRead {
    pub success: bool,
    pub id: String,
    /// Always `true`.
    pub read: bool,
}

/// `{success, marked}`.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct MarkedAllRead {
    pub success: bool,
    /// How many were unread and are now read.
    pub marked: u64,
}

/// `{success, summary}`.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct SummaryAnswer {
    pub success: bool,
    pub summary: SummaryView,
}

/// `{success, webhook}`.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct WebhookAnswer {
    pub success: bool,
    pub webhook: WebhookView,
}

/// `{success, webhooks}`.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct WebhookList {
    pub success: bool,
    pub webhooks: Vec<WebhookView>,
}

/// `{success, deliveries, total, page, limit}`.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct DeliveryPage {
    pub success: bool,
    pub deliveries: Vec<DeliveryView>,
    #[serde(flatten)]
    pub page: PageFields,
}

/// A queue and how many dead letters it holds.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct QueueDepthView {
    pub queue: String,
    pub depth: u64,
}

pub(crate) fn queue_depth(q: &QueueDepth) -> QueueDepthView {
    QueueDepthView {
        queue: q.queue.clone(),
        depth: q.depth,
    }
}

/// An event a consumer gave up on.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct DeadLetterView {
    /// The tenant the event belongs to (dead letters are shown to
    /// operators across tenants); `default` for events from before
    /// tenancy.
    pub tenant: String,
    pub event_id: String,
    pub event_type: String,
    /// Why it was given up on: `permanent` (it can never succeed),
    /// `deferred` (its retries ran out), `unparseable` (not an event), or
    /// the broker's own reason.
    pub reason: String,
    /// The consumer's error, e.g. `PERIOD_CLOSED: ...`.
    pub error: String,
    /// Attempts made before giving up.
    pub attempts: i64,
    /// When it first failed (RFC 3339), empty when unknown.
    pub failed_at: String,
    /// The whole event as it will be replayed (a string when it was not
    /// JSON at all).
    #[schema(value_type = Object)]
    pub envelope: Value,
}

pub(crate) fn dead_letter(d: &DeadLetter) -> DeadLetterView {
    DeadLetterView {
        tenant: d
            .envelope
            .get("tenant")
            .and_then(Value::as_str)
            .unwrap_or(marimo_platform::tenant::TenantId::DEFAULT)
            .to_owned(),
        event_id: d.event_id.clone(),
        event_type: d.event_type.clone(),
        reason: d.reason.clone(),
        error: d.error.clone(),
        attempts: d.attempts,
        failed_at: d.failed_at.clone(),
        envelope: d.envelope.clone(),
    }
}

/// `{success, queues, total}`.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct QueuesAnswer {
    pub success: bool,
    pub queues: Vec<QueueDepthView>,
    /// Dead letters over every queue.
    pub total: u64,
}

/// `{success, queue, dead_letters, total}`.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct DeadLettersAnswer {
    pub success: bool,
    pub queue: String,
    pub dead_letters: Vec<DeadLetterView>,
    pub total: usize,
}

/// `{success, queue, replayed}`.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct ReplayedAnswer {
    pub success: bool,
    pub queue: String,
    /// How many dead letters were sent back to be consumed again.
    pub replayed: usize,
}

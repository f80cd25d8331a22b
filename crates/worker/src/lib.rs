//! The worker service: the seed's email, audit and notification workers,
//! plus webhooks.
//!
//! Four consumers on the event bus ([`events`]), each applying an event
//! exactly once by writing its effect in the transaction that records the
//! event as processed:
//!
//! - `email_queue` → a row in `outgoing_mail`; the mail sender loop
//!   ([`app::mail`]) sends it over SMTP (`SMTP_URL`) or writes an `.eml` file
//!   under `<data dir>/mail/`, retrying with backoff.
//! - `audit_queue` (`#`) → a row in `audit_log`, append-only in the
//!   database too (triggers refuse UPDATE and DELETE).
//! - `notification_queue` → in-app notifications for a user or a role.
//! - `events_queue` (`#`) → a delivery per matching webhook; the delivery
//!   loop ([`app::webhooks`]) POSTs it signed, retrying with backoff.
//!
//! Its API also shows operators every queue's dead letters and replays
//! them ([`app::dead_letters`], on either broker).
//!
//! Layout: [`domain`] pure rules, `store` SQL, [`app`] the sender loops,
//! [`events`] the consumers, `api` HTTP handlers and their response views,
//! [`error`] the crate's one error type.

use std::time::Duration;

use axum::Router;
use marimo_platform::{
    http::ServiceApp,
    service::{ServiceContext, StartError},
};

// utoipa's macros expand to fully qualified paths of the types named in
// them, which the workspace's `unused_qualifications` lint would flag.
#[allow(unused_qualifications)]
mod api;
pub mod app;
pub mod domain;
pub mod error;
pub mod events;
mod store;

pub use error::WorkerError;

use domain::Backoff;

/// Retry schedules, polling and timeouts of the sender loops. The defaults
/// suit production; tests shorten the waits.
#[derive(Debug, Clone)]
pub struct WorkerTuning {
    /// Mail retries: 30 s doubling to at most 1 h, 10 attempts (~5 h).
    pub mail_retry: Backoff,
    /// Webhook retries: 1 s doubling to at most 10 min, 8 attempts.
    pub webhook_retry: Backoff,
    /// How often the loops look for retries that came due (new work wakes
    /// them at once).
    pub poll_interval: Duration,
    /// How long a claimed row is reserved for the attempt in progress;
    /// longer than any attempt can take, so no other replica sends it
    /// meanwhile, short enough that a crashed attempt is retried soon.
    pub mail_lease: Duration,
    pub webhook_lease: Duration,
    /// Per SMTP command.
    pub smtp_timeout: Duration,
    /// Per webhook request (connect + answer).
    pub webhook_timeout: Duration,
    /// The `From` of every mail.
    pub mail_from: String,
}

impl Default for WorkerTuning {
    fn default() -> Self {
        Self {
            mail_retry: Backoff {
                base: Duration::from_secs(30),
                factor: 2,
                cap: Duration::from_secs(3600),
                max_attempts: 10,
            },
            webhook_retry: Backoff {
                base: Duration::from_secs(1),
                factor: 2,
                cap: Duration::from_secs(600),
                max_attempts: 8,
            },
            poll_interval: Duration::from_secs(1),
            mail_lease: Duration::from_secs(300),
            webhook_lease: Duration::from_secs(60),
            smtp_timeout: Duration::from_secs(30),
            webhook_timeout: Duration::from_secs(5),
            mail_from: "Marimo ERP <no-reply@marimo-erp.local>".to_owned(),
        }
    }
}

/// How long an `Idempotency-Key` is remembered (the platform's layer
/// covers every mutating endpoint of a signed-in caller).
const IDEMPOTENCY_TTL: Duration = Duration::from_secs(24 * 3600);

/// Builds the worker with the default [`WorkerTuning`].
pub async fn router(ctx: ServiceContext) -> Result<Router, StartError> {
    router_with(ctx, WorkerTuning::default()).await
}

/// Runs migrations (and the audit triggers), starts the mail and webhook
/// loops on `ctx.tasks` (they stop on `ctx.shutdown`), subscribes the
/// consumers and returns the service's router.
pub async fn router_with(ctx: ServiceContext, tuning: WorkerTuning) -> Result<Router, StartError> {
    let db = ctx
        .db
        .clone()
        .ok_or("the worker service was started without a database")?;
    store::schema::prepare(&db).await?;

    let webhook_allow =
        domain::destination::Allowlist::parse(&ctx.settings.webhook_allowed_networks)?;
    let shared = app::start_senders(&ctx, &db, tuning, webhook_allow.clone())?;
    events::subscribe(&ctx, &shared).await?;

    let idempotency = marimo_platform::idempotency::Layer::prepare(&ctx).await?;
    marimo_platform::idempotency::spawn_purge(&ctx, db.clone(), IDEMPOTENCY_TTL);
    let dead_letters = app::dead_letters::Tool::start(&ctx, &db);
    let api = api::routes(api::AppState {
        db,
        dead_letters,
        webhook_allow,
    });
    Ok(ServiceApp::new(&ctx).idempotency(idempotency).api(api))
}

//! The worker's long-running use cases: the loops that send what the
//! consumers (`events`) stored — mails ([`mail`]) and webhook deliveries
//! ([`webhooks`]) — each retrying with backoff and safe to run on several
//! replicas (a claimed row is leased to one attempt); and the operators'
//! view of every queue's dead letters ([`dead_letters`]).

pub mod dead_letters;
pub mod mail;
pub mod webhooks;

use std::{sync::Arc, time::Duration};

use marimo_platform::{
    clock,
    db::Db,
    service::{ServiceContext, StartError},
};
use tokio::sync::Notify;

use crate::{WorkerTuning, events::Shared};

/// Builds the mail transport and the webhook client from the settings,
/// starts both sender loops on `ctx.tasks` (they stop on `ctx.shutdown`)
/// and returns what the consumers need to store work and wake them.
pub fn start_senders(
    ctx: &ServiceContext,
    db: &Db,
    tuning: WorkerTuning,
    webhook_allow: crate::domain::destination::Allowlist,
) -> Result<Shared, StartError> {
    let from: lettre::message::Mailbox = tuning
        .mail_from
        .parse()
        .map_err(|e| format!("mail sender address '{}': {e}", tuning.mail_from))?;
    let transport = mail::Transport::from_settings(&ctx.settings, tuning.smtp_timeout)?;
    let sender = webhooks::Sender::new(tuning.webhook_timeout, webhook_allow)?;

    let shared = Shared {
        db: db.clone(),
        metrics: ctx.metrics.clone(),
        mail_wake: Arc::new(Notify::new()),
        hook_wake: Arc::new(Notify::new()),
    };
    ctx.tasks.spawn(
        mail::MailSender {
            db: db.clone(),
            transport,
            from,
            tuning: tuning.clone(),
            metrics: ctx.metrics.clone(),
            wake: shared.mail_wake.clone(),
        }
        .run(ctx.shutdown.clone()),
    );
    ctx.tasks.spawn(
        webhooks::WebhookSender {
            db: db.clone(),
            sender,
            tuning,
            metrics: ctx.metrics.clone(),
            wake: shared.hook_wake.clone(),
        }
        .run(ctx.shutdown.clone()),
    );
    Ok(shared)
}

/// The storage-format time `d` from now. Waits are clamped to a year so
/// that no configured value can overflow the date arithmetic.
pub(crate) fn time_after(d: Duration) -> String {
    let d = d.min(Duration::from_secs(365 * 24 * 3600));
    clock::format(clock::now() + d)
}

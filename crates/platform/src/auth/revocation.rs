//! Per-user revocation marks: access tokens issued before their user's
//! mark are refused ([`super::jwt::JwtKeys::verify`]).
//!
//! The users service sets a mark (unix milliseconds, "not before") whenever an
//! account's sessions end early: deactivation, role change, password
//! change, sign-out everywhere. It stores the mark and publishes
//! `users.user.sessions_revoked`. Every service keeps the marks in memory:
//!
//! - **live**: each replica consumes the event on a queue of its own
//!   (`Bus::subscribe_each_instance`), so every replica learns every mark
//!   within the bus's delivery time (milliseconds in process, well under a
//!   second over RabbitMQ);
//! - **at start**: a service that starts after the event reads the current
//!   marks from the users service (`GET /internal/revocations`, outside
//!   `/api`, so never reachable through the gateway), retrying in the
//!   background until users answers.
//!
//! Marks older than the longest token lifetime could be forgotten; users
//! lists those of the last day, far beyond any access token's life.

use std::{
    collections::HashMap,
    sync::{Arc, RwLock},
    time::Duration,
};

use marimo_contracts::users::{SESSIONS_REVOKED, SessionsRevoked};
use serde::{Deserialize, Serialize};

use crate::{
    bus::{BusError, Envelope},
    client::ServiceClient,
    resilience::BreakerConfig,
    service::{ServiceContext, ServiceName},
};

/// The users service's path listing current marks.
pub const MARKS_PATH: &str = "/internal/revocations";
/// How far back the listing goes: longer than any access token lives.
pub const MARKS_WINDOW: Duration = Duration::from_secs(24 * 3600);

/// The marks: user id → not-before (unix ms). Cheap to clone; clones
/// share the map.
#[derive(Debug, Clone, Default)]
pub struct Revocations(Arc<RwLock<HashMap<String, i64>>>);

/// One mark, as listed by the users service.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Mark {
    pub user_id: String,
    /// Unix milliseconds.
    pub not_before_ms: i64,
}

impl Revocations {
    /// Records a mark; an older mark than the one held changes nothing
    /// (events may arrive out of order).
    pub fn mark(&self, user_id: &str, not_before_ms: i64) {
        let mut map = self.0.write().unwrap_or_else(|e| e.into_inner());
        let entry = map.entry(user_id.to_owned()).or_insert(not_before_ms);
        *entry = (*entry).max(not_before_ms);
    }

    pub fn not_before(&self, user_id: &str) -> Option<i64> {
        self.0
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .get(user_id)
            .copied()
    }

    pub fn len(&self) -> usize {
        self.0.read().unwrap_or_else(|e| e.into_inner()).len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// Keeps `ctx`'s marks current: subscribes this replica to
/// `users.user.sessions_revoked` and reads the marks set before it
/// started from the users service, in the background.
pub async fn follow(ctx: &ServiceContext) -> Result<(), BusError> {
    let marks = ctx.jwt.revocations().clone();
    let on_event = marks.clone();
    ctx.bus
        .subscribe_each_instance(
            &format!("{}.revocations", ctx.name),
            &[SESSIONS_REVOKED.name()],
            move |env: Envelope| {
                let marks = on_event.clone();
                async move {
                    // A payload this replica cannot read is skipped: the
                    // listing at the next start has the mark anyway.
                    match env.decode(SESSIONS_REVOKED) {
                        Ok(SessionsRevoked {
                            user_id,
                            not_before_ms,
                        }) => marks.mark(user_id.as_str(), not_before_ms),
                        Err(e) => tracing::warn!(error = %e, "unreadable revocation mark"),
                    }
                    Ok(())
                }
            },
        )
        .await?;
    let Ok(discovery) =
        crate::discovery::from_settings(&ctx.settings, &[ServiceName::Users], ctx.shutdown.clone())
    else {
        tracing::warn!("no discovery for the users service; revocation marks only from events");
        return Ok(());
    };
    let Ok(client) = ServiceClient::new(
        ServiceName::Users,
        discovery,
        Duration::from_secs(2),
        BreakerConfig::default(),
    ) else {
        return Ok(());
    };
    let shutdown = ctx.shutdown.clone();
    let service = ctx.name;
    ctx.tasks.spawn(async move {
        let mut delay = Duration::from_millis(100);
        loop {
            match client.get(MARKS_PATH, None).await {
                Ok(res) if res.status().is_success() => {
                    match res.json::<MarksAnswer>().await {
                        Ok(answer) => {
                            for m in &answer.marks {
                                marks.mark(&m.user_id, m.not_before_ms);
                            }
                            tracing::debug!(%service, marks = answer.marks.len(), "revocation marks loaded");
                            return;
                        }
                        Err(e) => tracing::debug!(error = %e, "revocation marks unreadable"),
                    }
                }
                Ok(res) => tracing::debug!(status = %res.status(), "revocation marks not available yet"),
                Err(e) => tracing::debug!(error = %e, "users service not reachable yet"),
            }
            tokio::select! {
                () = shutdown.cancelled() => return,
                () = tokio::time::sleep(delay) => {}
            }
            delay = (delay * 2).min(Duration::from_secs(10));
        }
    });
    Ok(())
}

/// `GET /internal/revocations`: `{success, marks[{user_id, not_before_ms}]}`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct MarksAnswer {
    pub success: bool,
    pub marks: Vec<Mark>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn marks_only_move_forward_and_are_shared_by_clones() {
        let r = Revocations::default();
        let shared = r.clone();
        assert_eq!(r.not_before("u"), None);
        r.mark("u", 100);
        r.mark("u", 50);
        assert_eq!(shared.not_before("u"), Some(100));
        shared.mark("u", 150);
        assert_eq!(r.not_before("u"), Some(150));
        assert_eq!(r.len(), 1);
    }
}

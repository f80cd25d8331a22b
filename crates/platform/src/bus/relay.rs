//! The outbox relay: one background task per service that delivers unsent
//! outbox rows, in id order, to the broker and marks them sent only after
//! the broker confirmed them. When several replicas of a service share a
//! database, a lease row lets one of them relay at a time.
//!
//! When a round fails (broker away, a consumer of the embedded broker
//! failing for good, its own database away) the relay is *stalled*: it
//! tries again after 100 ms doubling to at most 1 s, and at once when the
//! broker reports a new connection ([`super::Broker::reconnected`]), so it
//! resumes within about a second of the broker's return. A stall is
//! logged once when it begins (warn, "outbox relay stalled") and once when
//! it ends (info, with its length and how much was waiting), never per
//! attempt.

use std::time::Duration;

use sqlx::Row;

use super::{Bus, Envelope, Outbox};
use crate::{db::Db, telemetry::Metrics};

const BATCH: i64 = 200;
const POLL: Duration = Duration::from_millis(500);
const LEASE_SECS: i64 = 15;
/// Retries of a stalled relay: 100 ms doubling to 1 s.
const RETRY_FIRST: Duration = Duration::from_millis(100);
const RETRY_MAX: Duration = Duration::from_secs(1);
/// A broker that reports a connection at once (it has not noticed the
/// loss yet) is asked again only after this.
const RECONNECT_SETTLE: Duration = Duration::from_millis(100);
/// Sent rows are kept this long for inspection, then deleted.
const KEEP_SENT_SECS: i64 = 7 * 24 * 3600;

/// Keeps `outbox_backlog{service}` fresh at every scrape too: the relay
/// sets it when it runs, but a relay that stalls (or another replica's
/// lease) must not leave a stale number behind.
pub fn collect_backlog(db: &Db, metrics: &Metrics) {
    let db = db.downgrade();
    metrics.add_collector(move |m| {
        let db = db.upgrade();
        async move {
            if let Some(db) = db {
                record_backlog(&db, &m).await;
            }
        }
    });
}

async fn record_backlog(db: &Db, m: &Metrics) {
    if let Ok(n) = sqlx::query_scalar::<_, i64>("SELECT COUNT(*) FROM outbox WHERE sent_at IS NULL")
        .fetch_one(db.pool())
        .await
    {
        m.record(|| metrics::gauge!("outbox_backlog", "service" => m.service()).set(n as f64));
    }
}

pub struct Relay {
    pub service: &'static str,
    pub db: Db,
    pub bus: Bus,
    pub outbox: Outbox,
    pub metrics: Metrics,
    /// Identifies this process in the lease (`<service>-<uuid>`).
    pub holder: String,
}

impl Relay {
    /// Runs until `shutdown` is cancelled.
    pub async fn run(self, shutdown: tokio_util::sync::CancellationToken) {
        let mut wait = POLL;
        let mut last_cleanup = 0;
        // Since when rounds fail (`None` while they succeed).
        let mut stalled_since: Option<std::time::Instant> = None;
        loop {
            if stalled_since.is_none() {
                tokio::select! {
                    () = shutdown.cancelled() => return,
                    () = self.outbox.woken() => {},
                    () = tokio::time::sleep(wait) => {},
                }
            } else {
                // New writes do not wake a stalled relay (they would make
                // it spin at the write rate); the broker's return does.
                let reconnected = async {
                    tokio::time::sleep(RECONNECT_SETTLE).await;
                    self.bus.broker().reconnected().await;
                };
                tokio::select! {
                    () = shutdown.cancelled() => return,
                    () = reconnected => {},
                    () = tokio::time::sleep(wait) => {},
                }
            }
            // A round may wait on a paused consumer of the embedded broker
            // for as long as its dependency is down: shutdown must not.
            let round = tokio::select! {
                () = shutdown.cancelled() => return,
                round = self.round() => round,
            };
            match round {
                Ok(()) => {
                    wait = POLL;
                    if let Some(since) = stalled_since.take() {
                        tracing::info!(
                            service = self.service,
                            stalled_ms = since.elapsed().as_millis() as u64,
                            "outbox relay resumed"
                        );
                    }
                }
                Err(e) => {
                    if stalled_since.is_none() {
                        stalled_since = Some(std::time::Instant::now());
                        wait = RETRY_FIRST;
                        tracing::warn!(service = self.service, error = %e, "outbox relay stalled; retrying every second at most until it can deliver again");
                    } else {
                        wait = (wait * 2).min(RETRY_MAX);
                        tracing::debug!(service = self.service, error = %e, retry_in_ms = wait.as_millis() as u64, "outbox relay still stalled");
                    }
                }
            }
            let now = crate::clock::unix_now();
            if now - last_cleanup > 3600 {
                last_cleanup = now;
                let cutoff = crate::clock::format(
                    crate::clock::now() - time::Duration::seconds(KEEP_SENT_SECS),
                );
                let _ =
                    sqlx::query("DELETE FROM outbox WHERE sent_at IS NOT NULL AND sent_at < $1")
                        .bind(cutoff)
                        .execute(self.db.pool())
                        .await;
            }
        }
    }

    /// Sends everything unsent, batch by batch, while this process holds
    /// the lease.
    async fn round(&self) -> Result<(), super::BusError> {
        if !self.hold_lease().await? {
            return Ok(());
        }
        loop {
            let rows = sqlx::query(
                "SELECT id, envelope FROM outbox WHERE sent_at IS NULL ORDER BY id LIMIT $1",
            )
            .bind(BATCH)
            .fetch_all(self.db.pool())
            .await?;
            self.record_backlog().await;
            if rows.is_empty() {
                return Ok(());
            }
            let mut events = Vec::with_capacity(rows.len());
            for row in &rows {
                let id: String = row.try_get("id")?;
                let text: String = row.try_get("envelope")?;
                match serde_json::from_str::<Envelope>(&text) {
                    Ok(env) => events.push(env),
                    Err(e) => {
                        // Unreadable rows cannot block the ones behind them.
                        tracing::error!(id, error = %e, "unreadable outbox row set aside");
                        sqlx::query(
                            "UPDATE outbox SET sent_at = $1, last_error = $2 WHERE id = $3",
                        )
                        .bind(crate::clock::now_text())
                        .bind(format!("unreadable: {e}"))
                        .bind(&id)
                        .execute(self.db.pool())
                        .await?;
                    }
                }
            }
            let outcome = self.bus.broker().publish(&events).await;
            self.mark_sent(&events[..outcome.confirmed]).await?;
            if let Some(error) = outcome.error {
                if let Some(failed) = events.get(outcome.confirmed) {
                    let _ = sqlx::query(
                        "UPDATE outbox SET attempts = attempts + 1, last_error = $1 WHERE id = $2",
                    )
                    .bind(error.to_string())
                    .bind(&failed.id)
                    .execute(self.db.pool())
                    .await;
                }
                return Err(error);
            }
            if (rows.len() as i64) < BATCH {
                self.record_backlog().await;
                return Ok(());
            }
        }
    }

    async fn mark_sent(&self, sent: &[Envelope]) -> Result<(), sqlx::Error> {
        if sent.is_empty() {
            return Ok(());
        }
        // One statement per batch: a round trip (and on PostgreSQL a WAL
        // record) per row made marking the bottleneck of the relay.
        let placeholders: Vec<String> = (2..sent.len() + 2).map(|i| format!("${i}")).collect();
        let sql = format!(
            "UPDATE outbox SET sent_at = $1 WHERE id IN ({})",
            placeholders.join(", ")
        );
        let mut query = sqlx::query(sqlx::AssertSqlSafe(sql)).bind(crate::clock::now_text());
        for env in sent {
            query = query.bind(&env.id);
        }
        query.execute(self.db.pool()).await?;
        self.metrics.record(|| {
            for env in sent {
                metrics::counter!("events_published_total", "service" => self.service, "type" => env.event_type.clone())
                    .increment(1);
            }
        });
        Ok(())
    }

    async fn record_backlog(&self) {
        record_backlog(&self.db, &self.metrics).await;
    }

    /// Takes or renews the relay lease; false while another process has it.
    async fn hold_lease(&self) -> Result<bool, sqlx::Error> {
        let now = crate::clock::unix_now();
        let taken = sqlx::query(
            "INSERT INTO bus_leases (name, holder, expires_at) VALUES ('relay', $1, $2)
             ON CONFLICT (name) DO UPDATE SET holder = excluded.holder, expires_at = excluded.expires_at
             WHERE bus_leases.holder = excluded.holder OR bus_leases.expires_at < $3",
        )
        .bind(&self.holder)
        .bind(now + LEASE_SECS)
        .bind(now)
        .execute(self.db.pool())
        .await?
        .rows_affected();
        Ok(taken == 1)
    }
}

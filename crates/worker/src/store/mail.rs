//! `outgoing_mail`: the mails to send and their retry state.

use marimo_platform::db::DbPool;
use marimo_platform::db::Exec;
use sqlx::Row;

use crate::domain::mail::{MailDraft, MailRow};

/// Stores a pending mail; `false` when the event already has one (the
/// unique event id backs the inbox's once-only rule).
pub async fn insert<'e>(
    ex: impl Exec<'e>,
    id: &str,
    event_id: &str,
    draft: &MailDraft,
    now: &str,
) -> Result<bool, sqlx::Error> {
    let res = sqlx::query(
        "INSERT INTO outgoing_mail
            (id, event_id, template, to_address, subject, body, status, attempts, next_attempt_at, created_at)
         VALUES ($1, $2, $3, $4, $5, $6, 'pending', 0, $7, $7)
         ON CONFLICT (event_id) DO NOTHING",
    )
    .bind(id)
    .bind(event_id)
    .bind(draft.template)
    .bind(&draft.to)
    .bind(&draft.subject)
    .bind(&draft.body)
    .bind(now)
    .execute(ex)
    .await?;
    Ok(res.rows_affected() == 1)
}

/// A pending mail whose time has come, as read before claiming it.
#[derive(Debug, Clone)]
pub struct DueMail {
    pub row: MailRow,
    pub attempts: i64,
    pub next_attempt_at: String,
}

pub async fn due(pool: &DbPool, now: &str, limit: i64) -> Result<Vec<DueMail>, sqlx::Error> {
    let rows = sqlx::query(
        "SELECT id, event_id, to_address, subject, body, created_at, attempts, next_attempt_at
         FROM outgoing_mail
         WHERE status = 'pending' AND next_attempt_at <= $1
         ORDER BY next_attempt_at, id
         LIMIT $2",
    )
    .bind(now)
    .bind(limit)
    .fetch_all(pool)
    .await?;
    rows.iter()
        .map(|r| {
            Ok(DueMail {
                row: MailRow {
                    id: r.try_get("id")?,
                    event_id: r.try_get("event_id")?,
                    to: r.try_get("to_address")?,
                    subject: r.try_get("subject")?,
                    body: r.try_get("body")?,
                    created_at: r.try_get("created_at")?,
                },
                attempts: r.try_get("attempts")?,
                next_attempt_at: r.try_get("next_attempt_at")?,
            })
        })
        .collect()
}

/// See [`super::claim_sql`].
pub async fn claim(
    pool: &DbPool,
    id: &str,
    seen_next_attempt_at: &str,
    lease_until: &str,
) -> Result<bool, sqlx::Error> {
    let res = sqlx::query(super::claim_sql!("outgoing_mail"))
        .bind(lease_until)
        .bind(id)
        .bind(seen_next_attempt_at)
        .execute(pool)
        .await?;
    Ok(res.rows_affected() == 1)
}

pub async fn mark_sent(pool: &DbPool, id: &str, now: &str) -> Result<(), sqlx::Error> {
    sqlx::query(
        "UPDATE outgoing_mail SET status = 'sent', sent_at = $1, last_error = NULL WHERE id = $2",
    )
    .bind(now)
    .bind(id)
    .execute(pool)
    .await?;
    Ok(())
}

pub async fn mark_retry(
    pool: &DbPool,
    id: &str,
    next_attempt_at: &str,
    error: &str,
) -> Result<(), sqlx::Error> {
    sqlx::query("UPDATE outgoing_mail SET next_attempt_at = $1, last_error = $2 WHERE id = $3")
        .bind(next_attempt_at)
        .bind(error)
        .bind(id)
        .execute(pool)
        .await?;
    Ok(())
}

pub async fn mark_failed(pool: &DbPool, id: &str, error: &str) -> Result<(), sqlx::Error> {
    sqlx::query("UPDATE outgoing_mail SET status = 'failed', last_error = $1 WHERE id = $2")
        .bind(error)
        .bind(id)
        .execute(pool)
        .await?;
    Ok(())
}

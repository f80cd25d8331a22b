//! `outgoing_mail`: the mails to send and their retry state.

use marimo_platform::{
    db::{Db, Exec},
    tenant::TenantId,
};
use sqlx::Row;

use crate::domain::mail::{MailDraft, MailRow};

/// Stores a pending mail; `false` when the event already has one (the
/// unique event id backs the inbox's once-only rule).
pub async fn insert<'e>(
    ex: impl Exec<'e>,
    tenant: &TenantId,
    id: &str,
    event_id: &str,
    draft: &MailDraft,
    now: &str,
) -> Result<bool, sqlx::Error> {
    let res = sqlx::query(
        "INSERT INTO outgoing_mail
            (id, event_id, template, to_address, subject, body, status, attempts, next_attempt_at, created_at, tenant_id)
         VALUES ($1, $2, $3, $4, $5, $6, 'pending', 0, $7, $7, $8)
         ON CONFLICT (tenant_id, event_id) DO NOTHING",
    )
    .bind(id)
    .bind(event_id)
    .bind(draft.template)
    .bind(&draft.to)
    .bind(&draft.subject)
    .bind(&draft.body)
    .bind(now)
    .bind(tenant.as_str())
    .execute(ex)
    .await?;
    Ok(res.rows_affected() == 1)
}

/// A pending mail whose time has come, as read before claiming it.
#[derive(Debug, Clone)]
pub struct DueMail {
    /// The mail's tenant: the sender acts on the row in it.
    pub tenant: TenantId,
    pub row: MailRow,
    pub attempts: i64,
    pub next_attempt_at: String,
}

/// Due mails of every tenant (the sender loop is a system job).
pub async fn due(db: &Db, now: &str, limit: i64) -> Result<Vec<DueMail>, sqlx::Error> {
    let mut tx = db.all_tenants().read().await?;
    let rows = sqlx::query(
        "SELECT tenant_id, id, event_id, to_address, subject, body, created_at, attempts, next_attempt_at
         FROM outgoing_mail
         WHERE status = 'pending' AND next_attempt_at <= $1
         ORDER BY next_attempt_at, id
         LIMIT $2",
    )
    .bind(now)
    .bind(limit)
    .fetch_all(&mut *tx)
    .await?;
    rows.iter()
        .map(|r| {
            let tenant: String = r.try_get("tenant_id")?;
            Ok(DueMail {
                tenant: TenantId::parse(&tenant).map_err(|e| sqlx::Error::Decode(e.into()))?,
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
    db: &Db,
    tenant: &TenantId,
    id: &str,
    seen_next_attempt_at: &str,
    lease_until: &str,
) -> Result<bool, sqlx::Error> {
    let mut tx = db.tenant(tenant).begin().await?;
    let res = sqlx::query(super::claim_sql!("outgoing_mail"))
        .bind(lease_until)
        .bind(id)
        .bind(seen_next_attempt_at)
        .bind(tenant.as_str())
        .execute(&mut *tx)
        .await?;
    tx.commit().await?;
    Ok(res.rows_affected() == 1)
}

/// One statement on a mail row, in its tenant.
async fn update(
    db: &Db,
    tenant: &TenantId,
    sql: &'static str,
    a: &str,
    b: Option<&str>,
    id: &str,
) -> Result<(), sqlx::Error> {
    let mut tx = db.tenant(tenant).begin().await?;
    let q = sqlx::query(sql).bind(a);
    let q = match b {
        Some(b) => q.bind(b),
        None => q,
    };
    q.bind(id).bind(tenant.as_str()).execute(&mut *tx).await?;
    tx.commit().await
}

pub async fn mark_sent(db: &Db, t: &TenantId, id: &str, now: &str) -> Result<(), sqlx::Error> {
    update(
        db,
        t,
        "UPDATE outgoing_mail SET status = 'sent', sent_at = $1, last_error = NULL
         WHERE id = $2 AND tenant_id = $3",
        now,
        None,
        id,
    )
    .await
}

pub async fn mark_retry(
    db: &Db,
    t: &TenantId,
    id: &str,
    next_attempt_at: &str,
    error: &str,
) -> Result<(), sqlx::Error> {
    update(
        db,
        t,
        "UPDATE outgoing_mail SET next_attempt_at = $1, last_error = $2
         WHERE id = $3 AND tenant_id = $4",
        next_attempt_at,
        Some(error),
        id,
    )
    .await
}

pub async fn mark_failed(db: &Db, t: &TenantId, id: &str, error: &str) -> Result<(), sqlx::Error> {
    update(
        db,
        t,
        "UPDATE outgoing_mail SET status = 'failed', last_error = $1
         WHERE id = $2 AND tenant_id = $3",
        error,
        None,
        id,
    )
    .await
}

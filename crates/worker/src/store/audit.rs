//! `audit_log`: insert-only (the database refuses updates and deletes).

use marimo_platform::{
    db::{Db, Exec},
    tenant::TenantId,
};
use sqlx::{Row, any::AnyRow};

use crate::domain::audit::AuditRecord;

/// Appends the event's row; `false` if the event was already recorded.
pub async fn insert<'e>(
    ex: impl Exec<'e>,
    tenant: &TenantId,
    id: &str,
    r: &AuditRecord,
    now: &str,
) -> Result<bool, sqlx::Error> {
    let res = sqlx::query(
        "INSERT INTO audit_log
            (id, event_id, occurred_at, recorded_at, source, actor, action, target, client_ip, request_id, details, tenant_id)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)
         ON CONFLICT (tenant_id, event_id) DO NOTHING",
    )
    .bind(id)
    .bind(&r.event_id)
    .bind(&r.occurred_at)
    .bind(now)
    .bind(&r.source)
    .bind(r.actor.as_deref())
    .bind(&r.action)
    .bind(r.target.as_deref())
    .bind(r.client_ip.as_deref())
    .bind(r.request_id.as_deref())
    .bind(&r.details)
    .bind(tenant.as_str())
    .execute(ex)
    .await?;
    Ok(res.rows_affected() == 1)
}

/// Filters of `GET /api/audit`; `""` means "any".
#[derive(Debug, Clone, Default)]
pub struct Filter {
    pub actor: String,
    /// Exact action, or (with `action_prefix`) any action below it.
    pub action: String,
    /// `LIKE` pattern from `domain::audit::action_prefix_pattern`.
    pub action_prefix: String,
    pub target: String,
    /// Storage-format bounds of a `TimeRange`: `from` inclusive, `until`
    /// exclusive (the instant after the client's inclusive `to`).
    pub from: String,
    pub until: String,
}

/// The filter as SQL: `$1`..`$6` are the [`Filter`] fields in order, `$7`
/// the tenant.
macro_rules! filter_sql {
    () => {
        " WHERE tenant_id = $7
            AND ($1 = '' OR actor = $1)
            AND ($2 = '' OR action = $2 OR action LIKE $3 ESCAPE '\\')
            AND ($4 = '' OR target = $4)
            AND ($5 = '' OR occurred_at >= $5)
            AND ($6 = '' OR occurred_at < $6) "
    };
}

#[derive(Debug, Clone)]
pub struct Entry {
    pub id: String,
    pub event_id: String,
    pub occurred_at: String,
    pub recorded_at: String,
    pub source: String,
    pub actor: Option<String>,
    pub action: String,
    pub target: Option<String>,
    pub client_ip: Option<String>,
    pub request_id: Option<String>,
    pub details: serde_json::Value,
}

fn entry(r: &AnyRow) -> Result<Entry, sqlx::Error> {
    let details: String = r.try_get("details")?;
    Ok(Entry {
        id: r.try_get("id")?,
        event_id: r.try_get("event_id")?,
        occurred_at: r.try_get("occurred_at")?,
        recorded_at: r.try_get("recorded_at")?,
        source: r.try_get("source")?,
        actor: r.try_get("actor")?,
        action: r.try_get("action")?,
        target: r.try_get("target")?,
        client_ip: r.try_get("client_ip")?,
        request_id: r.try_get("request_id")?,
        // Written by this service as JSON; shown as text should it not be.
        details: serde_json::from_str(&details).unwrap_or(serde_json::Value::String(details)),
    })
}

/// A page of the tenant's matching entries, newest first, and the number
/// of matches.
pub async fn list(
    db: &Db,
    tenant: &TenantId,
    f: &Filter,
    limit: i64,
    offset: i64,
) -> Result<(Vec<Entry>, i64), sqlx::Error> {
    let mut tx = db.tenant(tenant).snapshot().await?;
    let total: i64 = sqlx::query_scalar(concat!("SELECT COUNT(*) FROM audit_log", filter_sql!()))
        .bind(&f.actor)
        .bind(&f.action)
        .bind(&f.action_prefix)
        .bind(&f.target)
        .bind(&f.from)
        .bind(&f.until)
        .bind(tenant.as_str())
        .fetch_one(&mut *tx)
        .await?;
    let rows = sqlx::query(concat!(
        "SELECT id, event_id, occurred_at, recorded_at, source, actor, action, target,
                client_ip, request_id, details
         FROM audit_log",
        filter_sql!(),
        "ORDER BY occurred_at DESC, id DESC LIMIT $8 OFFSET $9"
    ))
    .bind(&f.actor)
    .bind(&f.action)
    .bind(&f.action_prefix)
    .bind(&f.target)
    .bind(&f.from)
    .bind(&f.until)
    .bind(tenant.as_str())
    .bind(limit)
    .bind(offset)
    .fetch_all(&mut *tx)
    .await?;
    let entries = rows.iter().map(entry).collect::<Result<_, _>>()?;
    Ok((entries, total))
}

//! Periods and their status.

use marimo_platform::{db::TxConn, tenant::TenantId};
use sqlx::Row;

use super::decode_err;
use crate::domain::{
    calendar::Period,
    period::{PeriodAction, PeriodStatus},
};

fn status_of(s: &str) -> Result<PeriodStatus, sqlx::Error> {
    s.parse().map_err(decode_err)
}

/// Inside a posting transaction: `Ok(())` when `period` is open, after
/// which the period row stays locked until the transaction ends, so that
/// a concurrent close waits for the posting (or the posting sees the
/// close). A period without a row is open; its row is created here.
pub async fn hold_open(
    conn: &mut TxConn,
    t: &TenantId,
    period: Period,
    now: &str,
) -> Result<Result<(), PeriodStatus>, sqlx::Error> {
    // An upsert that only "updates" open rows: it inserts a missing row,
    // locks an existing one, and affects nothing when the period is closed
    // or locked. PostgreSQL re-checks the WHERE on the latest committed
    // version after waiting for a concurrent close.
    let affected = sqlx::query(
        "INSERT INTO periods (tenant_id, period, status, updated_at) VALUES ($3, $1, 'open', $2)
         ON CONFLICT (tenant_id, period) DO UPDATE SET status = periods.status
         WHERE periods.status = 'open'",
    )
    .bind(period.to_string())
    .bind(now)
    .bind(t.as_str())
    .execute(&mut *conn)
    .await?
    .rows_affected();
    if affected == 1 {
        return Ok(Ok(()));
    }
    let status: String =
        sqlx::query_scalar("SELECT status FROM periods WHERE tenant_id = $1 AND period = $2")
            .bind(t.as_str())
            .bind(period.to_string())
            .fetch_one(conn)
            .await?;
    Ok(Err(status_of(&status)?))
}

/// The status of a period (open when it has no row).
pub async fn status(
    conn: &mut TxConn,
    t: &TenantId,
    period: Period,
) -> Result<PeriodStatus, sqlx::Error> {
    let s: Option<String> =
        sqlx::query_scalar("SELECT status FROM periods WHERE tenant_id = $1 AND period = $2")
            .bind(t.as_str())
            .bind(period.to_string())
            .fetch_optional(conn)
            .await?;
    s.map_or(Ok(PeriodStatus::Open), |s| status_of(&s))
}

/// Sets a period's status and records the change (in the caller's
/// transaction, which took the write lock / row lock first).
#[allow(clippy::too_many_arguments)]
pub async fn set_status(
    conn: &mut TxConn,
    t: &TenantId,
    period: Period,
    action: PeriodAction,
    from: PeriodStatus,
    to: PeriodStatus,
    actor: &str,
    now: &str,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO periods (tenant_id, period, status, updated_at, updated_by)
         VALUES ($5, $1, $2, $3, $4)
         ON CONFLICT (tenant_id, period) DO UPDATE SET status = excluded.status,
           updated_at = excluded.updated_at, updated_by = excluded.updated_by",
    )
    .bind(period.to_string())
    .bind(to.as_str())
    .bind(now)
    .bind(actor)
    .bind(t.as_str())
    .execute(&mut *conn)
    .await?;
    sqlx::query(
        "INSERT INTO period_events (id, period, action, from_status, to_status, actor, at, tenant_id)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
    )
    .bind(marimo_platform::ids::new_id())
    .bind(period.to_string())
    .bind(action.as_str())
    .bind(from.as_str())
    .bind(to.as_str())
    .bind(actor)
    .bind(now)
    .bind(t.as_str())
    .execute(conn)
    .await?;
    Ok(())
}

/// Locks a period's row for a status change (creating it open when
/// missing), and returns its current status.
pub async fn lock_for_change(
    conn: &mut TxConn,
    t: &TenantId,
    period: Period,
    now: &str,
) -> Result<PeriodStatus, sqlx::Error> {
    // Touching the row takes its lock on PostgreSQL; SQLite's write lock
    // is already held (`Db::begin`).
    sqlx::query(
        "INSERT INTO periods (tenant_id, period, status, updated_at) VALUES ($3, $1, 'open', $2)
         ON CONFLICT (tenant_id, period) DO UPDATE SET status = periods.status",
    )
    .bind(period.to_string())
    .bind(now)
    .bind(t.as_str())
    .execute(&mut *conn)
    .await?;
    status(conn, t, period).await
}

#[derive(Debug, Clone)]
pub struct PeriodRecord {
    pub period: String,
    pub status: PeriodStatus,
    pub updated_at: String,
    pub updated_by: Option<String>,
}

/// Periods with a row (every period posted to or whose status was set),
/// newest first; `year` filters.
pub async fn list(
    conn: &mut TxConn,
    t: &TenantId,
    year: Option<i32>,
) -> Result<Vec<PeriodRecord>, sqlx::Error> {
    let prefix = year.map_or_else(String::new, |y| format!("{y:04}-"));
    let rows = sqlx::query(
        "SELECT period, status, updated_at, updated_by FROM periods
         WHERE tenant_id = $2 AND ($1 = '' OR substr(period, 1, 5) = $1) ORDER BY period DESC",
    )
    .bind(prefix)
    .bind(t.as_str())
    .fetch_all(conn)
    .await?;
    rows.iter()
        .map(|r| {
            Ok(PeriodRecord {
                period: r.try_get("period")?,
                status: status_of(&r.try_get::<String, _>("status")?)?,
                updated_at: r.try_get("updated_at")?,
                updated_by: r.try_get("updated_by")?,
            })
        })
        .collect()
}

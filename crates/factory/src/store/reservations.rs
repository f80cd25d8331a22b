//! Holds (`stock_holds`): the shop's orders' reservations of stock. The
//! quantities they reserve are in `stock_levels.reserved`, changed by the
//! caller in the same transaction as each status change here.

use marimo_platform::tenant::TenantId;
use sqlx::{Any, Executor, Row, any::AnyRow};

use super::parse_stored;
use crate::domain::reservations::HoldStatus;

/// One order line's hold of a bin.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HoldRecord {
    pub order_id: String,
    pub sku: String,
    pub warehouse: String,
    /// Thousandths, > 0.
    pub qty: i64,
    pub status: HoldStatus,
    pub expires_at: String,
    pub created_at: String,
    pub updated_at: String,
}

const COLUMNS: &str = "order_id, sku, warehouse, qty, status, expires_at, created_at, updated_at";

fn hold_from(row: &AnyRow) -> Result<HoldRecord, sqlx::Error> {
    let status: String = row.try_get("status")?;
    Ok(HoldRecord {
        order_id: row.try_get("order_id")?,
        sku: row.try_get("sku")?,
        warehouse: row.try_get("warehouse")?,
        qty: row.try_get("qty")?,
        status: parse_stored(&status)?,
        expires_at: row.try_get("expires_at")?,
        created_at: row.try_get("created_at")?,
        updated_at: row.try_get("updated_at")?,
    })
}

pub async fn insert<'e>(
    ex: impl Executor<'e, Database = Any>,
    t: &TenantId,
    h: &HoldRecord,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO stock_holds (tenant_id, order_id, sku, warehouse, qty, status, expires_at,
                                  created_at, updated_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
    )
    .bind(t.as_str())
    .bind(&h.order_id)
    .bind(&h.sku)
    .bind(&h.warehouse)
    .bind(h.qty)
    .bind(h.status.as_str())
    .bind(&h.expires_at)
    .bind(&h.created_at)
    .bind(&h.updated_at)
    .execute(ex)
    .await?;
    Ok(())
}

/// The holds of an order, in (sku, warehouse) order: the lock order of
/// the bins they touch.
pub async fn of_order<'e>(
    ex: impl Executor<'e, Database = Any>,
    t: &TenantId,
    order_id: &str,
) -> Result<Vec<HoldRecord>, sqlx::Error> {
    let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
        "SELECT {COLUMNS} FROM stock_holds WHERE tenant_id = $1 AND order_id = $2
         ORDER BY sku, warehouse"
    )))
    .bind(t.as_str())
    .bind(order_id)
    .fetch_all(ex)
    .await?;
    rows.iter().map(hold_from).collect()
}

/// Moves a hold from `from` to `to` (compare-and-set on its status):
/// `false` when it was not in `from` (another transaction got there
/// first, or it never was).
pub async fn set_status<'e>(
    ex: impl Executor<'e, Database = Any>,
    t: &TenantId,
    h: &HoldRecord,
    from: HoldStatus,
    to: HoldStatus,
    now: &str,
) -> Result<bool, sqlx::Error> {
    let done = sqlx::query(
        "UPDATE stock_holds SET status = $1, updated_at = $2
         WHERE tenant_id = $3 AND order_id = $4 AND sku = $5 AND warehouse = $6 AND status = $7",
    )
    .bind(to.as_str())
    .bind(now)
    .bind(t.as_str())
    .bind(&h.order_id)
    .bind(&h.sku)
    .bind(&h.warehouse)
    .bind(from.as_str())
    .execute(ex)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// Orders with a hold still `held` after `now`, across tenants (run in an
/// `all_tenants` transaction): (tenant, order id), at most `limit`.
pub async fn due<'e>(
    ex: impl Executor<'e, Database = Any>,
    now: &str,
    limit: i64,
) -> Result<Vec<(TenantId, String)>, sqlx::Error> {
    let rows = sqlx::query(
        "SELECT DISTINCT tenant_id, order_id FROM stock_holds
         WHERE status = 'held' AND expires_at <= $1
         ORDER BY tenant_id, order_id LIMIT $2",
    )
    .bind(now)
    .bind(limit)
    .fetch_all(ex)
    .await?;
    rows.iter()
        .map(|r| {
            let tenant: String = r.try_get("tenant_id")?;
            let tenant =
                TenantId::parse(&tenant).map_err(|e| sqlx::Error::Decode(e.to_string().into()))?;
            Ok((tenant, r.try_get("order_id")?))
        })
        .collect()
}

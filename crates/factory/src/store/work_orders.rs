//! Work orders and their reservations.

use marimo_platform::{db::Tx, tenant::TenantId};
use sqlx::{Any, Executor, Row, any::AnyRow};

use super::parse_stored;
use crate::domain::work_order::Status;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WorkOrderRecord {
    pub id: String,
    pub product_sku: String,
    /// The product's item id (the original API's `product_id`).
    pub product_id: String,
    pub bom_id: Option<String>,
    pub warehouse: String,
    /// Thousandths planned.
    pub qty: i64,
    pub status: Status,
    pub produced_qty: Option<i64>,
    pub scrap_qty: Option<i64>,
    pub unit_cost: Option<i64>,
    pub total_cost: Option<i64>,
    pub created_by: String,
    pub created_at: String,
    pub updated_at: String,
    pub released_at: Option<String>,
    pub started_at: Option<String>,
    pub completed_at: Option<String>,
    pub cancelled_at: Option<String>,
}

/// Work orders with their product (of the same tenant).
const FROM: &str =
    "work_orders w JOIN items i ON i.tenant_id = w.tenant_id AND i.sku = w.product_sku";

const COLUMNS: &str = "w.id, w.product_sku, i.id AS product_id, w.bom_id, w.warehouse, w.qty, w.status, \
     w.produced_qty, w.scrap_qty, w.unit_cost, w.total_cost, w.created_by, w.created_at, w.updated_at, \
     w.released_at, w.started_at, w.completed_at, w.cancelled_at";

fn from_row(row: &AnyRow) -> Result<WorkOrderRecord, sqlx::Error> {
    let status: String = row.try_get("status")?;
    Ok(WorkOrderRecord {
        id: row.try_get("id")?,
        product_sku: row.try_get("product_sku")?,
        product_id: row.try_get("product_id")?,
        bom_id: row.try_get("bom_id")?,
        warehouse: row.try_get("warehouse")?,
        qty: row.try_get("qty")?,
        status: parse_stored(&status)?,
        produced_qty: row.try_get("produced_qty")?,
        scrap_qty: row.try_get("scrap_qty")?,
        unit_cost: row.try_get("unit_cost")?,
        total_cost: row.try_get("total_cost")?,
        created_by: row.try_get("created_by")?,
        created_at: row.try_get("created_at")?,
        updated_at: row.try_get("updated_at")?,
        released_at: row.try_get("released_at")?,
        started_at: row.try_get("started_at")?,
        completed_at: row.try_get("completed_at")?,
        cancelled_at: row.try_get("cancelled_at")?,
    })
}

pub async fn insert<'e>(
    ex: impl Executor<'e, Database = Any>,
    t: &TenantId,
    w: &WorkOrderRecord,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO work_orders (id, product_sku, bom_id, warehouse, qty, status, created_by,
                                  created_at, updated_at, tenant_id)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $8, $9)",
    )
    .bind(&w.id)
    .bind(&w.product_sku)
    .bind(&w.bom_id)
    .bind(&w.warehouse)
    .bind(w.qty)
    .bind(w.status.as_str())
    .bind(&w.created_by)
    .bind(&w.created_at)
    .bind(t.as_str())
    .execute(ex)
    .await?;
    Ok(())
}

pub async fn find<'e>(
    ex: impl Executor<'e, Database = Any>,
    t: &TenantId,
    id: &str,
) -> Result<Option<WorkOrderRecord>, sqlx::Error> {
    sqlx::query(sqlx::AssertSqlSafe(format!(
        "SELECT {COLUMNS} FROM {FROM} WHERE w.tenant_id = $2 AND w.id = $1"
    )))
    .bind(id)
    .bind(t.as_str())
    .fetch_optional(ex)
    .await?
    .as_ref()
    .map(from_row)
    .transpose()
}

/// Moves the order from `from` to `to` if it is still in `from`
/// (compare-and-set), stamping `<to>_at`; `false` when another request
/// changed it first.
pub async fn set_status<'e>(
    ex: impl Executor<'e, Database = Any>,
    t: &TenantId,
    id: &str,
    from: Status,
    to: Status,
    now: &str,
) -> Result<bool, sqlx::Error> {
    let stamp = match to {
        Status::Released => "released_at",
        Status::Started => "started_at",
        Status::Completed => "completed_at",
        Status::Cancelled => "cancelled_at",
        Status::Planned => "updated_at",
    };
    let res = sqlx::query(sqlx::AssertSqlSafe(format!(
        "UPDATE work_orders SET status = $1, {stamp} = $2, updated_at = $2
         WHERE tenant_id = $5 AND id = $3 AND status = $4"
    )))
    .bind(to.as_str())
    .bind(now)
    .bind(id)
    .bind(from.as_str())
    .bind(t.as_str())
    .execute(ex)
    .await?;
    Ok(res.rows_affected() == 1)
}

/// Records what a completion produced and what it cost.
pub async fn set_result<'e>(
    ex: impl Executor<'e, Database = Any>,
    t: &TenantId,
    id: &str,
    produced: i64,
    scrap: i64,
    unit_cost: i64,
    total_cost: i64,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "UPDATE work_orders SET produced_qty = $1, scrap_qty = $2, unit_cost = $3, total_cost = $4
         WHERE tenant_id = $6 AND id = $5",
    )
    .bind(produced)
    .bind(scrap)
    .bind(unit_cost)
    .bind(total_cost)
    .bind(id)
    .bind(t.as_str())
    .execute(ex)
    .await?;
    Ok(())
}

/// A page of work orders (newest first; `status` None for all) and the
/// total matching.
pub async fn list(
    tx: &mut Tx,
    t: &TenantId,
    status: Option<Status>,
    limit: u32,
    offset: i64,
) -> Result<(Vec<WorkOrderRecord>, i64), sqlx::Error> {
    let status = status.map_or("", Status::as_str);
    let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
        "SELECT {COLUMNS} FROM {FROM}
         WHERE w.tenant_id = $4 AND ($1 = '' OR w.status = $1)
         ORDER BY w.created_at DESC, w.id DESC LIMIT $2 OFFSET $3"
    )))
    .bind(status)
    .bind(i64::from(limit))
    .bind(offset)
    .bind(t.as_str())
    .fetch_all(&mut *tx)
    .await?;
    let total: i64 = sqlx::query_scalar(
        "SELECT COUNT(*) FROM work_orders WHERE tenant_id = $2 AND ($1 = '' OR status = $1)",
    )
    .bind(status)
    .bind(t.as_str())
    .fetch_one(&mut *tx)
    .await?;
    let list = rows.iter().map(from_row).collect::<Result<_, _>>()?;
    Ok((list, total))
}

/// Every work order, oldest first (the original API's list).
pub async fn list_all<'e>(
    ex: impl Executor<'e, Database = Any>,
    t: &TenantId,
) -> Result<Vec<WorkOrderRecord>, sqlx::Error> {
    let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
        "SELECT {COLUMNS} FROM {FROM} WHERE w.tenant_id = $1 ORDER BY w.created_at, w.id"
    )))
    .bind(t.as_str())
    .fetch_all(ex)
    .await?;
    rows.iter().map(from_row).collect()
}

/// A component reserved by a release.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reservation {
    pub sku: String,
    pub warehouse: String,
    pub qty: i64,
}

pub async fn insert_reservation<'e>(
    ex: impl Executor<'e, Database = Any>,
    t: &TenantId,
    work_order_id: &str,
    r: &Reservation,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO work_order_reservations (work_order_id, sku, warehouse, qty, tenant_id)
         VALUES ($1, $2, $3, $4, $5)",
    )
    .bind(work_order_id)
    .bind(&r.sku)
    .bind(&r.warehouse)
    .bind(r.qty)
    .bind(t.as_str())
    .execute(ex)
    .await?;
    Ok(())
}

/// The reservations of an order, by SKU (the order locks are taken in).
pub async fn reservations<'e>(
    ex: impl Executor<'e, Database = Any>,
    t: &TenantId,
    work_order_id: &str,
) -> Result<Vec<Reservation>, sqlx::Error> {
    let rows = sqlx::query(
        "SELECT sku, warehouse, qty FROM work_order_reservations
         WHERE tenant_id = $2 AND work_order_id = $1
         ORDER BY sku, warehouse",
    )
    .bind(work_order_id)
    .bind(t.as_str())
    .fetch_all(ex)
    .await?;
    rows.iter()
        .map(|r| {
            Ok(Reservation {
                sku: r.try_get("sku")?,
                warehouse: r.try_get("warehouse")?,
                qty: r.try_get("qty")?,
            })
        })
        .collect()
}

/// Work orders per status.
pub async fn count_by_status<'e>(
    ex: impl Executor<'e, Database = Any>,
    t: &TenantId,
) -> Result<Vec<(Status, i64)>, sqlx::Error> {
    let rows = sqlx::query(
        "SELECT status, COUNT(*) AS n FROM work_orders WHERE tenant_id = $1 GROUP BY status",
    )
    .bind(t.as_str())
    .fetch_all(ex)
    .await?;
    rows.iter()
        .map(|r| {
            let s: String = r.try_get("status")?;
            Ok((parse_stored(&s)?, r.try_get("n")?))
        })
        .collect()
}

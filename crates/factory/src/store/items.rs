//! Items, units and warehouses.

use marimo_platform::{db::Tx, tenant::TenantId};
use sqlx::{Any, Executor, Row, any::AnyRow};

use super::parse_stored;
use crate::domain::items::{Item, Kind};

/// An item as stored: its definition, identity and history.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ItemRecord {
    pub id: String,
    pub item: Item,
    pub created_by: String,
    pub created_at: String,
    pub updated_at: String,
    pub completed_at: Option<String>,
}

const ITEM_COLUMNS: &str = "id, sku, name, kind, category, uom, standard_cost, reorder_point, active, status, \
     created_by, created_at, updated_at, completed_at";

fn item_from(row: &AnyRow) -> Result<ItemRecord, sqlx::Error> {
    let kind: String = row.try_get("kind")?;
    let category: String = row.try_get("category")?;
    let status: String = row.try_get("status")?;
    Ok(ItemRecord {
        id: row.try_get("id")?,
        item: Item {
            sku: row.try_get("sku")?,
            name: row.try_get("name")?,
            kind: parse_stored(&kind)?,
            category: parse_stored(&category)?,
            uom: row.try_get("uom")?,
            standard_cost: row.try_get("standard_cost")?,
            reorder_point: row.try_get("reorder_point")?,
            active: row.try_get::<i64, _>("active")? != 0,
            status: parse_stored(&status)?,
        },
        created_by: row.try_get("created_by")?,
        created_at: row.try_get("created_at")?,
        updated_at: row.try_get("updated_at")?,
        completed_at: row.try_get("completed_at")?,
    })
}

/// Inserts an item; `false` when the SKU is taken.
pub async fn insert_item<'e>(
    ex: impl Executor<'e, Database = Any>,
    t: &TenantId,
    r: &ItemRecord,
) -> Result<bool, sqlx::Error> {
    let item = &r.item;
    let res = sqlx::query(
        "INSERT INTO items (id, sku, name, kind, uom, standard_cost, reorder_point, active, status,
                            created_by, created_at, updated_at, completed_at, tenant_id, category)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15)
         ON CONFLICT (tenant_id, sku) DO NOTHING",
    )
    .bind(&r.id)
    .bind(&item.sku)
    .bind(&item.name)
    .bind(item.kind.as_str())
    .bind(&item.uom)
    .bind(item.standard_cost)
    .bind(item.reorder_point)
    .bind(i64::from(item.active))
    .bind(item.status.as_str())
    .bind(&r.created_by)
    .bind(&r.created_at)
    .bind(&r.updated_at)
    .bind(&r.completed_at)
    .bind(t.as_str())
    .bind(item.category.as_str())
    .execute(ex)
    .await?;
    Ok(res.rows_affected() == 1)
}

/// Writes the mutable fields of an item (by id).
pub async fn update_item<'e>(
    ex: impl Executor<'e, Database = Any>,
    t: &TenantId,
    r: &ItemRecord,
) -> Result<(), sqlx::Error> {
    let item = &r.item;
    sqlx::query(
        "UPDATE items SET name = $1, kind = $2, uom = $3, standard_cost = $4, reorder_point = $5,
                active = $6, status = $7, updated_at = $8, completed_at = $9, category = $12
         WHERE tenant_id = $11 AND id = $10",
    )
    .bind(&item.name)
    .bind(item.kind.as_str())
    .bind(&item.uom)
    .bind(item.standard_cost)
    .bind(item.reorder_point)
    .bind(i64::from(item.active))
    .bind(item.status.as_str())
    .bind(&r.updated_at)
    .bind(&r.completed_at)
    .bind(&r.id)
    .bind(t.as_str())
    .bind(item.category.as_str())
    .execute(ex)
    .await?;
    Ok(())
}

/// The item with `sku`.
pub async fn find_by_sku<'e>(
    ex: impl Executor<'e, Database = Any>,
    t: &TenantId,
    sku: &str,
) -> Result<Option<ItemRecord>, sqlx::Error> {
    find_where(ex, t, "sku = $1", sku).await
}

/// The original API's product `id`: the finished good with that id.
pub async fn find_product<'e>(
    ex: impl Executor<'e, Database = Any>,
    t: &TenantId,
    id: &str,
) -> Result<Option<ItemRecord>, sqlx::Error> {
    find_where(ex, t, "id = $1 AND kind = 'finished_good'", id).await
}

/// The one item matching `cond` (on a unique column, bound as `$1`).
async fn find_where<'e>(
    ex: impl Executor<'e, Database = Any>,
    t: &TenantId,
    cond: &'static str,
    value: &str,
) -> Result<Option<ItemRecord>, sqlx::Error> {
    sqlx::query(sqlx::AssertSqlSafe(format!(
        "SELECT {ITEM_COLUMNS} FROM items WHERE tenant_id = $2 AND {cond}"
    )))
    .bind(value)
    .bind(t.as_str())
    .fetch_optional(ex)
    .await?
    .as_ref()
    .map(item_from)
    .transpose()
}

/// Filters of the item list; `None` is "any".
#[derive(Debug, Clone, Default)]
pub struct ItemFilter {
    pub kind: Option<Kind>,
    pub active: Option<bool>,
}

/// A page of items by SKU, and the total matching.
pub async fn list_items(
    tx: &mut Tx,
    t: &TenantId,
    filter: &ItemFilter,
    limit: u32,
    offset: i64,
) -> Result<(Vec<ItemRecord>, i64), sqlx::Error> {
    // '' and -1 stand for "no filter", so one SQL text serves every case.
    let kind = filter.kind.map_or("", Kind::as_str);
    let active = filter.active.map_or(-1, i64::from);
    let cond = "($1 = '' OR kind = $1) AND ($2 < 0 OR active = $2)";
    let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
        "SELECT {ITEM_COLUMNS} FROM items WHERE tenant_id = $5 AND {cond} ORDER BY sku LIMIT $3 OFFSET $4"
    )))
    .bind(kind)
    .bind(active)
    .bind(i64::from(limit))
    .bind(offset)
    .bind(t.as_str())
    .fetch_all(&mut *tx)
    .await?;
    let total: i64 = sqlx::query_scalar(sqlx::AssertSqlSafe(format!(
        "SELECT COUNT(*) FROM items WHERE tenant_id = $3 AND {cond}"
    )))
    .bind(kind)
    .bind(active)
    .bind(t.as_str())
    .fetch_one(&mut *tx)
    .await?;
    let items = rows.iter().map(item_from).collect::<Result<_, _>>()?;
    Ok((items, total))
}

/// Finished goods (the original API's products) with their on hand summed
/// over warehouses, oldest first.
pub async fn list_products<'e>(
    ex: impl Executor<'e, Database = Any>,
    t: &TenantId,
) -> Result<Vec<(ItemRecord, i64)>, sqlx::Error> {
    let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
        "SELECT {ITEM_COLUMNS},
                CAST(COALESCE((SELECT SUM(l.on_hand) FROM stock_levels l
                                         WHERE l.tenant_id = items.tenant_id AND l.sku = items.sku), 0) AS BIGINT) AS on_hand
         FROM items WHERE tenant_id = $1 AND kind = 'finished_good' ORDER BY created_at, id"
    )))
    .bind(t.as_str())
    .fetch_all(ex)
    .await?;
    rows.iter()
        .map(|r| Ok((item_from(r)?, r.try_get::<i64, _>("on_hand")?)))
        .collect()
}

/// On hand of an item summed over warehouses.
pub async fn on_hand_total<'e>(
    ex: impl Executor<'e, Database = Any>,
    t: &TenantId,
    sku: &str,
) -> Result<i64, sqlx::Error> {
    sqlx::query_scalar(
        "SELECT CAST(COALESCE(SUM(on_hand), 0) AS BIGINT) FROM stock_levels
         WHERE tenant_id = $2 AND sku = $1",
    )
    .bind(sku)
    .bind(t.as_str())
    .fetch_one(ex)
    .await
}

/// Whether any stock move names the item.
pub async fn has_moves<'e>(
    ex: impl Executor<'e, Database = Any>,
    t: &TenantId,
    sku: &str,
) -> Result<bool, sqlx::Error> {
    let n: i64 = sqlx::query_scalar(
        "SELECT COUNT(*) FROM (SELECT 1 AS one FROM stock_moves WHERE tenant_id = $2 AND sku = $1 LIMIT 1) t",
    )
    .bind(sku)
    .bind(t.as_str())
    .fetch_one(ex)
    .await?;
    Ok(n > 0)
}

// ---------------------------------------------------------------- units

pub async fn unit_exists<'e>(
    ex: impl Executor<'e, Database = Any>,
    t: &TenantId,
    code: &str,
) -> Result<bool, sqlx::Error> {
    code_exists(
        ex,
        t,
        "SELECT COUNT(*) FROM units WHERE tenant_id = $2 AND code = $1",
        code,
    )
    .await
}

/// Whether the reference row of `code` exists (`sql` counts it).
async fn code_exists<'e>(
    ex: impl Executor<'e, Database = Any>,
    t: &TenantId,
    sql: &'static str,
    code: &str,
) -> Result<bool, sqlx::Error> {
    let n: i64 = sqlx::query_scalar(sql)
        .bind(code)
        .bind(t.as_str())
        .fetch_one(ex)
        .await?;
    Ok(n > 0)
}

/// Inserts or renames a unit (from the config service's reference data).
pub async fn upsert_unit<'e>(
    ex: impl Executor<'e, Database = Any>,
    t: &TenantId,
    code: &str,
    name: &str,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO units (tenant_id, code, name) VALUES ($3, $1, $2)
         ON CONFLICT (tenant_id, code) DO UPDATE SET name = excluded.name",
    )
    .bind(code)
    .bind(name)
    .bind(t.as_str())
    .execute(ex)
    .await?;
    Ok(())
}

pub async fn list_units<'e>(
    ex: impl Executor<'e, Database = Any>,
    t: &TenantId,
) -> Result<Vec<(String, String)>, sqlx::Error> {
    let rows = sqlx::query("SELECT code, name FROM units WHERE tenant_id = $1 ORDER BY code")
        .bind(t.as_str())
        .fetch_all(ex)
        .await?;
    rows.iter()
        .map(|r| Ok((r.try_get("code")?, r.try_get("name")?)))
        .collect()
}

// ----------------------------------------------------------- warehouses

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WarehouseRecord {
    pub code: String,
    pub name: String,
    pub created_by: String,
    pub created_at: String,
}

/// Inserts a warehouse; `false` when the code is taken.
pub async fn insert_warehouse<'e>(
    ex: impl Executor<'e, Database = Any>,
    t: &TenantId,
    w: &WarehouseRecord,
) -> Result<bool, sqlx::Error> {
    let res = sqlx::query(
        "INSERT INTO warehouses (code, name, created_by, created_at, tenant_id)
         VALUES ($1, $2, $3, $4, $5)
         ON CONFLICT (tenant_id, code) DO NOTHING",
    )
    .bind(&w.code)
    .bind(&w.name)
    .bind(&w.created_by)
    .bind(&w.created_at)
    .bind(t.as_str())
    .execute(ex)
    .await?;
    Ok(res.rows_affected() == 1)
}

pub async fn warehouse_exists<'e>(
    ex: impl Executor<'e, Database = Any>,
    t: &TenantId,
    code: &str,
) -> Result<bool, sqlx::Error> {
    code_exists(
        ex,
        t,
        "SELECT COUNT(*) FROM warehouses WHERE tenant_id = $2 AND code = $1",
        code,
    )
    .await
}

pub async fn list_warehouses<'e>(
    ex: impl Executor<'e, Database = Any>,
    t: &TenantId,
) -> Result<Vec<WarehouseRecord>, sqlx::Error> {
    let rows = sqlx::query(
        "SELECT code, name, created_by, created_at FROM warehouses
         WHERE tenant_id = $1 ORDER BY code",
    )
    .bind(t.as_str())
    .fetch_all(ex)
    .await?;
    rows.iter()
        .map(|r| {
            Ok(WarehouseRecord {
                code: r.try_get("code")?,
                name: r.try_get("name")?,
                created_by: r.try_get("created_by")?,
                created_at: r.try_get("created_at")?,
            })
        })
        .collect()
}

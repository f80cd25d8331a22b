//! Figures for the dashboard.

use marimo_platform::{db::Tx, tenant::TenantId};
use sqlx::{Any, Executor, Row};

/// An active item whose on hand (over all warehouses) is below its
/// reorder point.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LowStock {
    pub sku: String,
    pub name: String,
    pub on_hand: i64,
    pub reorder_point: i64,
}

pub async fn low_stock<'e>(
    ex: impl Executor<'e, Database = Any>,
    t: &TenantId,
) -> Result<Vec<LowStock>, sqlx::Error> {
    let rows = sqlx::query(
        "SELECT sku, name, reorder_point, on_hand FROM (
           SELECT i.sku, i.name, i.reorder_point,
                  CAST(COALESCE((SELECT SUM(l.on_hand) FROM stock_levels l
                                    WHERE l.tenant_id = i.tenant_id AND l.sku = i.sku), 0) AS BIGINT) AS on_hand
           FROM items i WHERE i.tenant_id = $1 AND i.active = 1 AND i.reorder_point > 0
         ) t WHERE on_hand < reorder_point ORDER BY sku",
    )
    .bind(t.as_str())
    .fetch_all(ex)
    .await?;
    rows.iter()
        .map(|r| {
            Ok(LowStock {
                sku: r.try_get("sku")?,
                name: r.try_get("name")?,
                on_hand: r.try_get("on_hand")?,
                reorder_point: r.try_get("reorder_point")?,
            })
        })
        .collect()
}

/// (items, total stock value: the booked values, in minor units).
pub async fn totals(tx: &mut Tx, t: &TenantId) -> Result<(i64, i64), sqlx::Error> {
    let items: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM items WHERE tenant_id = $1")
        .bind(t.as_str())
        .fetch_one(&mut *tx)
        .await?;
    let value: i64 = sqlx::query_scalar(sqlx::AssertSqlSafe(format!(
        "SELECT CAST(COALESCE(SUM({}), 0) AS BIGINT) FROM stock_levels WHERE tenant_id = $1",
        super::stock::BOOKED_VALUE
    )))
    .bind(t.as_str())
    .fetch_one(&mut *tx)
    .await?;
    Ok((items, value))
}

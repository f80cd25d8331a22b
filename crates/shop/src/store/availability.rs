//! The availability read model (`stock_availability`): the factory's
//! bins as its `factory.stock.changed` events last told them.

use marimo_platform::tenant::TenantId;
use sqlx::{Any, Executor};

/// A bin as the factory reported it (thousandths).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Bin {
    pub sku: String,
    pub warehouse: String,
    pub on_hand: i64,
    pub reserved: i64,
    pub seq: i64,
}

/// Stores `bin` unless a report at least as new (`seq`) is stored
/// already; `true` when it was stored.
pub async fn apply<'e>(
    ex: impl Executor<'e, Database = Any>,
    t: &TenantId,
    bin: &Bin,
    now: &str,
) -> Result<bool, sqlx::Error> {
    let done = sqlx::query(
        "INSERT INTO stock_availability (tenant_id, sku, warehouse, on_hand, reserved, seq,
                                         updated_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7)
         ON CONFLICT (tenant_id, sku, warehouse) DO UPDATE
         SET on_hand = excluded.on_hand, reserved = excluded.reserved, seq = excluded.seq,
             updated_at = excluded.updated_at
         WHERE stock_availability.seq < excluded.seq",
    )
    .bind(t.as_str())
    .bind(&bin.sku)
    .bind(&bin.warehouse)
    .bind(bin.on_hand)
    .bind(bin.reserved)
    .bind(bin.seq)
    .bind(now)
    .execute(ex)
    .await?;
    Ok(done.rows_affected() == 1)
}

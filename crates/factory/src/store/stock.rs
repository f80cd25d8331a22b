//! Balances (`stock_levels`) and the ledger (`stock_moves`).
//!
//! Every decrement is a conditional update that refuses what the balance
//! cannot cover (`... WHERE on_hand - reserved >= $1`); callers check
//! `rows_affected`. Reads that a computation depends on go through
//! [`lock_level`], which locks the row first (a no-op UPDATE: a row lock on
//! PostgreSQL; SQLite's write transactions are exclusive already).

use marimo_platform::{TimeRange, db::Tx, tenant::TenantId};
use sqlx::{Any, Executor, Row, any::AnyRow};

use super::parse_stored;
use crate::domain::{
    items::{Category, Reason},
    valuation::Level,
};

/// A balance row's booked value in SQL: its fine `value` rounded half up
/// to the minor unit (`domain::money::booked`; values are never negative,
/// so integer division truncates the way half-up needs).
pub const BOOKED_VALUE: &str = "((value + 5000) / 10000)";

/// A stock move as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MoveRecord {
    pub id: String,
    pub sku: String,
    pub warehouse: String,
    /// Signed thousandths: in > 0, out < 0.
    pub qty: i64,
    /// Fine units per unit (the receipt's cost, or the average taken at).
    pub unit_cost: i64,
    /// Signed minor units: the change of the balance's booked value (what
    /// `factory.stock.moved` publishes).
    pub value: i64,
    /// Signed fine units: the exact change of the balance's value.
    pub fine_value: i64,
    /// The item's category when the move was made: where it was booked.
    pub category: Category,
    pub reason: Reason,
    pub reference: Option<String>,
    pub note: Option<String>,
    pub work_order_id: Option<String>,
    pub created_by: String,
    pub created_at: String,
}

const MOVE_COLUMNS: &str = "id, sku, warehouse, qty, unit_cost, value, fine_value, category, \
     reason, reference, note, work_order_id, created_by, created_at";

fn move_from(row: &AnyRow) -> Result<MoveRecord, sqlx::Error> {
    let reason: String = row.try_get("reason")?;
    let category: String = row.try_get("category")?;
    Ok(MoveRecord {
        id: row.try_get("id")?,
        sku: row.try_get("sku")?,
        warehouse: row.try_get("warehouse")?,
        qty: row.try_get("qty")?,
        unit_cost: row.try_get("unit_cost")?,
        value: row.try_get("value")?,
        fine_value: row.try_get("fine_value")?,
        category: parse_stored(&category)?,
        reason: parse_stored(&reason)?,
        reference: row.try_get("reference")?,
        note: row.try_get("note")?,
        work_order_id: row.try_get("work_order_id")?,
        created_by: row.try_get("created_by")?,
        created_at: row.try_get("created_at")?,
    })
}

pub async fn insert_move<'e>(
    ex: impl Executor<'e, Database = Any>,
    t: &TenantId,
    m: &MoveRecord,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO stock_moves (id, sku, warehouse, qty, unit_cost, value, reason, reference,
                                  note, work_order_id, created_by, created_at, tenant_id,
                                  fine_value, category)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15)",
    )
    .bind(&m.id)
    .bind(&m.sku)
    .bind(&m.warehouse)
    .bind(m.qty)
    .bind(m.unit_cost)
    .bind(m.value)
    .bind(m.reason.as_str())
    .bind(&m.reference)
    .bind(&m.note)
    .bind(&m.work_order_id)
    .bind(&m.created_by)
    .bind(&m.created_at)
    .bind(t.as_str())
    .bind(m.fine_value)
    .bind(m.category.as_str())
    .execute(ex)
    .await?;
    Ok(())
}

/// Creates the (empty) balance row when it does not exist yet.
pub async fn ensure_level<'e>(
    ex: impl Executor<'e, Database = Any>,
    t: &TenantId,
    sku: &str,
    warehouse: &str,
    now: &str,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO stock_levels (tenant_id, sku, warehouse, on_hand, reserved, value, updated_at)
         VALUES ($4, $1, $2, 0, 0, 0, $3)
         ON CONFLICT (tenant_id, sku, warehouse) DO NOTHING",
    )
    .bind(sku)
    .bind(warehouse)
    .bind(now)
    .bind(t.as_str())
    .execute(ex)
    .await?;
    Ok(())
}

fn level_from(row: &AnyRow) -> Result<Level, sqlx::Error> {
    Ok(Level {
        on_hand: row.try_get("on_hand")?,
        reserved: row.try_get("reserved")?,
        value: row.try_get("value")?,
    })
}

/// Locks the balance row for the rest of the transaction and reads it.
pub async fn lock_level<'e>(
    ex: impl Executor<'e, Database = Any>,
    t: &TenantId,
    sku: &str,
    warehouse: &str,
) -> Result<Option<Level>, sqlx::Error> {
    sqlx::query(
        "UPDATE stock_levels SET on_hand = on_hand
         WHERE tenant_id = $3 AND sku = $1 AND warehouse = $2
         RETURNING on_hand, reserved, value",
    )
    .bind(sku)
    .bind(warehouse)
    .bind(t.as_str())
    .fetch_optional(ex)
    .await?
    .as_ref()
    .map(level_from)
    .transpose()
}

/// Reads a balance without locking it.
pub async fn read_level<'e>(
    ex: impl Executor<'e, Database = Any>,
    t: &TenantId,
    sku: &str,
    warehouse: &str,
) -> Result<Option<Level>, sqlx::Error> {
    sqlx::query(
        "SELECT on_hand, reserved, value FROM stock_levels
         WHERE tenant_id = $3 AND sku = $1 AND warehouse = $2",
    )
    .bind(sku)
    .bind(warehouse)
    .bind(t.as_str())
    .fetch_optional(ex)
    .await?
    .as_ref()
    .map(level_from)
    .transpose()
}

/// A change of a balance row. Each is one conditional update that
/// refuses what the row cannot cover, so a change applies whole or not at
/// all, whatever runs concurrently.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Change {
    /// Adds `qty` worth `value` (the row must exist: see [`ensure_level`]).
    Add,
    /// Takes `qty` worth `value` out of the **available** stock.
    TakeAvailable,
    /// Takes `qty` worth `value` out of what is **reserved** (consuming
    /// the reservation).
    TakeReserved,
    /// Reserves `qty` of the available stock. The condition is evaluated
    /// on the latest committed row (PostgreSQL re-checks it after waiting
    /// for a concurrent writer), so concurrent reservations can never
    /// exceed what is on hand.
    Reserve,
    /// Gives back `qty` of a reservation.
    Unreserve,
}

impl Change {
    /// `$1` qty, `$2` now, `$3` SKU, `$4` warehouse, `$5` tenant, and `$6`
    /// value for the changes that move value.
    fn sql(self) -> &'static str {
        match self {
            Self::Add => {
                "UPDATE stock_levels SET on_hand = on_hand + $1, value = value + $6, updated_at = $2, seq = seq + 1
                 WHERE tenant_id = $5 AND sku = $3 AND warehouse = $4"
            }
            Self::TakeAvailable => {
                "UPDATE stock_levels SET on_hand = on_hand - $1, value = value - $6, updated_at = $2, seq = seq + 1
                 WHERE tenant_id = $5 AND sku = $3 AND warehouse = $4 AND on_hand - reserved >= $1 AND value >= $6"
            }
            Self::TakeReserved => {
                "UPDATE stock_levels
                 SET on_hand = on_hand - $1, reserved = reserved - $1, value = value - $6, updated_at = $2, seq = seq + 1
                 WHERE tenant_id = $5 AND sku = $3 AND warehouse = $4 AND reserved >= $1 AND on_hand >= $1 AND value >= $6"
            }
            Self::Reserve => {
                "UPDATE stock_levels SET reserved = reserved + $1, updated_at = $2, seq = seq + 1
                 WHERE tenant_id = $5 AND sku = $3 AND warehouse = $4 AND on_hand - reserved >= $1"
            }
            Self::Unreserve => {
                "UPDATE stock_levels SET reserved = reserved - $1, updated_at = $2, seq = seq + 1
                 WHERE tenant_id = $5 AND sku = $3 AND warehouse = $4 AND reserved >= $1"
            }
        }
    }

    fn moves_value(self) -> bool {
        matches!(self, Self::Add | Self::TakeAvailable | Self::TakeReserved)
    }
}

/// Applies `change` of `qty` (worth `value`, for the changes that move
/// value) to the balance of `(sku, warehouse)`; `false`, and nothing
/// changed, when the row cannot cover it.
pub async fn apply<'e>(
    ex: impl Executor<'e, Database = Any>,
    t: &TenantId,
    change: Change,
    (sku, warehouse): (&str, &str),
    qty: i64,
    value: i64,
    now: &str,
) -> Result<bool, sqlx::Error> {
    let mut q = sqlx::query(change.sql())
        .bind(qty)
        .bind(now)
        .bind(sku)
        .bind(warehouse)
        .bind(t.as_str());
    // PostgreSQL refuses a parameter the text does not use.
    if change.moves_value() {
        q = q.bind(value);
    }
    Ok(q.execute(ex).await?.rows_affected() == 1)
}

/// A bin's state after the changes of a transaction, with its change
/// counter (`factory.stock.changed`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BinState {
    pub on_hand: i64,
    pub reserved: i64,
    pub seq: i64,
}

/// Reads a bin's quantities and change counter (in a transaction that
/// changed it, so the row is this transaction's to read).
pub async fn bin_state<'e>(
    ex: impl Executor<'e, Database = Any>,
    t: &TenantId,
    sku: &str,
    warehouse: &str,
) -> Result<Option<BinState>, sqlx::Error> {
    let row = sqlx::query(
        "SELECT on_hand, reserved, seq FROM stock_levels
         WHERE tenant_id = $3 AND sku = $1 AND warehouse = $2",
    )
    .bind(sku)
    .bind(warehouse)
    .bind(t.as_str())
    .fetch_optional(ex)
    .await?;
    row.map(|r| {
        Ok(BinState {
            on_hand: r.try_get("on_hand")?,
            reserved: r.try_get("reserved")?,
            seq: r.try_get("seq")?,
        })
    })
    .transpose()
}

/// A balance row for the API.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LevelRecord {
    pub sku: String,
    pub warehouse: String,
    pub level: Level,
}

/// Balances, filtered by SKU and/or warehouse ('' = any).
pub async fn list_levels<'e>(
    ex: impl Executor<'e, Database = Any>,
    t: &TenantId,
    sku: &str,
    warehouse: &str,
) -> Result<Vec<LevelRecord>, sqlx::Error> {
    let rows = sqlx::query(
        "SELECT sku, warehouse, on_hand, reserved, value FROM stock_levels
         WHERE tenant_id = $3 AND ($1 = '' OR sku = $1) AND ($2 = '' OR warehouse = $2)
         ORDER BY sku, warehouse",
    )
    .bind(sku)
    .bind(warehouse)
    .bind(t.as_str())
    .fetch_all(ex)
    .await?;
    rows.iter()
        .map(|r| {
            Ok(LevelRecord {
                sku: r.try_get("sku")?,
                warehouse: r.try_get("warehouse")?,
                level: level_from(r)?,
            })
        })
        .collect()
}

/// Filters of the move list: SKU ('' = any), and when the move was made.
#[derive(Debug, Clone, Default)]
pub struct MoveFilter {
    pub sku: String,
    pub made: TimeRange,
}

/// A page of moves, newest first, and the total matching.
pub async fn list_moves(
    tx: &mut Tx,
    t: &TenantId,
    f: &MoveFilter,
    limit: u32,
    offset: i64,
) -> Result<(Vec<MoveRecord>, i64), sqlx::Error> {
    // The range as storage text, '' for an open bound: `start` is the
    // first instant that counts, `end` the first that no longer does.
    let start = f.made.start_text().unwrap_or_default();
    let end = f.made.end_text().unwrap_or_default();
    let cond =
        "($1 = '' OR sku = $1) AND ($2 = '' OR created_at >= $2) AND ($3 = '' OR created_at < $3)";
    let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
        "SELECT {MOVE_COLUMNS} FROM stock_moves WHERE tenant_id = $6 AND {cond}
         ORDER BY created_at DESC, id DESC LIMIT $4 OFFSET $5"
    )))
    .bind(&f.sku)
    .bind(&start)
    .bind(&end)
    .bind(i64::from(limit))
    .bind(offset)
    .bind(t.as_str())
    .fetch_all(&mut *tx)
    .await?;
    let total: i64 = sqlx::query_scalar(sqlx::AssertSqlSafe(format!(
        "SELECT COUNT(*) FROM stock_moves WHERE tenant_id = $4 AND {cond}"
    )))
    .bind(&f.sku)
    .bind(&start)
    .bind(&end)
    .bind(t.as_str())
    .fetch_one(&mut *tx)
    .await?;
    let moves = rows.iter().map(move_from).collect::<Result<_, _>>()?;
    Ok((moves, total))
}

/// The moves of a work order, oldest first.
pub async fn moves_of_work_order<'e>(
    ex: impl Executor<'e, Database = Any>,
    t: &TenantId,
    work_order_id: &str,
) -> Result<Vec<MoveRecord>, sqlx::Error> {
    let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
        "SELECT {MOVE_COLUMNS} FROM stock_moves WHERE tenant_id = $2 AND work_order_id = $1
         ORDER BY created_at, id"
    )))
    .bind(work_order_id)
    .bind(t.as_str())
    .fetch_all(ex)
    .await?;
    rows.iter().map(move_from).collect()
}

/// What `sku` was shipped at under `reference`: the fine value and the
/// quantity of its `shipment` moves with that reference (both positive);
/// `None` when there are none.
pub async fn shipped_at<'e>(
    ex: impl Executor<'e, Database = Any>,
    t: &TenantId,
    sku: &str,
    reference: &str,
) -> Result<Option<(i64, i64)>, sqlx::Error> {
    let row = sqlx::query(
        "SELECT CAST(COALESCE(-SUM(fine_value), 0) AS BIGINT) AS fine,
                CAST(COALESCE(-SUM(qty), 0) AS BIGINT) AS qty
         FROM stock_moves
         WHERE tenant_id = $1 AND sku = $2 AND reference = $3 AND reason = 'shipment'",
    )
    .bind(t.as_str())
    .bind(sku)
    .bind(reference)
    .fetch_one(ex)
    .await?;
    let (fine, qty): (i64, i64) = (row.try_get("fine")?, row.try_get("qty")?);
    Ok((qty > 0).then_some((fine, qty)))
}

/// One line of the valuation: an item in a warehouse, under a category.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ValuationLine {
    pub category: Category,
    pub warehouse: String,
    pub sku: String,
    /// Thousandths on hand.
    pub qty: i64,
    /// Booked value, minor units: the sum of the moves' `value`.
    pub value: i64,
}

/// The stock as the ledger booked it up to `before` (storage text; ''
/// for every move): per category, warehouse and SKU, the sums of the
/// moves' quantities and booked values — what `factory.stock.moved`
/// published. Lines that net to nothing are left out.
pub async fn valuation<'e>(
    ex: impl Executor<'e, Database = Any>,
    t: &TenantId,
    before: &str,
) -> Result<Vec<ValuationLine>, sqlx::Error> {
    let rows = sqlx::query(
        "SELECT category, warehouse, sku,
                CAST(SUM(qty) AS BIGINT) AS qty, CAST(SUM(value) AS BIGINT) AS value
         FROM stock_moves
         WHERE tenant_id = $1 AND ($2 = '' OR created_at < $2)
         GROUP BY category, warehouse, sku
         HAVING SUM(qty) <> 0 OR SUM(value) <> 0
         ORDER BY category, warehouse, sku",
    )
    .bind(t.as_str())
    .bind(before)
    .fetch_all(ex)
    .await?;
    rows.iter()
        .map(|r| {
            let category: String = r.try_get("category")?;
            Ok(ValuationLine {
                category: parse_stored(&category)?,
                warehouse: r.try_get("warehouse")?,
                sku: r.try_get("sku")?,
                qty: r.try_get("qty")?,
                value: r.try_get("value")?,
            })
        })
        .collect()
}

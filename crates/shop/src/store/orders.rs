//! Orders, their lines, history and payments. A status only changes
//! through a conditional update on the status it is expected to have, so
//! of two concurrent transitions (two replicas, a customer and the expiry
//! sweep) exactly one applies.
//!
//! Every function acts in one tenant and binds `tenant_id` in every
//! statement, except the two that look across tenants on purpose for
//! system work ([`due_for_expiry`], [`tenant_of`]), which run in
//! `Db::all_tenants` transactions and only return where to act.

use std::collections::HashMap;

use marimo_platform::db::Exec;
use marimo_platform::db::{Conn, ConnHandle, TxConn};
use marimo_platform::tenant::TenantId;
use sqlx::{AssertSqlSafe, Row, any::AnyRow};

use super::{decode_err, placeholders};
use crate::domain::{
    order::{Order, OrderItem, Status},
    pricing::TaxRate,
};

macro_rules! order_columns {
    () => {
        "id, user_id, email, status, currency, subtotal, tax, total, tax_rate, created_at, updated_at, expires_at"
    };
}

/// An order row without its items.
fn head_from(row: &AnyRow) -> Result<Order, sqlx::Error> {
    let status: String = row.try_get("status")?;
    let rate: i64 = row.try_get("tax_rate")?;
    Ok(Order {
        id: row.try_get("id")?,
        user_id: row.try_get("user_id")?,
        email: row.try_get("email")?,
        status: status.parse().map_err(decode_err)?,
        currency: row.try_get("currency")?,
        subtotal: row.try_get("subtotal")?,
        tax: row.try_get("tax")?,
        total: row.try_get("total")?,
        tax_rate: TaxRate::from_millionths(rate)
            .ok_or_else(|| decode_err(format!("bad stored tax rate {rate}")))?,
        created_at: row.try_get("created_at")?,
        updated_at: row.try_get("updated_at")?,
        expires_at: row.try_get("expires_at")?,
        items: Vec::new(),
    })
}

/// Inserts the order and its lines.
pub async fn insert(conn: &mut TxConn, t: &TenantId, o: &Order) -> Result<(), sqlx::Error> {
    sqlx::query(concat!(
        "INSERT INTO orders (",
        order_columns!(),
        ", tenant_id) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)"
    ))
    .bind(&o.id)
    .bind(&o.user_id)
    .bind(&o.email)
    .bind(o.status.as_str())
    .bind(&o.currency)
    .bind(o.subtotal)
    .bind(o.tax)
    .bind(o.total)
    .bind(o.tax_rate.millionths())
    .bind(&o.created_at)
    .bind(&o.updated_at)
    .bind(&o.expires_at)
    .bind(t.as_str())
    .execute(&mut *conn)
    .await?;
    for (no, item) in o.items.iter().enumerate() {
        sqlx::query(
            "INSERT INTO order_items
               (order_id, line_no, product_id, sku, name, unit_price, quantity, line_total, tenant_id)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
        )
        .bind(&o.id)
        .bind(no as i64)
        .bind(&item.product_id)
        .bind(&item.sku)
        .bind(&item.name)
        .bind(item.unit_price)
        .bind(item.quantity)
        .bind(item.line_total)
        .bind(t.as_str())
        .execute(&mut *conn)
        .await?;
    }
    Ok(())
}

/// The order with its lines.
pub async fn find<C: ConnHandle>(
    conn: &mut Conn<C>,
    t: &TenantId,
    id: &str,
) -> Result<Option<Order>, sqlx::Error> {
    let row = sqlx::query(concat!(
        "SELECT ",
        order_columns!(),
        " FROM orders WHERE id = $1 AND tenant_id = $2"
    ))
    .bind(id)
    .bind(t.as_str())
    .fetch_optional(&mut *conn)
    .await?;
    let Some(row) = row else {
        return Ok(None);
    };
    let mut order = head_from(&row)?;
    let mut items = items_of(&mut *conn, t, &[order.id.as_str()]).await?;
    order.items = items.remove(&order.id).unwrap_or_default();
    Ok(Some(order))
}

fn item_from(row: &AnyRow) -> Result<(String, OrderItem), sqlx::Error> {
    Ok((
        row.try_get("order_id")?,
        OrderItem {
            product_id: row.try_get("product_id")?,
            sku: row.try_get("sku")?,
            name: row.try_get("name")?,
            quantity: row.try_get("quantity")?,
            unit_price: row.try_get("unit_price")?,
            line_total: row.try_get("line_total")?,
        },
    ))
}

/// The lines of these orders, by order id, in line order.
async fn items_of<'e>(
    ex: impl Exec<'e>,
    t: &TenantId,
    ids: &[&str],
) -> Result<HashMap<String, Vec<OrderItem>>, sqlx::Error> {
    let mut by_order: HashMap<String, Vec<OrderItem>> = HashMap::new();
    if ids.is_empty() {
        return Ok(by_order);
    }
    // Only numbered placeholders are spliced in; the ids are bound.
    let sql = format!(
        "SELECT order_id, line_no, product_id, sku, name, unit_price, quantity, line_total
         FROM order_items WHERE tenant_id = $1 AND order_id IN ({}) ORDER BY order_id, line_no",
        placeholders(2, ids.len())
    );
    let mut q = sqlx::query(AssertSqlSafe(sql)).bind(t.as_str());
    for id in ids {
        q = q.bind(*id);
    }
    for row in q.fetch_all(ex).await? {
        let (order_id, item) = item_from(&row)?;
        by_order.entry(order_id).or_default().push(item);
    }
    Ok(by_order)
}

/// Order listing filters; `None` means "any".
#[derive(Debug, Clone, Default)]
pub struct Filter {
    pub user_id: Option<String>,
    pub status: Option<Status>,
    /// Inclusive lower bound of `created_at` (storage format).
    pub from: Option<String>,
    /// Exclusive upper bound of `created_at` (storage format).
    pub until: Option<String>,
}

macro_rules! order_filter {
    () => {
        " WHERE tenant_id = $1
            AND ($2 = '' OR user_id = $2)
            AND ($3 = '' OR status = $3)
            AND ($4 = '' OR created_at >= $4)
            AND ($5 = '' OR created_at < $5)"
    };
}

/// A page of orders (newest first) with their lines, and the number of all
/// that match.
pub async fn list(
    conn: &mut TxConn,
    t: &TenantId,
    f: &Filter,
    limit: u32,
    offset: i64,
) -> Result<(Vec<Order>, i64), sqlx::Error> {
    let bind = |sql: &'static str| {
        sqlx::query(sql)
            .bind(t.as_str())
            .bind(f.user_id.clone().unwrap_or_default())
            .bind(f.status.map(|s| s.as_str()).unwrap_or_default())
            .bind(f.from.clone().unwrap_or_default())
            .bind(f.until.clone().unwrap_or_default())
    };
    let total: i64 = bind(concat!("SELECT COUNT(*) AS n FROM orders", order_filter!()))
        .fetch_one(&mut *conn)
        .await?
        .try_get("n")?;
    let rows = bind(concat!(
        "SELECT ",
        order_columns!(),
        " FROM orders",
        order_filter!(),
        " ORDER BY created_at DESC, id DESC LIMIT $6 OFFSET $7"
    ))
    .bind(i64::from(limit))
    .bind(offset)
    .fetch_all(&mut *conn)
    .await?;
    let mut orders = rows.iter().map(head_from).collect::<Result<Vec<_>, _>>()?;
    let ids: Vec<&str> = orders.iter().map(|o| o.id.as_str()).collect();
    let mut items = items_of(&mut *conn, t, &ids).await?;
    for o in &mut orders {
        o.items = items.remove(&o.id).unwrap_or_default();
    }
    Ok((orders, total))
}

/// Moves the order from `from` to `to` if it is still in `from`; `false`
/// when another transition got there first.
pub async fn set_status<'e>(
    ex: impl Exec<'e>,
    t: &TenantId,
    id: &str,
    from: Status,
    to: Status,
    now: &str,
) -> Result<bool, sqlx::Error> {
    let res = sqlx::query(
        "UPDATE orders SET status = $3, updated_at = $4
         WHERE id = $1 AND tenant_id = $5 AND status = $2",
    )
    .bind(id)
    .bind(from.as_str())
    .bind(to.as_str())
    .bind(now)
    .bind(t.as_str())
    .execute(ex)
    .await?;
    Ok(res.rows_affected() == 1)
}

/// Expires the order if it is still pending and past its deadline; `true`
/// for the one caller (replica, request) whose update applied.
pub async fn expire_if_due<'e>(
    ex: impl Exec<'e>,
    t: &TenantId,
    id: &str,
    now: &str,
) -> Result<bool, sqlx::Error> {
    let res = sqlx::query(
        "UPDATE orders SET status = 'expired', updated_at = $2
         WHERE id = $1 AND tenant_id = $3 AND status = 'pending' AND expires_at < $2",
    )
    .bind(id)
    .bind(now)
    .bind(t.as_str())
    .execute(ex)
    .await?;
    Ok(res.rows_affected() == 1)
}

/// Pending orders past their deadline in every tenant, oldest deadline
/// first, as `(tenant, order id)`: the sweep's work list, read in a
/// `Db::all_tenants` transaction (no tenant filter, on purpose). Each
/// order is then expired in its own tenant's transaction.
pub async fn due_for_expiry<'e>(
    ex: impl Exec<'e>,
    now: &str,
    limit: i64,
) -> Result<Vec<(TenantId, String)>, sqlx::Error> {
    let rows = sqlx::query(
        "SELECT tenant_id, id FROM orders WHERE status = 'pending' AND expires_at < $1
         ORDER BY expires_at LIMIT $2",
    )
    .bind(now)
    .bind(limit)
    .fetch_all(ex)
    .await?;
    rows.iter()
        .map(|r| Ok((tenant_from(r)?, r.try_get("id")?)))
        .collect()
}

fn tenant_from(row: &AnyRow) -> Result<TenantId, sqlx::Error> {
    let text: String = row.try_get("tenant_id")?;
    TenantId::parse(&text).map_err(|_| decode_err(format!("bad stored tenant id {text:?}")))
}

/// The tenant order `id` belongs to, in any tenant: read in a
/// `Db::all_tenants` transaction by the payment provider's callback, which
/// has no token to take a tenant from (see `Shop::provider_paid`).
pub async fn tenant_of<'e>(ex: impl Exec<'e>, id: &str) -> Result<Option<TenantId>, sqlx::Error> {
    sqlx::query("SELECT tenant_id FROM orders WHERE id = $1")
        .bind(id)
        .fetch_optional(ex)
        .await?
        .as_ref()
        .map(tenant_from)
        .transpose()
}

/// One step of an order's history.
pub struct HistoryEntry<'a> {
    pub order_id: &'a str,
    pub from: Option<Status>,
    pub to: Status,
    pub actor: &'a str,
    pub reason: Option<&'a str>,
    pub at: &'a str,
}

pub async fn append_history<'e>(
    ex: impl Exec<'e>,
    t: &TenantId,
    e: &HistoryEntry<'_>,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO order_events
           (id, order_id, from_status, to_status, actor, reason, created_at, tenant_id)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
    )
    .bind(marimo_platform::ids::new_id())
    .bind(e.order_id)
    .bind(e.from.map(Status::as_str))
    .bind(e.to.as_str())
    .bind(e.actor)
    .bind(e.reason)
    .bind(e.at)
    .bind(t.as_str())
    .execute(ex)
    .await?;
    Ok(())
}

/// The order's history, oldest first, as API JSON.
/// One step of an order's history, as stored.
#[derive(Debug, Clone)]
pub struct HistoryRow {
    pub from: Option<String>,
    pub to: String,
    pub actor: String,
    pub reason: Option<String>,
    pub at: String,
}

pub async fn history<'e>(
    ex: impl Exec<'e>,
    t: &TenantId,
    order_id: &str,
) -> Result<Vec<HistoryRow>, sqlx::Error> {
    let rows = sqlx::query(
        "SELECT from_status, to_status, actor, reason, created_at FROM order_events
         WHERE tenant_id = $2 AND order_id = $1 ORDER BY id",
    )
    .bind(order_id)
    .bind(t.as_str())
    .fetch_all(ex)
    .await?;
    rows.iter()
        .map(|r| {
            Ok(HistoryRow {
                from: r.try_get("from_status")?,
                to: r.try_get("to_status")?,
                actor: r.try_get("actor")?,
                reason: r.try_get("reason")?,
                at: r.try_get("created_at")?,
            })
        })
        .collect()
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PaymentKind {
    Capture,
    Refund,
}

impl PaymentKind {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Capture => "capture",
            Self::Refund => "refund",
        }
    }
}

/// Records a simulated payment of the order's total.
/// How a capture was received and who recorded it (refunds have none).
#[derive(Debug, Clone, Copy)]
pub struct Proof<'a> {
    pub method: &'a str,
    pub reference: &'a str,
    /// The staff member's user id, or `payment-provider`.
    pub recorded_by: &'a str,
}

pub async fn record_payment<'e>(
    ex: impl Exec<'e>,
    t: &TenantId,
    order: &Order,
    kind: PaymentKind,
    proof: Option<Proof<'_>>,
    now: &str,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO payments
           (id, order_id, kind, amount, currency, created_at, method, reference, recorded_by,
            tenant_id)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
    )
    .bind(marimo_platform::ids::new_id())
    .bind(&order.id)
    .bind(kind.as_str())
    .bind(order.total)
    .bind(&order.currency)
    .bind(now)
    .bind(proof.map(|p| p.method))
    .bind(proof.map(|p| p.reference))
    .bind(proof.map(|p| p.recorded_by))
    .bind(t.as_str())
    .execute(ex)
    .await?;
    Ok(())
}

/// Notes a provider callback as applied; `false` when its event id was
/// applied before (a replay).
pub async fn note_callback<'e>(
    ex: impl Exec<'e>,
    t: &TenantId,
    event_id: &str,
    order_id: &str,
    now: &str,
) -> Result<bool, sqlx::Error> {
    let done = sqlx::query(
        "INSERT INTO payment_callbacks (tenant_id, event_id, order_id, received_at)
         VALUES ($4, $1, $2, $3)
         ON CONFLICT (tenant_id, event_id) DO NOTHING",
    )
    .bind(event_id)
    .bind(order_id)
    .bind(now)
    .bind(t.as_str())
    .execute(ex)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// The order's payments, oldest first, as API JSON.
/// A payment of an order, as stored (amount in minor units).
#[derive(Debug, Clone)]
pub struct PaymentRow {
    pub id: String,
    pub kind: String,
    pub amount: i64,
    pub currency: String,
    pub created_at: String,
    pub method: Option<String>,
    pub reference: Option<String>,
}

pub async fn payments<'e>(
    ex: impl Exec<'e>,
    t: &TenantId,
    order_id: &str,
) -> Result<Vec<PaymentRow>, sqlx::Error> {
    let rows = sqlx::query(
        "SELECT id, kind, amount, currency, created_at, method, reference FROM payments
         WHERE tenant_id = $2 AND order_id = $1 ORDER BY id",
    )
    .bind(order_id)
    .bind(t.as_str())
    .fetch_all(ex)
    .await?;
    rows.iter()
        .map(|r| {
            Ok(PaymentRow {
                id: r.try_get("id")?,
                kind: r.try_get("kind")?,
                amount: r.try_get("amount")?,
                currency: r.try_get("currency")?,
                created_at: r.try_get("created_at")?,
                method: r.try_get("method")?,
                reference: r.try_get("reference")?,
            })
        })
        .collect()
}

/// Orders per status.
pub async fn count_by_status<'e>(
    ex: impl Exec<'e>,
    t: &TenantId,
) -> Result<Vec<(Status, i64)>, sqlx::Error> {
    let rows = sqlx::query(
        "SELECT status, COUNT(*) AS n FROM orders WHERE tenant_id = $1 GROUP BY status",
    )
    .bind(t.as_str())
    .fetch_all(ex)
    .await?;
    rows.iter()
        .map(|r| {
            let s: String = r.try_get("status")?;
            Ok((s.parse().map_err(decode_err)?, r.try_get("n")?))
        })
        .collect()
}

/// Totals of orders whose money was taken and kept, per currency.
pub async fn revenue<'e>(
    ex: impl Exec<'e>,
    t: &TenantId,
) -> Result<Vec<(String, i64)>, sqlx::Error> {
    // PostgreSQL's SUM(bigint) is numeric, which sqlx Any cannot decode.
    let rows = sqlx::query(
        "SELECT currency, CAST(SUM(total) AS BIGINT) AS amount FROM orders
         WHERE tenant_id = $1 AND status IN ('paid', 'shipped', 'delivered')
         GROUP BY currency ORDER BY currency",
    )
    .bind(t.as_str())
    .fetch_all(ex)
    .await?;
    rows.iter()
        .map(|r| Ok((r.try_get("currency")?, r.try_get("amount")?)))
        .collect()
}

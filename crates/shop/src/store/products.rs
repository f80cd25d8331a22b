//! The catalog's SQL. Stock only ever changes through conditional or
//! relative updates (`stock = stock - $n WHERE stock >= $n`, `stock + $n`)
//! so concurrent writers can never lose each other's changes.
//!
//! Every function acts in one tenant: it binds `tenant_id` in every
//! statement (on PostgreSQL the row policies would refuse a foreign row
//! anyway; on SQLite this filter is the isolation).

use marimo_platform::db::Exec;
use marimo_platform::db::TxConn;
use marimo_platform::tenant::TenantId;
use sqlx::{AssertSqlSafe, Row, any::AnyRow};

use super::placeholders;
use crate::domain::catalog::{Product, Sort, search_key};

macro_rules! product_columns {
    () => {
        "id, sku, name, description, price, currency, stock, category, image_url, active, created_at, updated_at"
    };
}

fn product_from(row: &AnyRow) -> Result<Product, sqlx::Error> {
    Ok(Product {
        id: row.try_get("id")?,
        sku: row.try_get("sku")?,
        name: row.try_get("name")?,
        description: row.try_get("description")?,
        price: row.try_get("price")?,
        currency: row.try_get("currency")?,
        stock: row.try_get("stock")?,
        category: row.try_get("category")?,
        image_url: row.try_get("image_url")?,
        active: row.try_get::<i64, _>("active")? != 0,
        created_at: row.try_get("created_at")?,
        updated_at: row.try_get("updated_at")?,
    })
}

/// Inserts a product; a taken sku is a unique violation.
pub async fn insert<'e>(ex: impl Exec<'e>, t: &TenantId, p: &Product) -> Result<(), sqlx::Error> {
    sqlx::query(concat!(
        "INSERT INTO products (",
        product_columns!(),
        ", name_key, description_key, tenant_id)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15)"
    ))
    .bind(&p.id)
    .bind(&p.sku)
    .bind(&p.name)
    .bind(&p.description)
    .bind(p.price)
    .bind(&p.currency)
    .bind(p.stock)
    .bind(&p.category)
    .bind(&p.image_url)
    .bind(i64::from(p.active))
    .bind(&p.created_at)
    .bind(&p.updated_at)
    .bind(search_key(&p.name))
    .bind(search_key(&p.description))
    .bind(t.as_str())
    .execute(ex)
    .await?;
    Ok(())
}

pub async fn find<'e>(
    ex: impl Exec<'e>,
    t: &TenantId,
    id: &str,
) -> Result<Option<Product>, sqlx::Error> {
    sqlx::query(concat!(
        "SELECT ",
        product_columns!(),
        " FROM products WHERE id = $1 AND tenant_id = $2"
    ))
    .bind(id)
    .bind(t.as_str())
    .fetch_optional(ex)
    .await?
    .as_ref()
    .map(product_from)
    .transpose()
}

/// The products with these ids (those that exist, in no particular order).
pub async fn find_many(
    conn: &mut TxConn,
    t: &TenantId,
    ids: &[&str],
) -> Result<Vec<Product>, sqlx::Error> {
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    // Only numbered placeholders are spliced in; the ids are bound.
    let sql = format!(
        concat!(
            "SELECT ",
            product_columns!(),
            " FROM products WHERE tenant_id = $1 AND id IN ({})"
        ),
        placeholders(2, ids.len())
    );
    let mut q = sqlx::query(AssertSqlSafe(sql)).bind(t.as_str());
    for id in ids {
        q = q.bind(*id);
    }
    q.fetch_all(conn).await?.iter().map(product_from).collect()
}

/// Catalog listing filters; `None` means "any".
#[derive(Debug, Clone, Default)]
pub struct Filter {
    pub include_inactive: bool,
    /// A `LIKE` pattern over the lower-cased name and description.
    pub pattern: Option<String>,
    pub category: Option<String>,
    pub currency: Option<String>,
    pub min_price: Option<i64>,
    pub max_price: Option<i64>,
    pub sort: Sort,
}

/// One SQL text for every combination of filters: an unused filter is
/// bound as `''` or `-1`, which its condition treats as "any".
macro_rules! product_filter {
    () => {
        " WHERE tenant_id = $1
            AND ($2 = 1 OR active = 1)
            AND ($3 = '' OR name_key LIKE $3 ESCAPE '\\' OR description_key LIKE $3 ESCAPE '\\')
            AND ($4 = '' OR category = $4)
            AND ($5 = '' OR currency = $5)
            AND ($6 < 0 OR price >= $6)
            AND ($7 < 0 OR price <= $7)"
    };
}

/// A page of products and the number of all that match.
pub async fn list(
    conn: &mut TxConn,
    t: &TenantId,
    f: &Filter,
    limit: u32,
    offset: i64,
) -> Result<(Vec<Product>, i64), sqlx::Error> {
    let bind = |sql| {
        sqlx::query(sql)
            .bind(t.as_str())
            .bind(i64::from(f.include_inactive))
            .bind(f.pattern.clone().unwrap_or_default())
            .bind(f.category.clone().unwrap_or_default())
            .bind(f.currency.clone().unwrap_or_default())
            .bind(f.min_price.unwrap_or(-1))
            .bind(f.max_price.unwrap_or(-1))
    };
    let total: i64 = bind(AssertSqlSafe(
        concat!("SELECT COUNT(*) AS n FROM products", product_filter!()).to_owned(),
    ))
    .fetch_one(&mut *conn)
    .await?
    .try_get("n")?;
    // The ORDER BY comes from a fixed list (`Sort::order_by`).
    let sql = format!(
        concat!(
            "SELECT ",
            product_columns!(),
            " FROM products",
            product_filter!(),
            " ORDER BY {} LIMIT $8 OFFSET $9"
        ),
        f.sort.order_by()
    );
    let rows = bind(AssertSqlSafe(sql))
        .bind(i64::from(limit))
        .bind(offset)
        .fetch_all(&mut *conn)
        .await?;
    let products = rows.iter().map(product_from).collect::<Result<_, _>>()?;
    Ok((products, total))
}

/// Categories of active products with how many each has.
pub async fn categories<'e>(
    ex: impl Exec<'e>,
    t: &TenantId,
) -> Result<Vec<(String, i64)>, sqlx::Error> {
    let rows = sqlx::query(
        "SELECT category, COUNT(*) AS n FROM products
         WHERE tenant_id = $1 AND active = 1 AND category <> ''
         GROUP BY category ORDER BY category",
    )
    .bind(t.as_str())
    .fetch_all(ex)
    .await?;
    rows.iter()
        .map(|r| Ok((r.try_get("category")?, r.try_get("n")?)))
        .collect()
}

/// Writes every field except the stock (which only moves relatively, see
/// the module docs); `false` when there is no such product.
pub async fn update_fields<'e>(
    ex: impl Exec<'e>,
    t: &TenantId,
    p: &Product,
) -> Result<bool, sqlx::Error> {
    let res = sqlx::query(
        "UPDATE products SET sku = $2, name = $3, description = $4, price = $5, currency = $6,
                category = $7, image_url = $8, active = $9, updated_at = $10,
                name_key = $11, description_key = $12
         WHERE id = $1 AND tenant_id = $13",
    )
    .bind(&p.id)
    .bind(&p.sku)
    .bind(&p.name)
    .bind(&p.description)
    .bind(p.price)
    .bind(&p.currency)
    .bind(&p.category)
    .bind(&p.image_url)
    .bind(i64::from(p.active))
    .bind(&p.updated_at)
    .bind(search_key(&p.name))
    .bind(search_key(&p.description))
    .bind(t.as_str())
    .execute(ex)
    .await?;
    Ok(res.rows_affected() == 1)
}

/// Sets the stock to an absolute level (an admin's stock count).
pub async fn set_stock<'e>(
    ex: impl Exec<'e>,
    t: &TenantId,
    id: &str,
    stock: i64,
    now: &str,
) -> Result<bool, sqlx::Error> {
    let res = sqlx::query(
        "UPDATE products SET stock = $2, updated_at = $3 WHERE id = $1 AND tenant_id = $4",
    )
    .bind(id)
    .bind(stock)
    .bind(now)
    .bind(t.as_str())
    .execute(ex)
    .await?;
    Ok(res.rows_affected() == 1)
}

/// Adds `qty` units unless the stock would pass `max`; the product after
/// the change, or `None` (no such product, or over `max`).
pub async fn add_stock<'e>(
    ex: impl Exec<'e>,
    t: &TenantId,
    id: &str,
    qty: i64,
    max: i64,
    now: &str,
) -> Result<Option<Product>, sqlx::Error> {
    sqlx::query(concat!(
        "UPDATE products SET stock = stock + $2, updated_at = $4
         WHERE id = $1 AND tenant_id = $5 AND stock <= $3 - $2
         RETURNING ",
        product_columns!()
    ))
    .bind(id)
    .bind(qty)
    .bind(max)
    .bind(now)
    .bind(t.as_str())
    .fetch_optional(ex)
    .await?
    .as_ref()
    .map(product_from)
    .transpose()
}

/// Adds `qty` units to the product linked to `sku`; how many rows changed
/// (0 when no product has that sku).
pub async fn add_stock_by_sku<'e>(
    ex: impl Exec<'e>,
    t: &TenantId,
    sku: &str,
    qty: i64,
    now: &str,
) -> Result<u64, sqlx::Error> {
    Ok(sqlx::query(
        "UPDATE products SET stock = stock + $2, updated_at = $3
             WHERE tenant_id = $4 AND sku = $1",
    )
    .bind(sku)
    .bind(qty)
    .bind(now)
    .bind(t.as_str())
    .execute(ex)
    .await?
    .rows_affected())
}

/// The price and currency of a product at the moment its stock was
/// reserved (on PostgreSQL the row stays locked until the order commits).
#[derive(Debug, Clone)]
pub struct Reserved {
    pub price: i64,
    pub currency: String,
}

/// Takes `qty` units of an active product if that many are available,
/// atomically: the condition and the decrement are one statement, so
/// concurrent orders can never oversell. `None` when not reserved.
pub async fn reserve<'e>(
    ex: impl Exec<'e>,
    t: &TenantId,
    id: &str,
    qty: i64,
) -> Result<Option<Reserved>, sqlx::Error> {
    let row = sqlx::query(
        "UPDATE products SET stock = stock - $1
         WHERE id = $2 AND tenant_id = $3 AND stock >= $1 AND active = 1
         RETURNING price, currency",
    )
    .bind(qty)
    .bind(id)
    .bind(t.as_str())
    .fetch_optional(ex)
    .await?;
    row.map(|r| {
        Ok(Reserved {
            price: r.try_get("price")?,
            currency: r.try_get("currency")?,
        })
    })
    .transpose()
}

/// Puts `qty` units back (a cancelled or expired order).
pub async fn release<'e>(
    ex: impl Exec<'e>,
    t: &TenantId,
    id: &str,
    qty: i64,
) -> Result<(), sqlx::Error> {
    sqlx::query("UPDATE products SET stock = stock + $1 WHERE id = $2 AND tenant_id = $3")
        .bind(qty)
        .bind(id)
        .bind(t.as_str())
        .execute(ex)
        .await?;
    Ok(())
}

/// Whether any order ever included the product.
pub async fn ever_ordered<'e>(
    ex: impl Exec<'e>,
    t: &TenantId,
    id: &str,
) -> Result<bool, sqlx::Error> {
    let row = sqlx::query(
        "SELECT 1 AS one FROM order_items WHERE tenant_id = $2 AND product_id = $1 LIMIT 1",
    )
    .bind(id)
    .bind(t.as_str())
    .fetch_optional(ex)
    .await?;
    Ok(row.is_some())
}

pub async fn delete<'e>(ex: impl Exec<'e>, t: &TenantId, id: &str) -> Result<bool, sqlx::Error> {
    let res = sqlx::query("DELETE FROM products WHERE id = $1 AND tenant_id = $2")
        .bind(id)
        .bind(t.as_str())
        .execute(ex)
        .await?;
    Ok(res.rows_affected() == 1)
}

pub async fn deactivate<'e>(
    ex: impl Exec<'e>,
    t: &TenantId,
    id: &str,
    now: &str,
) -> Result<bool, sqlx::Error> {
    let res = sqlx::query(
        "UPDATE products SET active = 0, updated_at = $2 WHERE id = $1 AND tenant_id = $3",
    )
    .bind(id)
    .bind(now)
    .bind(t.as_str())
    .execute(ex)
    .await?;
    Ok(res.rows_affected() == 1)
}

/// `(active products, active products with stock <= threshold)`.
pub async fn stock_counts<'e>(
    ex: impl Exec<'e>,
    t: &TenantId,
    threshold: i64,
) -> Result<(i64, i64), sqlx::Error> {
    let row = sqlx::query(
        "SELECT COUNT(*) AS active,
                COALESCE(SUM(CASE WHEN stock <= $1 THEN 1 ELSE 0 END), 0) AS low
         FROM products WHERE tenant_id = $2 AND active = 1",
    )
    .bind(threshold)
    .bind(t.as_str())
    .fetch_one(ex)
    .await?;
    Ok((row.try_get("active")?, row.try_get("low")?))
}

//! Bills of materials: immutable versions; a product's active BOM is its
//! highest version.

use marimo_platform::{
    db::{Conn, ConnHandle},
    tenant::TenantId,
};
use sqlx::{Any, Executor, Row, any::AnyRow};

use crate::domain::bom::{Bom, Component, Graph};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BomRecord {
    pub id: String,
    pub product_sku: String,
    pub version: i64,
    /// Thousandths of the product this BOM makes.
    pub output_qty: i64,
    pub components: Vec<Component>,
    pub created_by: String,
    pub created_at: String,
    /// Whether this is the product's newest version.
    pub active: bool,
}

impl BomRecord {
    pub fn bom(&self) -> Bom {
        Bom {
            output_qty: self.output_qty,
            components: self.components.clone(),
        }
    }
}

/// Serialises BOM creation (see the `bom_lock` table).
pub async fn lock<'e>(
    ex: impl Executor<'e, Database = Any>,
    t: &TenantId,
) -> Result<(), sqlx::Error> {
    // An upsert: a tenant whose seeds never ran still gets its row, and
    // the update half takes the row's lock all the same.
    sqlx::query(
        "INSERT INTO bom_lock (tenant_id, id, bumps) VALUES ($1, 1, 1)
         ON CONFLICT (tenant_id, id) DO UPDATE SET bumps = bom_lock.bumps + 1",
    )
    .bind(t.as_str())
    .execute(ex)
    .await?;
    Ok(())
}

/// The product's highest version so far (0 when it has none).
pub async fn max_version<'e>(
    ex: impl Executor<'e, Database = Any>,
    t: &TenantId,
    product_sku: &str,
) -> Result<i64, sqlx::Error> {
    sqlx::query_scalar(
        "SELECT CAST(COALESCE(MAX(version), 0) AS BIGINT) FROM boms
         WHERE tenant_id = $2 AND product_sku = $1",
    )
    .bind(product_sku)
    .bind(t.as_str())
    .fetch_one(ex)
    .await
}

pub async fn insert_header<'e>(
    ex: impl Executor<'e, Database = Any>,
    t: &TenantId,
    b: &BomRecord,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO boms (id, product_sku, version, output_qty, created_by, created_at, tenant_id)
         VALUES ($1, $2, $3, $4, $5, $6, $7)",
    )
    .bind(&b.id)
    .bind(&b.product_sku)
    .bind(b.version)
    .bind(b.output_qty)
    .bind(&b.created_by)
    .bind(&b.created_at)
    .bind(t.as_str())
    .execute(ex)
    .await?;
    Ok(())
}

pub async fn insert_component<'e>(
    ex: impl Executor<'e, Database = Any>,
    t: &TenantId,
    bom_id: &str,
    line: i64,
    c: &Component,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO bom_components (bom_id, line, sku, qty, tenant_id) VALUES ($1, $2, $3, $4, $5)",
    )
    .bind(bom_id)
    .bind(line)
    .bind(&c.sku)
    .bind(c.qty)
    .bind(t.as_str())
        .execute(ex)
        .await?;
    Ok(())
}

const HEADER_COLUMNS: &str = "b.id, b.product_sku, b.version, b.output_qty, b.created_by, b.created_at, \
     CAST(CASE WHEN b.version = (SELECT MAX(b2.version) FROM boms b2 \
     WHERE b2.tenant_id = b.tenant_id AND b2.product_sku = b.product_sku) THEN 1 ELSE 0 END AS BIGINT) AS is_active";

fn header_from(row: &AnyRow) -> Result<BomRecord, sqlx::Error> {
    Ok(BomRecord {
        id: row.try_get("id")?,
        product_sku: row.try_get("product_sku")?,
        version: row.try_get("version")?,
        output_qty: row.try_get("output_qty")?,
        components: Vec::new(),
        created_by: row.try_get("created_by")?,
        created_at: row.try_get("created_at")?,
        active: row.try_get::<i64, _>("is_active")? != 0,
    })
}

async fn components_of<'e>(
    ex: impl Executor<'e, Database = Any>,
    t: &TenantId,
    bom_id: &str,
) -> Result<Vec<Component>, sqlx::Error> {
    let rows = sqlx::query(
        "SELECT sku, qty FROM bom_components WHERE tenant_id = $2 AND bom_id = $1 ORDER BY line",
    )
    .bind(bom_id)
    .bind(t.as_str())
    .fetch_all(ex)
    .await?;
    rows.iter()
        .map(|r| {
            Ok(Component {
                sku: r.try_get("sku")?,
                qty: r.try_get("qty")?,
            })
        })
        .collect()
}

/// A BOM with its components (a pooled connection or a transaction's).
pub async fn find<C: ConnHandle>(
    conn: &mut Conn<C>,
    t: &TenantId,
    id: &str,
) -> Result<Option<BomRecord>, sqlx::Error> {
    let row = sqlx::query(sqlx::AssertSqlSafe(format!(
        "SELECT {HEADER_COLUMNS} FROM boms b WHERE b.tenant_id = $2 AND b.id = $1"
    )))
    .bind(id)
    .bind(t.as_str())
    .fetch_optional(&mut *conn)
    .await?;
    let Some(row) = row else { return Ok(None) };
    let mut bom = header_from(&row)?;
    bom.components = components_of(&mut *conn, t, &bom.id).await?;
    Ok(Some(bom))
}

/// The id of the product's active BOM (its highest version).
pub async fn active_id<'e>(
    ex: impl Executor<'e, Database = Any>,
    t: &TenantId,
    product_sku: &str,
) -> Result<Option<String>, sqlx::Error> {
    sqlx::query_scalar(
        "SELECT id FROM boms WHERE tenant_id = $2 AND product_sku = $1
         ORDER BY version DESC LIMIT 1",
    )
    .bind(product_sku)
    .bind(t.as_str())
    .fetch_optional(ex)
    .await
}

/// BOM headers with their components, by product and version (newest
/// first); `product_sku` '' for every product.
pub async fn list<C: ConnHandle>(
    conn: &mut Conn<C>,
    t: &TenantId,
    product_sku: &str,
) -> Result<Vec<BomRecord>, sqlx::Error> {
    let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
        "SELECT {HEADER_COLUMNS} FROM boms b WHERE b.tenant_id = $2 AND ($1 = '' OR b.product_sku = $1)
         ORDER BY b.product_sku, b.version DESC"
    )))
    .bind(product_sku)
    .bind(t.as_str())
    .fetch_all(&mut *conn)
    .await?;
    let mut out = Vec::with_capacity(rows.len());
    for row in &rows {
        let mut bom = header_from(row)?;
        bom.components = components_of(&mut *conn, t, &bom.id).await?;
        out.push(bom);
    }
    Ok(out)
}

/// Every product's active BOM: the graph explosions and cycle checks walk.
pub async fn active_graph<'e>(
    ex: impl Executor<'e, Database = Any>,
    t: &TenantId,
) -> Result<Graph, sqlx::Error> {
    let rows = sqlx::query(
        "SELECT b.product_sku, b.output_qty, c.sku, c.qty
         FROM boms b JOIN bom_components c ON c.tenant_id = b.tenant_id AND c.bom_id = b.id
         WHERE b.tenant_id = $1
           AND b.version = (SELECT MAX(b2.version) FROM boms b2
                            WHERE b2.tenant_id = b.tenant_id AND b2.product_sku = b.product_sku)
         ORDER BY b.product_sku, c.line",
    )
    .bind(t.as_str())
    .fetch_all(ex)
    .await?;
    let mut graph = Graph::new();
    for r in &rows {
        let product: String = r.try_get("product_sku")?;
        let output_qty: i64 = r.try_get("output_qty")?;
        graph
            .entry(product)
            .or_insert_with(|| Bom {
                output_qty,
                components: Vec::new(),
            })
            .components
            .push(Component {
                sku: r.try_get("sku")?,
                qty: r.try_get("qty")?,
            });
    }
    Ok(graph)
}

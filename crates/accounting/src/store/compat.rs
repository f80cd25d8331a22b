//! The original API's transactions and their category mapping.

use marimo_platform::{db::TxConn, tenant::TenantId};
use sqlx::{Row, any::AnyRow};

use super::decode_err;
use crate::domain::compat::{Kind, Transaction};

/// The account a category books to, if mapped.
pub async fn account_for(
    conn: &mut TxConn,
    t: &TenantId,
    kind: Kind,
    category_key: &str,
) -> Result<Option<String>, sqlx::Error> {
    sqlx::query_scalar(
        "SELECT account_code FROM compat_categories
         WHERE tenant_id = $3 AND kind = $1 AND category = $2",
    )
    .bind(kind.as_str())
    .bind(category_key)
    .bind(t.as_str())
    .fetch_optional(conn)
    .await
}

/// A stored transaction.
#[derive(Debug, Clone)]
pub struct TransactionRecord {
    pub id: String,
    pub tx: Transaction,
    pub created_by: String,
    pub created_at: String,
    pub number: String,
    pub reversed_by: Option<String>,
}

pub async fn insert(
    conn: &mut TxConn,
    t: &TenantId,
    id: &str,
    tx: &Transaction,
    created_by: &str,
    now: &str,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO compat_transactions (id, kind, amount, description, category, created_by, created_at, tenant_id)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
    )
    .bind(id)
    .bind(tx.kind.as_str())
    .bind(tx.amount)
    .bind(&tx.description)
    .bind(&tx.category)
    .bind(created_by)
    .bind(now)
    .bind(t.as_str())
    .execute(conn)
    .await?;
    Ok(())
}

const SELECT: &str = "SELECT t.id, t.kind, t.amount, t.description, t.category, t.created_by,
    t.created_at, e.number, r.reversal_id
    FROM compat_transactions t
    JOIN journal_entries e ON e.tenant_id = t.tenant_id AND e.id = t.id
    LEFT JOIN reversals r ON r.tenant_id = t.tenant_id AND r.original_id = t.id";

fn record(r: &AnyRow) -> Result<TransactionRecord, sqlx::Error> {
    let kind: String = r.try_get("kind")?;
    Ok(TransactionRecord {
        id: r.try_get("id")?,
        tx: Transaction {
            kind: Kind::parse(&kind).map_err(|e| decode_err(e.message))?,
            amount: r.try_get("amount")?,
            description: r.try_get("description")?,
            category: r.try_get("category")?,
        },
        created_by: r.try_get("created_by")?,
        created_at: r.try_get("created_at")?,
        number: r.try_get("number")?,
        reversed_by: r.try_get("reversal_id")?,
    })
}

pub async fn get(
    conn: &mut TxConn,
    tenant: &TenantId,
    id: &str,
) -> Result<Option<TransactionRecord>, sqlx::Error> {
    sqlx::query(sqlx::AssertSqlSafe(format!(
        "{SELECT} WHERE t.tenant_id = $2 AND t.id = $1"
    )))
    .bind(id)
    .bind(tenant.as_str())
    .fetch_optional(conn)
    .await?
    .as_ref()
    .map(record)
    .transpose()
}

/// Newest first, and how many there are.
pub async fn list(
    conn: &mut TxConn,
    tenant: &TenantId,
    offset: i64,
    limit: i64,
) -> Result<(Vec<TransactionRecord>, i64), sqlx::Error> {
    let total: i64 =
        sqlx::query_scalar("SELECT COUNT(*) FROM compat_transactions WHERE tenant_id = $1")
            .bind(tenant.as_str())
            .fetch_one(&mut *conn)
            .await?;
    let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
        "{SELECT} WHERE t.tenant_id = $3 ORDER BY t.created_at DESC, t.id DESC LIMIT $1 OFFSET $2"
    )))
    .bind(limit)
    .bind(offset)
    .bind(tenant.as_str())
    .fetch_all(conn)
    .await?;
    Ok((rows.iter().map(record).collect::<Result<_, _>>()?, total))
}

//! The chart of accounts.

use std::collections::BTreeMap;

use marimo_platform::{
    db::{Conn, ConnHandle, TxConn},
    tenant::TenantId,
};
use sqlx::{Any, Executor, Row, any::AnyRow};

use super::{decode_err, placeholders};
use crate::domain::accounts::{Account, AccountType};

/// An account with its timestamps.
#[derive(Debug, Clone)]
pub struct AccountRecord {
    pub account: Account,
    pub created_at: String,
    pub updated_at: String,
}

const COLUMNS: &str = "code, name, account_type, parent_code, active, created_at, updated_at";

fn record(row: &AnyRow) -> Result<AccountRecord, sqlx::Error> {
    let t: String = row.try_get("account_type")?;
    Ok(AccountRecord {
        account: Account {
            code: row.try_get("code")?,
            name: row.try_get("name")?,
            account_type: t
                .parse::<AccountType>()
                .map_err(|e| decode_err(e.message))?,
            parent: row.try_get("parent_code")?,
            active: row.try_get::<i64, _>("active")? != 0,
        },
        created_at: row.try_get("created_at")?,
        updated_at: row.try_get("updated_at")?,
    })
}

/// Every account of the tenant, by code.
pub async fn list<C: ConnHandle>(
    conn: &mut Conn<C>,
    t: &TenantId,
) -> Result<Vec<AccountRecord>, sqlx::Error> {
    sqlx::query(sqlx::AssertSqlSafe(format!(
        "SELECT {COLUMNS} FROM accounts WHERE tenant_id = $1 ORDER BY code"
    )))
    .bind(t.as_str())
    .fetch_all(conn)
    .await?
    .iter()
    .map(record)
    .collect()
}

pub async fn get<'e>(
    ex: impl Executor<'e, Database = Any>,
    t: &TenantId,
    code: &str,
) -> Result<Option<AccountRecord>, sqlx::Error> {
    sqlx::query(sqlx::AssertSqlSafe(format!(
        "SELECT {COLUMNS} FROM accounts WHERE tenant_id = $1 AND code = $2"
    )))
    .bind(t.as_str())
    .bind(code)
    .fetch_optional(ex)
    .await?
    .as_ref()
    .map(record)
    .transpose()
}

/// Type and parent of every account (for parent checks).
pub async fn tree(
    conn: &mut TxConn,
    t: &TenantId,
) -> Result<BTreeMap<String, (AccountType, Option<String>)>, sqlx::Error> {
    let rows =
        sqlx::query("SELECT code, account_type, parent_code FROM accounts WHERE tenant_id = $1")
            .bind(t.as_str())
            .fetch_all(&mut *conn)
            .await?;
    rows.iter()
        .map(|r| {
            let t: String = r.try_get("account_type")?;
            Ok((
                r.try_get("code")?,
                (
                    t.parse::<AccountType>()
                        .map_err(|e| decode_err(e.message))?,
                    r.try_get("parent_code")?,
                ),
            ))
        })
        .collect()
}

/// `false` when the code is taken.
pub async fn insert(
    conn: &mut TxConn,
    t: &TenantId,
    a: &Account,
    now: &str,
) -> Result<bool, sqlx::Error> {
    let res = sqlx::query(
        "INSERT INTO accounts (code, name, account_type, parent_code, active, created_at, updated_at, tenant_id)
         VALUES ($1, $2, $3, $4, $5, $6, $6, $7)
         ON CONFLICT (tenant_id, code) DO NOTHING",
    )
    .bind(&a.code)
    .bind(&a.name)
    .bind(a.account_type.as_str())
    .bind(a.parent.as_deref())
    .bind(i64::from(a.active))
    .bind(now)
    .bind(t.as_str())
    .execute(conn)
    .await?;
    Ok(res.rows_affected() == 1)
}

pub async fn update(
    conn: &mut TxConn,
    t: &TenantId,
    a: &Account,
    now: &str,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "UPDATE accounts SET name = $2, account_type = $3, parent_code = $4, active = $5, updated_at = $6
         WHERE tenant_id = $7 AND code = $1",
    )
    .bind(&a.code)
    .bind(&a.name)
    .bind(a.account_type.as_str())
    .bind(a.parent.as_deref())
    .bind(i64::from(a.active))
    .bind(now)
    .bind(t.as_str())
    .execute(conn)
    .await?;
    Ok(())
}

/// True when any line was ever posted to the account (the balances row
/// exists exactly then).
pub async fn has_postings(
    conn: &mut TxConn,
    t: &TenantId,
    code: &str,
) -> Result<bool, sqlx::Error> {
    Ok(sqlx::query(
        "SELECT 1 FROM account_balances WHERE tenant_id = $1 AND account_code = $2 LIMIT 1",
    )
    .bind(t.as_str())
    .bind(code)
    .fetch_optional(conn)
    .await?
    .is_some())
}

/// Codes of the direct sub-accounts whose type differs from `t`.
pub async fn children_of_other_type(
    conn: &mut TxConn,
    tenant: &TenantId,
    code: &str,
    t: AccountType,
) -> Result<Vec<String>, sqlx::Error> {
    sqlx::query_scalar(
        "SELECT code FROM accounts
         WHERE tenant_id = $3 AND parent_code = $1 AND account_type <> $2 ORDER BY code",
    )
    .bind(code)
    .bind(t.as_str())
    .bind(tenant.as_str())
    .fetch_all(conn)
    .await
}

/// `code → (name, active)` for those of `codes` that exist.
pub async fn activity(
    conn: &mut TxConn,
    t: &TenantId,
    codes: &[&str],
) -> Result<BTreeMap<String, (String, bool)>, sqlx::Error> {
    if codes.is_empty() {
        return Ok(BTreeMap::new());
    }
    let sql = format!(
        "SELECT code, name, active FROM accounts WHERE tenant_id = $1 AND code IN ({})",
        placeholders(2, codes.len())
    );
    let mut q = sqlx::query(sqlx::AssertSqlSafe(sql)).bind(t.as_str());
    for c in codes {
        q = q.bind(*c);
    }
    q.fetch_all(conn)
        .await?
        .iter()
        .map(|r| {
            Ok((
                r.try_get("code")?,
                (r.try_get("name")?, r.try_get::<i64, _>("active")? != 0),
            ))
        })
        .collect()
}

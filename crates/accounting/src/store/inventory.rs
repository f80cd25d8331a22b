//! The inventory-account mapping (`inventory_accounts`).

use marimo_platform::{db::TxConn, tenant::TenantId};

use crate::domain::inventory::{DEFAULT_MAPPING, Mapping, Role};

/// The tenant's mapping; rows of roles this build does not know are
/// skipped (the CHECK admits none).
pub async fn mapping(conn: &mut TxConn, t: &TenantId) -> Result<Mapping, sqlx::Error> {
    let rows: Vec<(String, String, String)> = sqlx::query_as(
        "SELECT role, warehouse, account_code FROM inventory_accounts
         WHERE tenant_id = $1 ORDER BY role, warehouse",
    )
    .bind(t.as_str())
    .fetch_all(conn)
    .await?;
    let mut m = Mapping::default();
    for (role, warehouse, account) in rows {
        match (Role::parse(&role), warehouse.is_empty()) {
            (Some(r), true) => {
                m.roles.insert(r, account);
            }
            (Some(Role::Category(c)), false) => {
                m.overrides.insert((c, warehouse), account);
            }
            _ => {}
        }
    }
    Ok(m)
}

/// Replaces the tenant's mapping with `m` (checked against the chart by
/// the caller, in the same transaction; the foreign key and the CHECK
/// hold the types again).
pub async fn replace(
    conn: &mut TxConn,
    t: &TenantId,
    m: &Mapping,
    types: impl Fn(&str) -> Option<&'static str>,
    now: &str,
) -> Result<(), sqlx::Error> {
    sqlx::query("DELETE FROM inventory_accounts WHERE tenant_id = $1")
        .bind(t.as_str())
        .execute(&mut *conn)
        .await?;
    for (role, warehouse, account) in m.rows() {
        sqlx::query(
            "INSERT INTO inventory_accounts (tenant_id, role, warehouse, account_code, account_type, updated_at)
             VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(t.as_str())
        .bind(role.as_str())
        .bind(&warehouse)
        .bind(&account)
        .bind(types(&account).unwrap_or_default())
        .bind(now)
        .execute(&mut *conn)
        .await?;
    }
    Ok(())
}

/// Seeds the default mapping of a tenant onto its active accounts of the
/// right type; rows that exist are left alone.
pub async fn seed_in(conn: &mut TxConn, t: &TenantId, now: &str) -> Result<(), sqlx::Error> {
    for (role, code) in DEFAULT_MAPPING {
        sqlx::query(
            "INSERT INTO inventory_accounts (tenant_id, role, warehouse, account_code, account_type, updated_at)
             SELECT tenant_id, $2, '', code, account_type, $5 FROM accounts
             WHERE tenant_id = $1 AND code = $3 AND account_type = $4 AND active = 1
             ON CONFLICT (tenant_id, role, warehouse) DO NOTHING",
        )
        .bind(t.as_str())
        .bind(role.as_str())
        .bind(*code)
        .bind(role.account_type().as_str())
        .bind(now)
        .execute(&mut *conn)
        .await?;
    }
    Ok(())
}

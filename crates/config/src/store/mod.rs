//! The SQL for the config service's own tables (one text for SQLite and
//! PostgreSQL), plus the backend-specific DDL that makes `config_history`
//! append-only in the database itself and, on PostgreSQL, puts the
//! per-tenant tables under the tenant row policy (docs/TENANCY.md).
//!
//! Every query of `settings`, `config_history`, `units` and `tax_rates`
//! binds the tenant; the installation default (the default tenant's row)
//! is read by the use cases in a transaction of the default tenant, so the
//! row policy never has to admit another tenant's rows.

use marimo_platform::db::TxConn;
use marimo_platform::{
    append_only::{self, Guarded},
    db::{Db, DbKind, Schema},
    tenant::{TenantId, rls_ddl},
};
use serde::Serialize;
use sqlx::{Any, Row, any::AnyRow};

use crate::domain;

static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!();

const APPEND_ONLY: &[Guarded<'static>] = &[("config_history", "every change is kept")];

/// The per-tenant tables: each has `tenant_id` and, on PostgreSQL, the
/// tenant policy. `currencies` is shared ISO reference data, no tenant's.
pub const TENANT_TABLES: &[&str] = &["settings", "config_history", "units", "tax_rates"];

/// Brings the migrations, then the append-only triggers and (PostgreSQL)
/// the tenant policies, up to date (no DDL when they are current).
pub async fn prepare(db: &Db) -> Result<(), crate::ConfigError> {
    db.migrate(&MIGRATOR).await?;
    append_only::install(db, APPEND_ONLY, "").await?;
    if db.kind() == DbKind::Postgres {
        db.prepare(&Schema::new().part("tenancy", rls_ddl(TENANT_TABLES)))
            .await?;
    }
    Ok(())
}

// ------------------------------------------------------------ settings

/// A setting as stored and as answered (the original's field names): the
/// contract type other services read.
pub use marimo_contracts::config::Setting;

const SETTING_COLS: &str =
    "key, value, type, value_type, description, version, updated_by, updated_at";

fn setting(row: &AnyRow) -> Result<Setting, sqlx::Error> {
    Ok(Setting {
        key: row.try_get("key")?,
        value: row.try_get("value")?,
        scope: row.try_get("type")?,
        value_type: row.try_get("value_type")?,
        description: row.try_get("description")?,
        version: row.try_get("version")?,
        updated_by: row.try_get("updated_by")?,
        updated_at: row.try_get("updated_at")?,
    })
}

/// `tenant`'s own settings (not the installation defaults it inherits).
pub async fn list_settings<'c, E>(db: E, tenant: &TenantId) -> Result<Vec<Setting>, sqlx::Error>
where
    E: sqlx::Executor<'c, Database = Any>,
{
    let sql = format!("SELECT {SETTING_COLS} FROM settings WHERE tenant_id = $1 ORDER BY key");
    sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(tenant.as_str())
        .fetch_all(db)
        .await?
        .iter()
        .map(setting)
        .collect()
}

/// Every tenant's settings with their tenant (the Consul mirror's full
/// copy, in an all-tenants transaction).
pub async fn list_all_settings(conn: &mut TxConn) -> Result<Vec<(TenantId, Setting)>, sqlx::Error> {
    let sql = format!("SELECT tenant_id, {SETTING_COLS} FROM settings ORDER BY tenant_id, key");
    sqlx::query(sqlx::AssertSqlSafe(sql))
        .fetch_all(conn)
        .await?
        .iter()
        .map(|r| {
            let tenant: String = r.try_get("tenant_id")?;
            let tenant =
                TenantId::parse(&tenant).map_err(|e| sqlx::Error::Decode(e.to_string().into()))?;
            Ok((tenant, setting(r)?))
        })
        .collect()
}

/// `tenant`'s own row for `key`.
pub async fn get_setting<'c, E>(
    db: E,
    tenant: &TenantId,
    key: &str,
) -> Result<Option<Setting>, sqlx::Error>
where
    E: sqlx::Executor<'c, Database = Any>,
{
    let sql = format!("SELECT {SETTING_COLS} FROM settings WHERE tenant_id = $2 AND key = $1");
    sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(key)
        .bind(tenant.as_str())
        .fetch_optional(db)
        .await?
        .as_ref()
        .map(setting)
        .transpose()
}

/// The version a (re-)created key starts at: one past the last version it
/// ever had, so a delete and re-create never reuses a version.
pub async fn next_version(
    conn: &mut TxConn,
    tenant: &TenantId,
    key: &str,
) -> Result<i64, sqlx::Error> {
    let max: Option<i64> = sqlx::query_scalar(
        "SELECT MAX(version) FROM config_history WHERE tenant_id = $2 AND key = $1",
    )
    .bind(key)
    .bind(tenant.as_str())
    .fetch_one(conn)
    .await?;
    Ok(max.unwrap_or(0) + 1)
}

/// A query with a setting's columns bound as `$1`..`$8`, in
/// [`SETTING_COLS`] order (`key` is `$1`).
type SettingQuery<'q> = sqlx::query::Query<'q, Any, <Any as sqlx::Database>::Arguments>;

fn bind_setting<'q>(q: SettingQuery<'q>, s: &Setting) -> SettingQuery<'q> {
    q.bind(&s.key)
        .bind(&s.value)
        .bind(&s.scope)
        .bind(&s.value_type)
        .bind(&s.description)
        .bind(s.version)
        .bind(&s.updated_by)
        .bind(&s.updated_at)
}

/// Inserts a new setting of `tenant`; false when it has the key already.
pub async fn insert_setting(
    conn: &mut TxConn,
    tenant: &TenantId,
    s: &Setting,
) -> Result<bool, sqlx::Error> {
    let sql = format!(
        "INSERT INTO settings (tenant_id, {SETTING_COLS}) VALUES ($9, $1, $2, $3, $4, $5, $6, $7, $8)
         ON CONFLICT (tenant_id, key) DO NOTHING"
    );
    let res = bind_setting(sqlx::query(sqlx::AssertSqlSafe(sql)), s)
        .bind(tenant.as_str())
        .execute(conn)
        .await?;
    Ok(res.rows_affected() == 1)
}

/// Replaces a setting only if it is still at `expected` (optimistic
/// concurrency); `s.version` must be `expected + 1`. False when another
/// writer got there first.
pub async fn update_setting(
    conn: &mut TxConn,
    tenant: &TenantId,
    s: &Setting,
    expected: i64,
) -> Result<bool, sqlx::Error> {
    let q = sqlx::query(
        "UPDATE settings SET value = $2, type = $3, value_type = $4, description = $5,
                version = $6, updated_by = $7, updated_at = $8
         WHERE tenant_id = $10 AND key = $1 AND version = $9",
    );
    let res = bind_setting(q, s)
        .bind(expected)
        .bind(tenant.as_str())
        .execute(conn)
        .await?;
    Ok(res.rows_affected() == 1)
}

/// Deletes a setting only if it is still at `expected`.
pub async fn delete_setting(
    conn: &mut TxConn,
    tenant: &TenantId,
    key: &str,
    expected: i64,
) -> Result<bool, sqlx::Error> {
    let res =
        sqlx::query("DELETE FROM settings WHERE tenant_id = $3 AND key = $1 AND version = $2")
            .bind(key)
            .bind(expected)
            .bind(tenant.as_str())
            .execute(conn)
            .await?;
    Ok(res.rows_affected() == 1)
}

// ------------------------------------------------------------- history

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    Create,
    Update,
    Delete,
}

impl Action {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Create => "create",
            Self::Update => "update",
            Self::Delete => "delete",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Change {
    pub key: String,
    pub version: i64,
    pub action: String,
    pub old_value: Option<String>,
    pub new_value: Option<String>,
    pub value_type: String,
    pub changed_by: Option<String>,
    pub changed_at: String,
}

pub async fn append_history(
    conn: &mut TxConn,
    tenant: &TenantId,
    c: &Change,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO config_history (tenant_id, id, key, version, action, old_value, new_value, value_type, changed_by, changed_at)
         VALUES ($10, $1, $2, $3, $4, $5, $6, $7, $8, $9)",
    )
    .bind(marimo_platform::ids::new_id())
    .bind(&c.key)
    .bind(c.version)
    .bind(&c.action)
    .bind(&c.old_value)
    .bind(&c.new_value)
    .bind(&c.value_type)
    .bind(&c.changed_by)
    .bind(&c.changed_at)
    .bind(tenant.as_str())
    .execute(conn)
    .await?;
    Ok(())
}

/// A page of `tenant`'s changes of a key, newest first.
pub async fn history<'c, E>(
    db: E,
    tenant: &TenantId,
    key: &str,
    limit: u32,
    offset: i64,
) -> Result<Vec<Change>, sqlx::Error>
where
    E: sqlx::Executor<'c, Database = Any>,
{
    sqlx::query(
        "SELECT key, version, action, old_value, new_value, value_type, changed_by, changed_at
         FROM config_history WHERE tenant_id = $4 AND key = $1
         ORDER BY version DESC LIMIT $2 OFFSET $3",
    )
    .bind(key)
    .bind(i64::from(limit))
    .bind(offset)
    .bind(tenant.as_str())
    .fetch_all(db)
    .await?
    .iter()
    .map(|r| {
        Ok(Change {
            key: r.try_get("key")?,
            version: r.try_get("version")?,
            action: r.try_get("action")?,
            old_value: r.try_get("old_value")?,
            new_value: r.try_get("new_value")?,
            value_type: r.try_get("value_type")?,
            changed_by: r.try_get("changed_by")?,
            changed_at: r.try_get("changed_at")?,
        })
    })
    .collect()
}

pub async fn history_count<'c, E>(db: E, tenant: &TenantId, key: &str) -> Result<i64, sqlx::Error>
where
    E: sqlx::Executor<'c, Database = Any>,
{
    sqlx::query_scalar("SELECT COUNT(*) FROM config_history WHERE tenant_id = $2 AND key = $1")
        .bind(key)
        .bind(tenant.as_str())
        .fetch_one(db)
        .await
}

/// True when `tenant`'s `key` ever existed (seeds must not resurrect a
/// deleted key).
pub async fn ever_existed(
    conn: &mut TxConn,
    tenant: &TenantId,
    key: &str,
) -> Result<bool, sqlx::Error> {
    Ok(history_count(conn, tenant, key).await? > 0)
}

// ------------------------------------------------------- reference data

/// One row of reference data, as answered.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(untagged)]
pub enum RefItem {
    Currency {
        code: String,
        name: String,
        minor_units: i64,
        updated_by: Option<String>,
        updated_at: String,
    },
    Unit {
        code: String,
        name: String,
        updated_by: Option<String>,
        updated_at: String,
    },
    TaxRate {
        code: String,
        name: String,
        /// Percent, decimal string ("8.25").
        rate: String,
        /// The same in 1/10000 of a percent, as stored.
        #[serde(skip)]
        rate_scaled: i64,
        updated_by: Option<String>,
        updated_at: String,
    },
}

/// The rows of `kind`: the shared currencies, or `tenant`'s own units or
/// tax rates (not the installation defaults it inherits).
pub async fn list_reference<'c, E>(
    db: E,
    tenant: &TenantId,
    kind: domain::RefKind,
) -> Result<Vec<RefItem>, sqlx::Error>
where
    E: sqlx::Executor<'c, Database = Any>,
{
    use domain::RefKind as K;
    let sql = match kind {
        K::Currencies => {
            "SELECT code, name, minor_units, updated_by, updated_at FROM currencies ORDER BY code"
        }
        K::Units => {
            "SELECT code, name, updated_by, updated_at FROM units WHERE tenant_id = $1 ORDER BY code"
        }
        K::TaxRates => {
            "SELECT code, name, rate, updated_by, updated_at FROM tax_rates WHERE tenant_id = $1
             ORDER BY code"
        }
    };
    let mut q = sqlx::query(sql);
    if kind != K::Currencies {
        q = q.bind(tenant.as_str());
    }
    q.fetch_all(db)
        .await?
        .iter()
        .map(|r| ref_item(kind, r))
        .collect()
}

fn ref_item(kind: domain::RefKind, r: &AnyRow) -> Result<RefItem, sqlx::Error> {
    use domain::RefKind as K;
    let code = r.try_get("code")?;
    let name = r.try_get("name")?;
    let updated_by = r.try_get("updated_by")?;
    let updated_at = r.try_get("updated_at")?;
    Ok(match kind {
        K::Currencies => RefItem::Currency {
            code,
            name,
            minor_units: r.try_get("minor_units")?,
            updated_by,
            updated_at,
        },
        K::Units => RefItem::Unit {
            code,
            name,
            updated_by,
            updated_at,
        },
        K::TaxRates => {
            let scaled: i64 = r.try_get("rate")?;
            RefItem::TaxRate {
                code,
                name,
                rate: domain::format_rate(scaled),
                rate_scaled: scaled,
                updated_by,
                updated_at,
            }
        }
    })
}

/// Inserts or replaces a row (of `tenant`, for units and tax rates; a
/// currency is everyone's). With `only_new`, an existing row is left
/// alone (seeding); returns whether a row was written.
pub async fn upsert_reference(
    conn: &mut TxConn,
    tenant: &TenantId,
    item: &RefItem,
    only_new: bool,
) -> Result<bool, sqlx::Error> {
    let (table, extra_col, extra) = match item {
        RefItem::Currency { minor_units, .. } => {
            ("currencies", Some("minor_units"), Some(*minor_units))
        }
        RefItem::Unit { .. } => ("units", None, None),
        RefItem::TaxRate { rate_scaled, .. } => ("tax_rates", Some("rate"), Some(*rate_scaled)),
    };
    let (code, name, updated_by, updated_at) = match item {
        RefItem::Currency {
            code,
            name,
            updated_by,
            updated_at,
            ..
        }
        | RefItem::Unit {
            code,
            name,
            updated_by,
            updated_at,
        }
        | RefItem::TaxRate {
            code,
            name,
            updated_by,
            updated_at,
            ..
        } => (code, name, updated_by, updated_at),
    };
    // Table and column names come from the match above, never from input.
    let on_conflict = if only_new {
        "DO NOTHING".to_owned()
    } else {
        let extra_set = extra_col
            .map(|c| format!(", {c} = EXCLUDED.{c}"))
            .unwrap_or_default();
        format!(
            "DO UPDATE SET name = EXCLUDED.name{extra_set}, updated_by = EXCLUDED.updated_by, updated_at = EXCLUDED.updated_at"
        )
    };
    let per_tenant = !matches!(item, RefItem::Currency { .. });
    let (tenant_col, tenant_val, key) = if per_tenant {
        // `$6`: the tenant, after the optional extra column's `$5`.
        let n = if extra_col.is_some() { 6 } else { 5 };
        ("tenant_id, ", format!("${n}, "), "tenant_id, code")
    } else {
        ("", String::new(), "code")
    };
    let sql = match extra_col {
        Some(c) => format!(
            "INSERT INTO {table} ({tenant_col}code, name, updated_by, updated_at, {c})
             VALUES ({tenant_val}$1, $2, $3, $4, $5)
             ON CONFLICT ({key}) {on_conflict}"
        ),
        None => format!(
            "INSERT INTO {table} ({tenant_col}code, name, updated_by, updated_at)
             VALUES ({tenant_val}$1, $2, $3, $4)
             ON CONFLICT ({key}) {on_conflict}"
        ),
    };
    let mut q = sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(code)
        .bind(name)
        .bind(updated_by)
        .bind(updated_at);
    if let Some(v) = extra {
        q = q.bind(v);
    }
    if per_tenant {
        q = q.bind(tenant.as_str());
    }
    Ok(q.execute(conn).await?.rows_affected() == 1)
}

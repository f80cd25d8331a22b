//! What the migrations cannot say in one SQL text: the triggers that make
//! the stock ledger and the BOMs append-only (their DDL differs between
//! SQLite and PostgreSQL), PostgreSQL's row-level security policies
//! (docs/TENANCY.md), and the seeds of a tenant (units, the default
//! warehouse, the base currency, the BOM lock row). The triggers and
//! policies are applied once, as schema parts (see
//! `marimo_platform::db::migrate`); the seeds are idempotent and run at
//! every start for the default tenant, and for every new tenant when
//! `users.tenant.created` arrives.

use marimo_platform::{
    append_only::{self, Guarded},
    clock,
    db::{Db, DbError, DbKind, Prepared, Schema, Tx},
    money::Currency,
    tenant::{TenantId, rls_ddl},
};

/// Tables whose rows are facts: no UPDATE, no DELETE, ever.
const APPEND_ONLY: &[Guarded<'static>] = &[
    (
        "stock_moves",
        "stock moves are immutable; correct with a new move",
    ),
    (
        "boms",
        "bills of materials are immutable; create a new version",
    ),
    (
        "bom_components",
        "bills of materials are immutable; create a new version",
    ),
];

/// Units of measure seeded into the factory's copy of the reference data
/// (the config service will own it).
pub const UNITS: &[(&str, &str)] = &[
    ("pcs", "pieces"),
    ("kg", "kilogram"),
    ("g", "gram"),
    ("m", "metre"),
    ("l", "litre"),
    ("h", "hour"),
];

/// The factory's business tables: each has `tenant_id` and, on
/// PostgreSQL, the tenant policy. (`idempotency_keys` is not one: the
/// platform's idempotency code owns its SQL and scopes its keys by tenant
/// in the `caller` column.)
pub const TENANT_TABLES: &[&str] = &[
    "factory_settings",
    "units",
    "items",
    "warehouses",
    "stock_levels",
    "stock_moves",
    "boms",
    "bom_components",
    "bom_lock",
    "work_orders",
    "work_order_reservations",
    "stock_holds",
];

/// The append-only triggers and, on PostgreSQL, the tenant policies.
pub async fn install_guards(db: &Db) -> Result<Prepared, DbError> {
    // The tenancy and valuation migrations rebuilt guarded tables, which
    // dropped their triggers (and, on PostgreSQL, the new `stock_moves`
    // has no policy yet): these markers change the parts' fingerprints,
    // so a database migrated before them installs both again.
    let guards = append_only::install(
        db,
        APPEND_ONLY,
        "-- tables with tenant_id\n-- stock_moves rebuilt for valuation\n",
    )
    .await?;
    if db.kind() != DbKind::Postgres {
        return Ok(guards);
    }
    let policies = db
        .prepare(&Schema::new().part(
            "tenancy",
            format!(
                "-- stock_moves rebuilt for valuation\n{}",
                rls_ddl(TENANT_TABLES)
            ),
        ))
        .await?;
    Ok(
        if guards == Prepared::Current && policies == Prepared::Current {
            Prepared::Current
        } else {
            Prepared::Applied
        },
    )
}

/// The base currency setting's name in `factory_settings`.
pub const CURRENCY_SETTING: &str = "currency";

/// Seeds what a tenant starts with — units, the default warehouse, the
/// base currency and its BOM lock row — in `tx` (a transaction of `t`);
/// rows that exist (possibly edited since) are left as they are, so it
/// may run any number of times.
pub async fn seed(
    tx: &mut Tx,
    t: &TenantId,
    currency: &str,
    warehouse: &str,
) -> Result<(), sqlx::Error> {
    let now = clock::now_text();
    let t = t.as_str();
    for (code, name) in UNITS {
        sqlx::query(
            "INSERT INTO units (tenant_id, code, name) VALUES ($1, $2, $3)
             ON CONFLICT (tenant_id, code) DO NOTHING",
        )
        .bind(t)
        .bind(*code)
        .bind(*name)
        .execute(&mut *tx)
        .await?;
    }
    sqlx::query(
        "INSERT INTO warehouses (tenant_id, code, name, created_by, created_at)
         VALUES ($1, $2, $3, 'system', $4)
         ON CONFLICT (tenant_id, code) DO NOTHING",
    )
    .bind(t)
    .bind(warehouse)
    .bind("Main warehouse")
    .bind(&now)
    .execute(&mut *tx)
    .await?;
    sqlx::query(
        "INSERT INTO factory_settings (tenant_id, name, value, updated_at) VALUES ($1, $2, $3, $4)
         ON CONFLICT (tenant_id, name) DO NOTHING",
    )
    .bind(t)
    .bind(CURRENCY_SETTING)
    .bind(currency)
    .bind(&now)
    .execute(&mut *tx)
    .await?;
    sqlx::query(
        "INSERT INTO bom_lock (tenant_id, id, bumps) VALUES ($1, 1, 0)
         ON CONFLICT (tenant_id, id) DO NOTHING",
    )
    .bind(t)
    .execute(&mut *tx)
    .await?;
    Ok(())
}

/// The default tenant's seeds ([`seed`]), in a transaction of their own.
pub async fn seed_default(db: &Db, currency: &str, warehouse: &str) -> Result<(), sqlx::Error> {
    let t = TenantId::default_tenant();
    let mut tx = db.tenant(&t).begin().await?;
    seed(&mut tx, &t, currency, warehouse).await?;
    tx.commit().await
}

/// Tenant `t`'s base currency, read in its transaction; the factory's
/// default (USD) for a tenant it has not seeded or an unknown code.
pub async fn currency_in(tx: &mut Tx, t: &TenantId) -> Result<Currency, sqlx::Error> {
    let code: Option<String> =
        sqlx::query_scalar("SELECT value FROM factory_settings WHERE tenant_id = $1 AND name = $2")
            .bind(t.as_str())
            .bind(CURRENCY_SETTING)
            .fetch_optional(&mut *tx)
            .await?;
    Ok(code
        .as_deref()
        .and_then(Currency::new)
        .or_else(|| Currency::new(crate::DEFAULT_CURRENCY))
        .unwrap_or_else(Currency::usd))
}

/// Sets tenant `t`'s base currency, if its stock holds no value (the
/// value of booked stock is in the old currency, and converting it is a
/// revaluation, not a setting). On PostgreSQL the balances are locked
/// against writers first, so no receipt can book value between the check
/// and the change (SQLite's write lock, taken at BEGIN, does that); a
/// posting re-reads the currency before it commits. `Ok(false)`: stock
/// holds value, nothing changed.
pub async fn set_currency_if_unvalued(
    tx: &mut Tx,
    kind: DbKind,
    t: &TenantId,
    code: &str,
) -> Result<bool, sqlx::Error> {
    if kind == DbKind::Postgres {
        sqlx::query("LOCK TABLE stock_levels IN SHARE MODE")
            .execute(&mut *tx)
            .await?;
    }
    let valued: i64 =
        sqlx::query_scalar("SELECT COUNT(*) FROM stock_levels WHERE tenant_id = $1 AND value <> 0")
            .bind(t.as_str())
            .fetch_one(&mut *tx)
            .await?;
    if valued > 0 {
        return Ok(false);
    }
    sqlx::query(
        "INSERT INTO factory_settings (tenant_id, name, value, updated_at) VALUES ($1, $2, $3, $4)
         ON CONFLICT (tenant_id, name) DO UPDATE SET value = $3, updated_at = $4",
    )
    .bind(t.as_str())
    .bind(CURRENCY_SETTING)
    .bind(code)
    .bind(clock::now_text())
    .execute(&mut *tx)
    .await?;
    Ok(true)
}

//! What the migrations cannot say in one SQL text: the triggers that make
//! the stock ledger and the BOMs append-only (their DDL differs between
//! SQLite and PostgreSQL), and the seeds (units, the default warehouse,
//! the base currency). The triggers are applied once, as a schema part
//! (see `marimo_platform::db::migrate`); the seeds are idempotent and run
//! at every start.

use marimo_platform::{
    append_only::{self, Guarded},
    clock,
    db::{Db, DbError, Prepared},
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

pub async fn install_guards(db: &Db) -> Result<Prepared, DbError> {
    append_only::install(db, APPEND_ONLY, "").await
}

/// The base currency setting's name in `factory_settings`.
pub const CURRENCY_SETTING: &str = "currency";

/// Seeds units, the default warehouse and the base currency; rows that
/// exist (possibly edited since) are left as they are.
pub async fn seed(db: &Db, currency: &str, warehouse: &str) -> Result<(), sqlx::Error> {
    let now = clock::now_text();
    let mut tx = db.begin().await?;
    for (code, name) in UNITS {
        sqlx::query("INSERT INTO units (code, name) VALUES ($1, $2) ON CONFLICT (code) DO NOTHING")
            .bind(*code)
            .bind(*name)
            .execute(&mut *tx)
            .await?;
    }
    sqlx::query(
        "INSERT INTO warehouses (code, name, created_by, created_at) VALUES ($1, $2, 'system', $3)
         ON CONFLICT (code) DO NOTHING",
    )
    .bind(warehouse)
    .bind("Main warehouse")
    .bind(&now)
    .execute(&mut *tx)
    .await?;
    sqlx::query(
        "INSERT INTO factory_settings (name, value, updated_at) VALUES ($1, $2, $3)
         ON CONFLICT (name) DO NOTHING",
    )
    .bind(CURRENCY_SETTING)
    .bind(currency)
    .bind(&now)
    .execute(&mut *tx)
    .await?;
    tx.commit().await
}

pub async fn setting(db: &Db, name: &str) -> Result<Option<String>, sqlx::Error> {
    sqlx::query_scalar("SELECT value FROM factory_settings WHERE name = $1")
        .bind(name)
        .fetch_optional(db.pool())
        .await
}

//! What the migrations cannot say in one SQL text: the triggers that make
//! the stock ledger and the BOMs append-only (their DDL differs between
//! SQLite and PostgreSQL), and the seeds (units, the default warehouse,
//! the base currency). Everything here is idempotent: it runs at every
//! start.

use marimo_platform::{
    clock,
    db::{Db, DbKind},
};

/// Tables whose rows are facts: no UPDATE, no DELETE, ever.
const APPEND_ONLY: &[(&str, &str)] = &[
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

pub async fn install_guards(db: &Db) -> Result<(), sqlx::Error> {
    match db.kind() {
        DbKind::Sqlite => sqlite_guards(db).await,
        DbKind::Postgres => postgres_guards(db).await,
    }
}

async fn sqlite_guards(db: &Db) -> Result<(), sqlx::Error> {
    let mut ddl = String::new();
    for (table, refusal) in APPEND_ONLY {
        for op in ["UPDATE", "DELETE"] {
            let lower = op.to_ascii_lowercase();
            ddl.push_str(&format!(
                "CREATE TRIGGER IF NOT EXISTS {table}_no_{lower} BEFORE {op} ON {table}
                 BEGIN SELECT RAISE(ABORT, '{table}: {refusal}'); END;\n"
            ));
        }
    }
    sqlx::raw_sql(sqlx::AssertSqlSafe(ddl))
        .execute(db.pool())
        .await?;
    Ok(())
}

async fn postgres_guards(db: &Db) -> Result<(), sqlx::Error> {
    // One transaction: replicas starting together serialise on the table
    // locks DROP/CREATE TRIGGER take, and nobody sees a table unguarded.
    let mut ddl = String::from(
        "CREATE OR REPLACE FUNCTION factory_refuse_change() RETURNS trigger
         LANGUAGE plpgsql AS $$
         BEGIN
           RAISE EXCEPTION '%: rows are immutable (%); append a new one instead', TG_TABLE_NAME, TG_OP
             USING ERRCODE = 'P0001';
         END $$;\n",
    );
    for (table, _) in APPEND_ONLY {
        ddl.push_str(&format!(
            "DROP TRIGGER IF EXISTS {table}_immutable ON {table};
             CREATE TRIGGER {table}_immutable BEFORE UPDATE OR DELETE ON {table}
               FOR EACH ROW EXECUTE FUNCTION factory_refuse_change();
             DROP TRIGGER IF EXISTS {table}_no_truncate ON {table};
             CREATE TRIGGER {table}_no_truncate BEFORE TRUNCATE ON {table}
               FOR EACH STATEMENT EXECUTE FUNCTION factory_refuse_change();\n"
        ));
    }
    let mut tx = db.begin().await?;
    sqlx::raw_sql(sqlx::AssertSqlSafe(ddl))
        .execute(&mut *tx)
        .await?;
    tx.commit().await
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

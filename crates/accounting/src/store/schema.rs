//! What the migrations cannot say in one SQL text: the triggers that make
//! posted facts immutable (their DDL differs between SQLite and
//! PostgreSQL), and the seeds (default chart, category mapping, the base
//! currency). The triggers are applied once, as a schema part (see
//! `marimo_platform::db::migrate`); the seeds are idempotent and run at
//! every start.

use marimo_platform::{
    append_only::{self, Guarded},
    clock,
    db::{Db, DbError, DbKind, Prepared, TxConn},
};

use crate::domain::{accounts::DEFAULT_CHART, compat::DEFAULT_CATEGORIES};

/// Tables whose rows are facts: no UPDATE, no DELETE, ever.
const REFUSAL: &str = "posted ledger records are immutable; post a reversing entry instead";

const APPEND_ONLY: &[Guarded<'static>] = &[
    ("journal_entries", REFUSAL),
    ("journal_lines", REFUSAL),
    ("reversals", REFUSAL),
    ("compat_transactions", REFUSAL),
    ("period_events", REFUSAL),
];

/// `account_balances` rows may only grow: posting maintains them.
const SQLITE_BALANCES_ONLY_GROW: &str =
    "CREATE TRIGGER IF NOT EXISTS account_balances_only_grow BEFORE UPDATE ON account_balances
     WHEN NEW.debit < OLD.debit OR NEW.credit < OLD.credit
       OR NEW.account_code <> OLD.account_code OR NEW.period <> OLD.period
     BEGIN SELECT RAISE(ABORT, 'account_balances only grow: they are maintained by posting'); END;
     CREATE TRIGGER IF NOT EXISTS account_balances_no_delete BEFORE DELETE ON account_balances
     BEGIN SELECT RAISE(ABORT, 'account_balances only grow: they are maintained by posting'); END;\n";

const PG_BALANCES_ONLY_GROW: &str = "CREATE OR REPLACE FUNCTION accounting_balances_only_grow() RETURNS trigger
     LANGUAGE plpgsql AS $$
     BEGIN
       IF TG_OP = 'DELETE' OR NEW.debit < OLD.debit OR NEW.credit < OLD.credit
          OR NEW.account_code <> OLD.account_code OR NEW.period <> OLD.period THEN
         RAISE EXCEPTION 'account_balances only grow: they are maintained by posting'
           USING ERRCODE = 'P0001';
       END IF;
       RETURN NEW;
     END $$;
     DROP TRIGGER IF EXISTS account_balances_only_grow ON account_balances;
     CREATE TRIGGER account_balances_only_grow BEFORE UPDATE OR DELETE ON account_balances
       FOR EACH ROW EXECUTE FUNCTION accounting_balances_only_grow();
     DROP TRIGGER IF EXISTS account_balances_no_truncate ON account_balances;
     CREATE TRIGGER account_balances_no_truncate BEFORE TRUNCATE ON account_balances
       FOR EACH STATEMENT EXECUTE FUNCTION marimo_refuse_change('they are maintained by posting');\n";

/// Installs the guards: append-only tables refuse UPDATE and DELETE (and
/// TRUNCATE on PostgreSQL), and `account_balances` rows may only grow.
pub async fn install_guards(db: &Db) -> Result<Prepared, DbError> {
    let balances = match db.kind() {
        DbKind::Sqlite => SQLITE_BALANCES_ONLY_GROW,
        DbKind::Postgres => PG_BALANCES_ONLY_GROW,
    };
    append_only::install(db, APPEND_ONLY, balances).await
}

/// The base currency setting's name in `ledger_settings`.
pub const CURRENCY_SETTING: &str = "currency";

/// Seeds the default chart, the category mapping and the base currency;
/// rows that exist (possibly edited since) are left as they are.
pub async fn seed(db: &Db, default_currency: &str) -> Result<(), sqlx::Error> {
    let now = clock::now_text();
    let mut tx = db.begin().await?;
    for (code, name, account_type, parent) in DEFAULT_CHART {
        sqlx::query(
            "INSERT INTO accounts (code, name, account_type, parent_code, active, created_at, updated_at)
             VALUES ($1, $2, $3, $4, 1, $5, $5)
             ON CONFLICT (code) DO NOTHING",
        )
        .bind(*code)
        .bind(*name)
        .bind(account_type.as_str())
        .bind(*parent)
        .bind(&now)
        .execute(&mut *tx)
        .await?;
    }
    for (kind, category, account) in DEFAULT_CATEGORIES {
        sqlx::query(
            "INSERT INTO compat_categories (kind, category, account_code) VALUES ($1, $2, $3)
             ON CONFLICT (kind, category) DO NOTHING",
        )
        .bind(kind.as_str())
        .bind(*category)
        .bind(*account)
        .execute(&mut *tx)
        .await?;
    }
    sqlx::query(
        "INSERT INTO ledger_settings (name, value, updated_at) VALUES ($1, $2, $3)
         ON CONFLICT (name) DO NOTHING",
    )
    .bind(CURRENCY_SETTING)
    .bind(default_currency)
    .bind(&now)
    .execute(&mut *tx)
    .await?;
    tx.commit().await
}

/// The base currency, read in a posting's transaction.
pub async fn currency_in(conn: &mut TxConn) -> Result<Option<String>, sqlx::Error> {
    sqlx::query_scalar("SELECT value FROM ledger_settings WHERE name = $1")
        .bind(CURRENCY_SETTING)
        .fetch_optional(conn)
        .await
}

/// Sets the base currency in a transaction (only while the ledger is empty).
pub async fn set_currency_in(conn: &mut TxConn, code: &str) -> Result<(), sqlx::Error> {
    sqlx::query("UPDATE ledger_settings SET value = $2, updated_at = $3 WHERE name = $1")
        .bind(CURRENCY_SETTING)
        .bind(code)
        .bind(clock::now_text())
        .execute(conn)
        .await?;
    Ok(())
}

/// A setting of the service, if set.
pub async fn setting(db: &Db, name: &str) -> Result<Option<String>, sqlx::Error> {
    sqlx::query_scalar("SELECT value FROM ledger_settings WHERE name = $1")
        .bind(name)
        .fetch_optional(db.pool())
        .await
}

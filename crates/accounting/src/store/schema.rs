//! What the migrations cannot say in one SQL text: the triggers that make
//! posted facts immutable (their DDL differs between SQLite and
//! PostgreSQL), and the seeds (default chart, category mapping, the base
//! currency). Everything here is idempotent: it runs at every start.

use marimo_platform::{
    clock,
    db::{Db, DbKind},
};

use crate::domain::{accounts::DEFAULT_CHART, compat::DEFAULT_CATEGORIES};

/// Tables whose rows are facts: no UPDATE, no DELETE, ever.
const APPEND_ONLY: &[&str] = &[
    "journal_entries",
    "journal_lines",
    "reversals",
    "compat_transactions",
    "period_events",
];

const REFUSAL: &str = "posted ledger records are immutable; post a reversing entry instead";

/// Installs the guards: append-only tables refuse UPDATE and DELETE (and
/// TRUNCATE on PostgreSQL), and `account_balances` rows may only grow.
pub async fn install_guards(db: &Db) -> Result<(), sqlx::Error> {
    match db.kind() {
        DbKind::Sqlite => sqlite_guards(db).await,
        DbKind::Postgres => postgres_guards(db).await,
    }
}

async fn sqlite_guards(db: &Db) -> Result<(), sqlx::Error> {
    let mut ddl = String::new();
    for table in APPEND_ONLY {
        for op in ["UPDATE", "DELETE"] {
            let lower = op.to_ascii_lowercase();
            ddl.push_str(&format!(
                "CREATE TRIGGER IF NOT EXISTS {table}_no_{lower} BEFORE {op} ON {table}
                 BEGIN SELECT RAISE(ABORT, '{table}: {REFUSAL}'); END;\n"
            ));
        }
    }
    ddl.push_str(
        "CREATE TRIGGER IF NOT EXISTS account_balances_only_grow BEFORE UPDATE ON account_balances
         WHEN NEW.debit < OLD.debit OR NEW.credit < OLD.credit
           OR NEW.account_code <> OLD.account_code OR NEW.period <> OLD.period
         BEGIN SELECT RAISE(ABORT, 'account_balances only grow: they are maintained by posting'); END;
         CREATE TRIGGER IF NOT EXISTS account_balances_no_delete BEFORE DELETE ON account_balances
         BEGIN SELECT RAISE(ABORT, 'account_balances only grow: they are maintained by posting'); END;\n",
    );
    sqlx::raw_sql(sqlx::AssertSqlSafe(ddl))
        .execute(db.pool())
        .await?;
    Ok(())
}

async fn postgres_guards(db: &Db) -> Result<(), sqlx::Error> {
    // One transaction: replicas starting together serialise on the table
    // locks DROP/CREATE TRIGGER take, and nobody sees a table unguarded.
    let mut ddl = String::from(
        "CREATE OR REPLACE FUNCTION accounting_refuse_change() RETURNS trigger
         LANGUAGE plpgsql AS $$
         BEGIN
           RAISE EXCEPTION '%: posted ledger records are immutable; post a reversing entry instead', TG_TABLE_NAME
             USING ERRCODE = 'P0001';
         END $$;
         CREATE OR REPLACE FUNCTION accounting_balances_only_grow() RETURNS trigger
         LANGUAGE plpgsql AS $$
         BEGIN
           IF TG_OP = 'DELETE' OR NEW.debit < OLD.debit OR NEW.credit < OLD.credit
              OR NEW.account_code <> OLD.account_code OR NEW.period <> OLD.period THEN
             RAISE EXCEPTION 'account_balances only grow: they are maintained by posting'
               USING ERRCODE = 'P0001';
           END IF;
           RETURN NEW;
         END $$;\n",
    );
    for table in APPEND_ONLY {
        ddl.push_str(&format!(
            "DROP TRIGGER IF EXISTS {table}_immutable ON {table};
             CREATE TRIGGER {table}_immutable BEFORE UPDATE OR DELETE ON {table}
               FOR EACH ROW EXECUTE FUNCTION accounting_refuse_change();
             DROP TRIGGER IF EXISTS {table}_no_truncate ON {table};
             CREATE TRIGGER {table}_no_truncate BEFORE TRUNCATE ON {table}
               FOR EACH STATEMENT EXECUTE FUNCTION accounting_refuse_change();\n"
        ));
    }
    ddl.push_str(
        "DROP TRIGGER IF EXISTS account_balances_only_grow ON account_balances;
         CREATE TRIGGER account_balances_only_grow BEFORE UPDATE OR DELETE ON account_balances
           FOR EACH ROW EXECUTE FUNCTION accounting_balances_only_grow();
         DROP TRIGGER IF EXISTS account_balances_no_truncate ON account_balances;
         CREATE TRIGGER account_balances_no_truncate BEFORE TRUNCATE ON account_balances
           FOR EACH STATEMENT EXECUTE FUNCTION accounting_refuse_change();\n",
    );
    let mut tx = db.begin().await?;
    sqlx::raw_sql(sqlx::AssertSqlSafe(ddl))
        .execute(&mut *tx)
        .await?;
    tx.commit().await
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

/// A setting of the service, if set.
pub async fn setting(db: &Db, name: &str) -> Result<Option<String>, sqlx::Error> {
    sqlx::query_scalar("SELECT value FROM ledger_settings WHERE name = $1")
        .bind(name)
        .fetch_optional(db.pool())
        .await
}

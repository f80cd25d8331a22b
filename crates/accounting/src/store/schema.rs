//! What the migrations cannot say in one SQL text: the triggers that make
//! posted facts immutable (their DDL differs between SQLite and
//! PostgreSQL), the PostgreSQL row policies of the tenants, and the seeds
//! (the standard chart, category mapping, inventory-account mapping, the
//! base currency, the fiscal year's start month) of a tenant.
//! The triggers and policies are applied once, as schema parts (see
//! `marimo_platform::db::migrate`); the seeds are idempotent: the default
//! tenant's run at every start, another tenant's when accounting hears
//! of its creation (`events`).

use marimo_platform::{
    append_only::{self, Guarded},
    clock,
    db::{Db, DbError, DbKind, Prepared, Schema, TxConn},
    tenant::{TenantId, rls_ddl},
};

use crate::domain::{
    accounts::DEFAULT_CHART, calendar::FiscalCalendar, compat::DEFAULT_CATEGORIES,
};

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
       OR NEW.tenant_id <> OLD.tenant_id
       OR NEW.account_code <> OLD.account_code OR NEW.period <> OLD.period
     BEGIN SELECT RAISE(ABORT, 'account_balances only grow: they are maintained by posting'); END;
     CREATE TRIGGER IF NOT EXISTS account_balances_no_delete BEFORE DELETE ON account_balances
     BEGIN SELECT RAISE(ABORT, 'account_balances only grow: they are maintained by posting'); END;\n";

const PG_BALANCES_ONLY_GROW: &str = "CREATE OR REPLACE FUNCTION accounting_balances_only_grow() RETURNS trigger
     LANGUAGE plpgsql AS $$
     BEGIN
       IF TG_OP = 'DELETE' OR NEW.debit < OLD.debit OR NEW.credit < OLD.credit
          OR NEW.tenant_id <> OLD.tenant_id
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

/// Every table of the ledger: each has `tenant_id` and is under the
/// tenant policy on PostgreSQL. (`idempotency_keys` is the platform's,
/// keyed by tenant-scoped callers.)
pub const TENANT_TABLES: &[&str] = &[
    "ledger_settings",
    "accounts",
    "periods",
    "period_events",
    "entry_counters",
    "journal_entries",
    "journal_lines",
    "reversals",
    "account_balances",
    "compat_categories",
    "compat_transactions",
    "inventory_accounts",
];

/// Installs the guards: append-only tables refuse UPDATE and DELETE (and
/// TRUNCATE on PostgreSQL), and `account_balances` rows may only grow
/// (and never move to another tenant, account or month).
pub async fn install_guards(db: &Db) -> Result<Prepared, DbError> {
    let balances = match db.kind() {
        DbKind::Sqlite => SQLITE_BALANCES_ONLY_GROW,
        DbKind::Postgres => PG_BALANCES_ONLY_GROW,
    };
    append_only::install(db, APPEND_ONLY, balances).await
}

/// On PostgreSQL, puts every ledger table under the tenant policy (the
/// composite foreign keys are in the migration, on both backends).
pub async fn install_policies(db: &Db) -> Result<Prepared, DbError> {
    if db.kind() != DbKind::Postgres {
        return Ok(Prepared::Current);
    }
    db.prepare(&Schema::new().part("accounting_tenancy", rls_ddl(TENANT_TABLES)))
        .await
}

/// The base currency setting's name in `ledger_settings`.
pub const CURRENCY_SETTING: &str = "currency";

/// The setting in `ledger_settings` that holds the month (1–12) a
/// tenant's fiscal year starts in; without it, January.
pub const FISCAL_START_SETTING: &str = "fiscal_year_start_month";

/// Seeds a tenant's books in its transaction: the standard chart, the
/// category mapping, the inventory-account mapping, the base currency and
/// the fiscal calendar; rows that
/// exist (possibly edited since) are left as they are, so seeding again
/// changes nothing.
pub async fn seed_in(
    conn: &mut TxConn,
    t: &TenantId,
    currency: &str,
    fiscal: FiscalCalendar,
) -> Result<(), sqlx::Error> {
    let now = clock::now_text();
    // Parents come first in the chart, so each parent row exists when its
    // children arrive (composite foreign key).
    for (code, name, account_type, parent) in DEFAULT_CHART {
        sqlx::query(
            "INSERT INTO accounts (tenant_id, code, name, account_type, parent_code, active, created_at, updated_at)
             VALUES ($1, $2, $3, $4, $5, 1, $6, $6)
             ON CONFLICT (tenant_id, code) DO NOTHING",
        )
        .bind(t.as_str())
        .bind(*code)
        .bind(*name)
        .bind(account_type.as_str())
        .bind(*parent)
        .bind(&now)
        .execute(&mut *conn)
        .await?;
    }
    for (kind, category, account) in DEFAULT_CATEGORIES {
        sqlx::query(
            "INSERT INTO compat_categories (tenant_id, kind, category, account_code)
             VALUES ($1, $2, $3, $4)
             ON CONFLICT (tenant_id, kind, category) DO NOTHING",
        )
        .bind(t.as_str())
        .bind(kind.as_str())
        .bind(*category)
        .bind(*account)
        .execute(&mut *conn)
        .await?;
    }
    super::inventory::seed_in(conn, t, &now).await?;
    let month = fiscal.start_month().to_string();
    for (name, value) in [(CURRENCY_SETTING, currency), (FISCAL_START_SETTING, &month)] {
        sqlx::query(
            "INSERT INTO ledger_settings (tenant_id, name, value, updated_at) VALUES ($1, $2, $3, $4)
             ON CONFLICT (tenant_id, name) DO NOTHING",
        )
        .bind(t.as_str())
        .bind(name)
        .bind(value)
        .bind(&now)
        .execute(&mut *conn)
        .await?;
    }
    Ok(())
}

/// Seeds the default tenant's books (at every start; idempotent). Its
/// fiscal year is the calendar year unless its settings say otherwise
/// (a `users.tenant.updated` of the default tenant).
pub async fn seed(db: &Db, default_currency: &str) -> Result<(), sqlx::Error> {
    let t = TenantId::default_tenant();
    let mut tx = db.tenant(&t).begin().await?;
    seed_in(&mut tx, &t, default_currency, FiscalCalendar::default()).await?;
    tx.commit().await
}

/// A tenant's fiscal calendar, read in its transaction: January when the
/// setting is absent (books seeded before it existed) or unreadable.
pub async fn fiscal_calendar_in(
    conn: &mut TxConn,
    t: &TenantId,
) -> Result<FiscalCalendar, sqlx::Error> {
    let month: Option<String> =
        sqlx::query_scalar("SELECT value FROM ledger_settings WHERE tenant_id = $1 AND name = $2")
            .bind(t.as_str())
            .bind(FISCAL_START_SETTING)
            .fetch_optional(conn)
            .await?;
    Ok(month
        .and_then(|m| m.parse::<u8>().ok())
        .and_then(FiscalCalendar::starting)
        .unwrap_or_default())
}

/// Sets a tenant's fiscal calendar (only while its ledger is empty: the
/// entries' fiscal years and numbers are facts).
pub async fn set_fiscal_calendar_in(
    conn: &mut TxConn,
    t: &TenantId,
    fiscal: FiscalCalendar,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO ledger_settings (tenant_id, name, value, updated_at) VALUES ($1, $2, $3, $4)
         ON CONFLICT (tenant_id, name) DO UPDATE SET value = $3, updated_at = $4",
    )
    .bind(t.as_str())
    .bind(FISCAL_START_SETTING)
    .bind(fiscal.start_month().to_string())
    .bind(clock::now_text())
    .execute(conn)
    .await?;
    Ok(())
}

/// A tenant's base currency, read in its transaction (`None`: a tenant
/// accounting has not seeded).
pub async fn currency_in(conn: &mut TxConn, t: &TenantId) -> Result<Option<String>, sqlx::Error> {
    sqlx::query_scalar("SELECT value FROM ledger_settings WHERE tenant_id = $1 AND name = $2")
        .bind(t.as_str())
        .bind(CURRENCY_SETTING)
        .fetch_optional(conn)
        .await
}

/// Sets a tenant's base currency (only while its ledger is empty);
/// `false` for a tenant without books.
pub async fn set_currency_in(
    conn: &mut TxConn,
    t: &TenantId,
    code: &str,
) -> Result<bool, sqlx::Error> {
    let res = sqlx::query(
        "UPDATE ledger_settings SET value = $3, updated_at = $4 WHERE tenant_id = $1 AND name = $2",
    )
    .bind(t.as_str())
    .bind(CURRENCY_SETTING)
    .bind(code)
    .bind(clock::now_text())
    .execute(conn)
    .await?;
    Ok(res.rows_affected() == 1)
}

/// Every tenant's base currency: for the replica's cache, read across
/// tenants (a cache refresh is not work on behalf of one tenant).
pub async fn currencies(db: &Db) -> Result<Vec<(String, String)>, sqlx::Error> {
    let mut tx = db.all_tenants().read().await?;
    let rows = sqlx::query_as("SELECT tenant_id, value FROM ledger_settings WHERE name = $1")
        .bind(CURRENCY_SETTING)
        .fetch_all(&mut *tx)
        .await?;
    tx.rollback().await?;
    Ok(rows)
}

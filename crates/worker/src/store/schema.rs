//! Migrations plus the backend-specific DDL that one migration text cannot
//! hold: the triggers that make `audit_log` append-only in the database
//! itself, so not even a bug or a hand-typed statement in this service can
//! rewrite history.

use marimo_platform::db::{Db, DbKind};

static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!();

const SQLITE_TRIGGERS: &[&str] = &[
    "CREATE TRIGGER IF NOT EXISTS audit_log_no_update BEFORE UPDATE ON audit_log
     BEGIN SELECT RAISE(ABORT, 'audit_log is append-only'); END",
    "CREATE TRIGGER IF NOT EXISTS audit_log_no_delete BEFORE DELETE ON audit_log
     BEGIN SELECT RAISE(ABORT, 'audit_log is append-only'); END",
];

/// Any constant key: replicas starting together serialise the DDL below
/// on it (concurrent `CREATE OR REPLACE FUNCTION` can fail with "tuple
/// concurrently updated").
const PG_LOCK: &str = "SELECT pg_advisory_xact_lock(727465870087)";

const PG_TRIGGERS: &[&str] = &[
    "CREATE OR REPLACE FUNCTION audit_log_append_only() RETURNS trigger
     LANGUAGE plpgsql AS $$
     BEGIN
         RAISE EXCEPTION 'audit_log is append-only';
     END;
     $$",
    "DROP TRIGGER IF EXISTS audit_log_no_change ON audit_log",
    "CREATE TRIGGER audit_log_no_change BEFORE UPDATE OR DELETE ON audit_log
     FOR EACH ROW EXECUTE FUNCTION audit_log_append_only()",
    "DROP TRIGGER IF EXISTS audit_log_no_truncate ON audit_log",
    "CREATE TRIGGER audit_log_no_truncate BEFORE TRUNCATE ON audit_log
     FOR EACH STATEMENT EXECUTE FUNCTION audit_log_append_only()",
];

/// Runs the migrations, then (idempotently) the append-only triggers.
pub async fn prepare(db: &Db) -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
    db.migrate(&MIGRATOR).await?;
    match db.kind() {
        DbKind::Sqlite => {
            for stmt in SQLITE_TRIGGERS {
                sqlx::query(*stmt).execute(db.pool()).await?;
            }
        }
        DbKind::Postgres => {
            // One transaction: the trigger is never missing between DROP
            // and CREATE for concurrent writers.
            let mut tx = db.begin().await?;
            sqlx::query(PG_LOCK).execute(&mut *tx).await?;
            for stmt in PG_TRIGGERS {
                sqlx::query(*stmt).execute(&mut *tx).await?;
            }
            tx.commit().await?;
        }
    }
    Ok(())
}

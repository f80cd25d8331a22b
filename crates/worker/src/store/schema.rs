//! Migrations plus the backend-specific DDL that one migration text cannot
//! hold: the triggers that make `audit_log` append-only in the database
//! itself, so not even a bug or a hand-typed statement in this service can
//! rewrite history.

use marimo_platform::{
    append_only::{self, Guarded},
    db::Db,
};

static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!();

const APPEND_ONLY: &[Guarded<'static>] = &[("audit_log", "history is never rewritten")];

/// Brings the migrations, then the append-only triggers, up to date (no
/// DDL when they are current).
pub async fn prepare(db: &Db) -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
    db.migrate(&MIGRATOR).await?;
    append_only::install(db, APPEND_ONLY, "").await?;
    Ok(())
}

//! The bus's own tables, created in every service's database at start.
//!
//! They are created with idempotent DDL rather than through the service's
//! migrator so that every service gets the same tables without copying a
//! migration file into each crate. A change to them must stay additive.

use crate::db::Db;

const DDL: &[&str] = &[
    "CREATE TABLE IF NOT EXISTS outbox (
        id TEXT PRIMARY KEY,
        event_type TEXT NOT NULL,
        envelope TEXT NOT NULL,
        created_at TEXT NOT NULL,
        sent_at TEXT,
        attempts BIGINT NOT NULL DEFAULT 0,
        last_error TEXT
    )",
    "CREATE INDEX IF NOT EXISTS outbox_unsent ON outbox (id) WHERE sent_at IS NULL",
    "CREATE TABLE IF NOT EXISTS processed_events (
        consumer TEXT NOT NULL,
        event_id TEXT NOT NULL,
        processed_at TEXT NOT NULL,
        PRIMARY KEY (consumer, event_id)
    )",
    "CREATE TABLE IF NOT EXISTS dead_letters (
        queue TEXT NOT NULL,
        event_id TEXT NOT NULL,
        event_type TEXT NOT NULL,
        envelope TEXT NOT NULL,
        error TEXT NOT NULL,
        attempts BIGINT NOT NULL,
        failed_at TEXT NOT NULL,
        PRIMARY KEY (queue, event_id)
    )",
    "CREATE TABLE IF NOT EXISTS bus_leases (
        name TEXT PRIMARY KEY,
        holder TEXT NOT NULL,
        expires_at BIGINT NOT NULL
    )",
];

pub async fn prepare(db: &Db) -> Result<(), sqlx::Error> {
    for stmt in DDL {
        match sqlx::query(*stmt).execute(db.pool()).await {
            Ok(_) => {}
            // Replicas starting together on PostgreSQL may race on
            // IF NOT EXISTS (a unique violation in the catalog): the
            // object exists, which is all we need.
            Err(sqlx::Error::Database(e)) if e.is_unique_violation() => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

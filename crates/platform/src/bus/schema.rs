//! The bus's own tables, created in every service's database at start.
//!
//! They are a schema part of every service (see [`crate::db::migrate`])
//! rather than a migration, so that every service gets the same tables
//! without copying a migration file into each crate. The DDL is
//! idempotent and a change to it must stay additive: a changed text is
//! applied again over the existing tables.

use crate::db::{Db, DbError, Prepared, Schema};

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

/// Why a dead letter was given up on (`retry::reason`). A part of its
/// own, applied once after the tables exist: `ADD COLUMN` cannot be
/// repeated (SQLite has no `IF NOT EXISTS` for it), and this text never
/// changes. Rows from before it read as `permanent`, which is what the
/// old consumers dead-lettered without a reason.
const DEAD_LETTER_REASON: &str =
    "ALTER TABLE dead_letters ADD COLUMN reason TEXT NOT NULL DEFAULT 'permanent'";

/// Creates the bus tables unless they are current (then it only reads).
pub async fn prepare(db: &Db) -> Result<Prepared, DbError> {
    db.prepare(
        &Schema::new()
            .part("bus", DDL.join(";\n"))
            .part("bus_dead_letter_reason", DEAD_LETTER_REASON),
    )
    .await
}

//! Migrations plus the backend-specific DDL that one migration text cannot
//! hold: the triggers that make `audit_log` append-only in the database
//! itself, so not even a bug or a hand-typed statement in this service can
//! rewrite history; and, on PostgreSQL, the tenant row policies and the
//! composite foreign keys that keep a row from pointing at another
//! tenant's (docs/TENANCY.md).

use marimo_platform::{
    append_only::{self, Guarded},
    db::{Db, DbKind, Schema},
    tenant::rls_ddl,
};

static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!();

const APPEND_ONLY: &[Guarded<'static>] = &[("audit_log", "history is never rewritten")];

/// The worker's business tables: each has `tenant_id` and, on PostgreSQL,
/// the tenant policy. The bus's own tables (inbox, dead letters) and the
/// idempotency keys (scoped by tenant in their key) are system tables.
pub const TENANT_TABLES: &[&str] = &[
    "outgoing_mail",
    "audit_log",
    "notifications",
    "notification_reads",
    "webhooks",
    "webhook_deliveries",
    "webhook_attempts",
];

/// `(constraint, child table, child column, parent table)`: composite
/// foreign keys `(tenant_id, column) REFERENCES parent (tenant_id, id)`.
const TENANT_FKS: &[(&str, &str, &str, &str)] = &[
    (
        "notification_reads_tenant_fk",
        "notification_reads",
        "notification_id",
        "notifications",
    ),
    (
        "webhook_deliveries_tenant_fk",
        "webhook_deliveries",
        "webhook_id",
        "webhooks",
    ),
    (
        "webhook_attempts_tenant_fk",
        "webhook_attempts",
        "delivery_id",
        "webhook_deliveries",
    ),
];

/// PostgreSQL's tenancy DDL: the policies, then the composite foreign keys
/// (each added only if missing, so the part can run again).
fn tenancy_ddl() -> String {
    let mut ddl = rls_ddl(TENANT_TABLES);
    for (name, child, column, parent) in TENANT_FKS {
        ddl.push_str(&format!(
            "DO $$ BEGIN
               IF NOT EXISTS (SELECT 1 FROM pg_constraint WHERE conname = '{name}') THEN
                 ALTER TABLE {child} ADD CONSTRAINT {name}
                   FOREIGN KEY (tenant_id, {column}) REFERENCES {parent} (tenant_id, id);
               END IF;
             END $$;\n"
        ));
    }
    ddl
}

/// Brings the migrations, then the append-only triggers and (PostgreSQL)
/// the tenancy part, up to date (no DDL when they are current).
pub async fn prepare(db: &Db) -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
    db.migrate(&MIGRATOR).await?;
    append_only::install(db, APPEND_ONLY, "").await?;
    if db.kind() == DbKind::Postgres {
        db.prepare(&Schema::new().part("tenancy", tenancy_ddl()))
            .await?;
    }
    Ok(())
}

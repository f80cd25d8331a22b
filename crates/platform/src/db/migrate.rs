//! Schema changes at start: checked first, applied once, under a lock.
//!
//! A service's schema is its sqlx migrations plus named *parts*: DDL that
//! one migration text cannot hold because it differs between SQLite and
//! PostgreSQL (the append-only triggers) or that every service shares (the
//! bus tables). Each part is recorded in `marimo_schema_parts` with a
//! fingerprint of its DDL; migrations are recorded by sqlx in
//! `_sqlx_migrations`.
//!
//! [`Db::prepare`] first reads those records (plain SELECTs). When every
//! migration and part of this build is there, it returns without running a
//! single DDL statement: a replica starting under write load takes no
//! table locks, so it cannot deadlock the writers (DDL such as `CREATE OR
//! REPLACE FUNCTION` or `DROP TRIGGER` takes locks that writers queue on).
//! Otherwise, with [`MigrateMode::Auto`], it takes the schema lock — a
//! PostgreSQL advisory lock keyed by the service schema, or on SQLite an
//! exclusive lock on a file beside the database — checks again (another
//! replica may have migrated meanwhile) and applies what is missing. With
//! [`MigrateMode::Off`] it refuses: `marimo migrate` is the step that
//! changes the schema.
//!
//! A newer schema than this build's (migrations it does not know, e.g. an
//! old replica during a rolling upgrade) counts as current: migrations are
//! additive.

use std::path::PathBuf;

use sha2::{Digest, Sha256};
use sqlx::{Connection, migrate::Migrator};

use super::{Db, DbError, DbKind};
use crate::config::MigrateMode;

/// What a service's schema is made of (see the module docs).
#[derive(Default)]
pub struct Schema<'a> {
    migrator: Option<&'a Migrator>,
    parts: Vec<(&'static str, String)>,
}

impl<'a> Schema<'a> {
    pub fn new() -> Self {
        Self::default()
    }

    /// The service's sqlx migrations.
    pub fn migrations(mut self, migrator: &'a Migrator) -> Self {
        self.migrator = Some(migrator);
        self
    }

    /// DDL applied as a whole (in one transaction) and recorded under
    /// `name`; a change to the text is applied again, so it must be
    /// idempotent (`IF NOT EXISTS`, `CREATE OR REPLACE`, `DROP ... IF
    /// EXISTS` then `CREATE`).
    pub fn part(mut self, name: &'static str, ddl: impl Into<String>) -> Self {
        self.parts.push((name, ddl.into()));
        self
    }
}

/// What [`Db::prepare`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Prepared {
    /// Everything was in place: no DDL ran.
    Current,
    /// Missing migrations or parts were applied.
    Applied,
}

/// Where the records of applied parts live.
const PARTS_TABLE: &str = "marimo_schema_parts";

const CREATE_PARTS_TABLE: &str = "CREATE TABLE IF NOT EXISTS marimo_schema_parts (
    part TEXT NOT NULL,
    fingerprint TEXT NOT NULL,
    applied_at TEXT NOT NULL,
    PRIMARY KEY (part, fingerprint)
)";

/// Serialises schema changes of one service (see [`Db::prepare`]).
pub(super) enum SchemaLock {
    /// A connection of its own holding `pg_advisory_lock`; closing it
    /// releases the lock, also when the process dies.
    Postgres(sqlx::AnyConnection),
    /// A file locked exclusively (`flock`); the OS releases it when the
    /// file is closed, also when the process dies.
    File(std::fs::File),
}

/// Where the SQLite lock file of a service lives: beside its database.
pub(super) fn lock_file(dir: &std::path::Path, service: &str) -> PathBuf {
    dir.join(format!("{service}.db.migrate-lock"))
}

/// The advisory lock key of a service schema: stable across builds and
/// processes, distinct per schema.
fn advisory_key(service: &str) -> i64 {
    let digest = Sha256::digest(format!("marimo-migrate:{service}").as_bytes());
    let mut bytes = [0u8; 8];
    bytes.copy_from_slice(&digest[..8]);
    i64::from_be_bytes(bytes)
}

fn fingerprint(ddl: &str) -> String {
    hex::encode(Sha256::digest(ddl.as_bytes()))
}

impl Db {
    /// Brings `schema` up to date (see the module docs): nothing but reads
    /// when it is current; otherwise applies what is missing under the
    /// schema lock, or with `MARIMO_MIGRATE=off` refuses.
    pub async fn prepare(&self, schema: &Schema<'_>) -> Result<Prepared, DbError> {
        let sql_err = |source| DbError::Schema {
            service: self.service.clone(),
            source,
        };
        let missing = self.missing(schema).await.map_err(sql_err)?;
        let Some(first) = missing else {
            return Ok(Prepared::Current);
        };
        if self.migrate == MigrateMode::Off {
            return Err(DbError::Behind {
                service: self.service.clone(),
                missing: first,
            });
        }
        let lock = self.lock_schema().await?;
        let result = self.apply(schema).await;
        self.unlock_schema(lock).await;
        result
    }

    /// What the schema lacks first (a description for messages), or
    /// `None` when it is current.
    async fn missing(&self, schema: &Schema<'_>) -> Result<Option<String>, sqlx::Error> {
        if let Some(migrator) = schema.migrator
            && let Some(version) = self.missing_migration(migrator).await?
        {
            return Ok(Some(format!("migration {version}")));
        }
        if schema.parts.is_empty() {
            return Ok(None);
        }
        if !self.table_exists(PARTS_TABLE).await? {
            return Ok(Some(format!("schema part {}", schema.parts[0].0)));
        }
        for (name, ddl) in &schema.parts {
            if !self.part_recorded(name, &fingerprint(ddl)).await? {
                return Ok(Some(format!("schema part {name}")));
            }
        }
        Ok(None)
    }

    /// The first migration of `migrator` not successfully applied with the
    /// same checksum.
    async fn missing_migration(&self, migrator: &Migrator) -> Result<Option<i64>, sqlx::Error> {
        let wanted = migrator
            .iter()
            .filter(|m| !m.migration_type.is_down_migration());
        if !self.table_exists(&migrator.table_name).await? {
            return Ok(wanted.map(|m| m.version).next());
        }
        let sql = format!(
            "SELECT version, checksum FROM {} WHERE success = $1",
            migrator.table_name
        );
        let applied: Vec<(i64, Vec<u8>)> = sqlx::query_as(sqlx::AssertSqlSafe(sql))
            .bind(true)
            .fetch_all(self.pool())
            .await?;
        Ok(wanted
            .filter(|m| {
                !applied
                    .iter()
                    .any(|(v, sum)| *v == m.version && sum[..] == m.checksum[..])
            })
            .map(|m| m.version)
            .next())
    }

    async fn table_exists(&self, table: &str) -> Result<bool, sqlx::Error> {
        let sql = match self.kind {
            DbKind::Sqlite => {
                "SELECT COUNT(*) FROM sqlite_master WHERE type = 'table' AND name = $1"
            }
            // current_schema() is the service schema (search_path); NULL
            // when that schema does not exist yet, so nothing matches.
            DbKind::Postgres => {
                "SELECT COUNT(*) FROM information_schema.tables
                 WHERE table_schema = current_schema() AND table_name = $1"
            }
        };
        let n: i64 = sqlx::query_scalar(sql)
            .bind(table)
            .fetch_one(self.pool())
            .await?;
        Ok(n > 0)
    }

    async fn part_recorded(&self, name: &str, fingerprint: &str) -> Result<bool, sqlx::Error> {
        let n: i64 = sqlx::query_scalar(
            "SELECT COUNT(*) FROM marimo_schema_parts WHERE part = $1 AND fingerprint = $2",
        )
        .bind(name)
        .bind(fingerprint)
        .fetch_one(self.pool())
        .await?;
        Ok(n > 0)
    }

    /// Applies what is missing; called under the schema lock.
    async fn apply(&self, schema: &Schema<'_>) -> Result<Prepared, DbError> {
        let sql_err = |source| DbError::Schema {
            service: self.service.clone(),
            source,
        };
        // Another replica may have finished while this one waited.
        if self.missing(schema).await.map_err(sql_err)?.is_none() {
            return Ok(Prepared::Current);
        }
        if let Some(migrator) = schema.migrator {
            // sqlx's own lock is keyed by database, not schema; ours
            // already serialises this service, so it is redundant but
            // harmless.
            migrator
                .run(self.pool.raw())
                .await
                .map_err(|source| DbError::Migrate {
                    service: self.service.clone(),
                    source,
                })?;
        }
        if !schema.parts.is_empty() {
            sqlx::query(CREATE_PARTS_TABLE)
                .execute(self.pool())
                .await
                .map_err(sql_err)?;
        }
        for (name, ddl) in &schema.parts {
            let print = fingerprint(ddl);
            if self.part_recorded(name, &print).await.map_err(sql_err)? {
                continue;
            }
            // One transaction: a writer never sees the part half applied
            // (e.g. a table whose guard triggers are dropped, not yet
            // recreated).
            let apply = async {
                let mut tx = self.begin().await?;
                sqlx::raw_sql(sqlx::AssertSqlSafe(ddl.clone()))
                    .execute(&mut *tx)
                    .await?;
                sqlx::query(
                    "INSERT INTO marimo_schema_parts (part, fingerprint, applied_at)
                     VALUES ($1, $2, $3) ON CONFLICT (part, fingerprint) DO NOTHING",
                )
                .bind(*name)
                .bind(&print)
                .bind(crate::clock::now_text())
                .execute(&mut *tx)
                .await?;
                tx.commit().await
            };
            apply.await.map_err(sql_err)?;
        }
        tracing::info!(service = %self.service, "schema migrated");
        Ok(Prepared::Applied)
    }

    /// Waits for the schema lock of this service.
    async fn lock_schema(&self) -> Result<SchemaLock, DbError> {
        let service = self.service.clone();
        match self.kind {
            DbKind::Sqlite => {
                let path = self.lock_file.clone().ok_or_else(|| DbError::Prepare {
                    service: service.clone(),
                    source: std::io::Error::other("no lock file for a SQLite database"),
                })?;
                let locked = tokio::task::spawn_blocking(move || {
                    // Owner-only like every file of the data directory.
                    crate::config::touch_private(&path)?;
                    let file = std::fs::OpenOptions::new().write(true).open(&*path)?;
                    // Blocks until the replica holding it is done.
                    file.lock()?;
                    Ok::<_, std::io::Error>(file)
                })
                .await
                .map_err(std::io::Error::other)
                .and_then(|r| r);
                locked
                    .map(SchemaLock::File)
                    .map_err(|source| DbError::Prepare { service, source })
            }
            DbKind::Postgres => {
                let lock = async {
                    // Detached from the pool: the lock lives exactly as
                    // long as this connection, which is closed on unlock.
                    let mut conn = self.pool.raw().acquire().await?.detach();
                    sqlx::query("SELECT pg_advisory_lock($1)")
                        .bind(advisory_key(&self.service))
                        .execute(&mut conn)
                        .await?;
                    Ok::<_, sqlx::Error>(conn)
                };
                lock.await
                    .map(SchemaLock::Postgres)
                    .map_err(|source| DbError::Schema { service, source })
            }
        }
    }

    async fn unlock_schema(&self, lock: SchemaLock) {
        match lock {
            SchemaLock::Postgres(conn) => {
                // Closing the session releases its advisory locks; if the
                // close fails the server drops the session anyway.
                if let Err(e) = conn.close().await {
                    tracing::warn!(service = %self.service, error = %e, "closing the schema lock connection");
                }
            }
            SchemaLock::File(file) => {
                if let Err(e) = file.unlock() {
                    tracing::warn!(service = %self.service, error = %e, "unlocking the schema lock file");
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_service_schema_has_its_own_lock_key() {
        assert_eq!(advisory_key("shop"), advisory_key("shop"));
        assert_ne!(advisory_key("shop"), advisory_key("users"));
    }

    #[test]
    fn a_changed_part_has_a_new_fingerprint() {
        assert_eq!(
            fingerprint("CREATE TABLE t (a TEXT)"),
            fingerprint("CREATE TABLE t (a TEXT)")
        );
        assert_ne!(
            fingerprint("CREATE TABLE t (a TEXT)"),
            fingerprint("CREATE TABLE t (b TEXT)")
        );
    }
}

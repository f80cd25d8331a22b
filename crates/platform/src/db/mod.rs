//! One SQL text for SQLite and PostgreSQL, through sqlx's `Any` driver.
//!
//! Each service owns its data: on SQLite a file `<dir>/<service>.db`, on
//! PostgreSQL a schema named after the service (selected with `search_path`
//! on every pooled connection). Queries use `$n` placeholders and portable
//! types only: integers, text, booleans, bytes; ids are text, money is i64
//! minor units, times are text in the format of [`crate::clock`].
//!
//! Queries through [`Db::pool`] and [`Db::begin`] are measured and traced
//! (the `instrument` module).
//!
//! Schema changes go through [`Db::prepare`] ([`migrate`]): checked with
//! reads first, applied once under a lock, and not at all with
//! `MARIMO_MIGRATE=off`.
//!
//! Errors are classified once ([`fault`]): transient (the server, the
//! connection, another transaction) or permanent (the statement, the
//! data). A write transaction under contention runs inside
//! [`Db::retry_conflicts`], which runs it again after a deadlock, a
//! serialization failure or a busy SQLite file.

pub mod fault;
mod instrument;
pub mod migrate;

pub use fault::{Fault, classify, is_conflict};
pub use instrument::{Conn, ConnHandle, DbPool, Exec, PoolConn, Tx, TxConn};
pub use migrate::{Prepared, Schema};

use std::{
    path::PathBuf,
    sync::{Arc, Once},
    time::Duration,
};

use sqlx::{
    any::AnyPoolOptions,
    migrate::{MigrateError, Migrator},
};

use crate::{
    config::{DatabaseConfig, MigrateMode},
    telemetry::{Metrics, Tracer},
    tenant::TenantId,
};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DbKind {
    Sqlite,
    Postgres,
}

#[derive(Debug, thiserror::Error)]
pub enum DbError {
    #[error("cannot reach the {service} database: {source}")]
    Connect {
        service: String,
        #[source]
        source: sqlx::Error,
    },
    #[error("cannot prepare storage for {service}: {source}")]
    Prepare {
        service: String,
        #[source]
        source: std::io::Error,
    },
    #[error("migrations of {service} failed: {source}")]
    Migrate {
        service: String,
        #[source]
        source: MigrateError,
    },
    #[error("cannot check or change the {service} schema: {source}")]
    Schema {
        service: String,
        #[source]
        source: sqlx::Error,
    },
    #[error(
        "the {service} schema is behind this build ({missing} is not applied) and \
         MARIMO_MIGRATE=off: run `marimo migrate` first"
    )]
    Behind { service: String, missing: String },
}

/// A service's connection pool.
#[derive(Clone, Debug)]
pub struct Db {
    pool: DbPool,
    kind: DbKind,
    service: String,
    migrate: MigrateMode,
    /// SQLite: the file [`Db::prepare`] locks (see [`migrate`]).
    lock_file: Option<Arc<PathBuf>>,
}

/// See [`Db::downgrade`].
#[derive(Clone)]
pub struct WeakDb {
    pool: instrument::WeakPool,
    kind: DbKind,
    service: String,
    migrate: MigrateMode,
    lock_file: Option<Arc<PathBuf>>,
}

impl WeakDb {
    /// The database, while it is still in use.
    pub fn upgrade(&self) -> Option<Db> {
        Some(Db {
            pool: self.pool.upgrade()?,
            kind: self.kind,
            service: self.service.clone(),
            migrate: self.migrate,
            lock_file: self.lock_file.clone(),
        })
    }
}

/// How long a request waits for a pooled connection before the service
/// answers 503: an outage must surface quickly, never as a hang.
const ACQUIRE_TIMEOUT: Duration = Duration::from_secs(3);
/// Runs of a transaction in [`Db::retry_conflicts`].
pub const CONFLICT_ATTEMPTS: u32 = 3;
/// The first pause between two runs (doubling, jittered).
const CONFLICT_BACKOFF: Duration = Duration::from_millis(20);
/// How long start-up keeps trying to reach the database.
const CONNECT_PATIENCE: Duration = Duration::from_secs(15);

impl Db {
    /// Connects the pool of `service` and creates its file or schema;
    /// `migrate` says whether [`Db::prepare`] may change the schema (with
    /// [`MigrateMode::Off`] not even the PostgreSQL schema is created).
    pub async fn connect(
        service: &str,
        cfg: &DatabaseConfig,
        migrate: MigrateMode,
    ) -> Result<Self, DbError> {
        static DRIVERS: Once = Once::new();
        DRIVERS.call_once(sqlx::any::install_default_drivers);
        // The name becomes a schema identifier and a file name.
        debug_assert!(service.bytes().all(|b| b.is_ascii_lowercase() || b == b'_'));

        let lock_file = match cfg {
            DatabaseConfig::Sqlite { dir } => Some(Arc::new(migrate::lock_file(dir, service))),
            DatabaseConfig::Postgres { .. } => None,
        };
        let (url, kind) = match cfg {
            DatabaseConfig::Sqlite { dir } => {
                // Owner-only directory and database file (its WAL files
                // inherit the file's mode): other local users read nothing.
                let prepare = |source| DbError::Prepare {
                    service: service.into(),
                    source,
                };
                crate::config::create_private_dir(dir).map_err(prepare)?;
                let file = dir.join(format!("{service}.db"));
                crate::config::touch_private(&file).map_err(prepare)?;
                for side in ["-wal", "-shm"] {
                    let mut name = file.clone().into_os_string();
                    name.push(side);
                    crate::config::tighten(std::path::Path::new(&name)).map_err(prepare)?;
                }
                (
                    format!("sqlite://{}/{service}.db?mode=rwc", dir.display()),
                    DbKind::Sqlite,
                )
            }
            DatabaseConfig::Postgres { url } => (url.clone(), DbKind::Postgres),
        };

        let connect_err = |source| DbError::Connect {
            service: service.into(),
            source,
        };
        if kind == DbKind::Postgres {
            create_schema(&url, service, migrate)
                .await
                .map_err(connect_err)?;
        }

        let schema = service.to_string();
        let options = AnyPoolOptions::new()
            .max_connections(if kind == DbKind::Sqlite { 4 } else { 10 })
            .min_connections(0)
            .acquire_timeout(ACQUIRE_TIMEOUT)
            .idle_timeout(Duration::from_secs(300))
            .after_connect(move |conn, _meta| {
                let schema = schema.clone();
                Box::pin(async move {
                    use sqlx::Executor;
                    match kind {
                        // WAL lets readers run beside the writer; busy_timeout
                        // makes writers queue instead of failing; foreign keys
                        // are off by default in SQLite.
                        DbKind::Sqlite => {
                            conn.execute("PRAGMA journal_mode = WAL").await?;
                            conn.execute("PRAGMA busy_timeout = 10000").await?;
                            conn.execute("PRAGMA foreign_keys = ON").await?;
                            conn.execute("PRAGMA synchronous = NORMAL").await?;
                        }
                        DbKind::Postgres => {
                            let set = format!("SET search_path TO \"{schema}\"");
                            conn.execute(sqlx::AssertSqlSafe(set)).await?;
                        }
                    }
                    Ok(())
                })
            });
        let pool = options.connect(&url).await.map_err(connect_err)?;
        Ok(Self {
            pool: DbPool::new(pool),
            kind,
            service: service.into(),
            migrate,
            lock_file,
        })
    }

    /// Measures and traces this database's queries as `service`'s (the
    /// metrics and tracer of its context).
    pub fn instrumented(mut self, metrics: Metrics, tracer: Tracer) -> Self {
        let system = match self.kind {
            DbKind::Sqlite => "sqlite",
            DbKind::Postgres => "postgresql",
        };
        self.pool = self.pool.with_probe(instrument::Probe::new(
            metrics,
            tracer,
            system,
            self.service.clone(),
        ));
        self
    }

    /// A handle that does not keep the pool open: what a scrape-time
    /// collector holds (the collector lives in the metrics this database
    /// reports to, so a strong handle would keep both alive for ever).
    pub fn downgrade(&self) -> WeakDb {
        WeakDb {
            pool: self.pool.downgrade(),
            kind: self.kind,
            service: self.service.clone(),
            migrate: self.migrate,
            lock_file: self.lock_file.clone(),
        }
    }

    /// The service metrics and tracer this database reports to.
    pub fn telemetry(&self) -> Option<(Metrics, Tracer)> {
        self.pool.telemetry()
    }

    /// Brings the service's migrations up to date through [`Db::prepare`]:
    /// no DDL when they are current, once under the schema lock otherwise.
    pub async fn migrate(&self, migrator: &Migrator) -> Result<Prepared, DbError> {
        self.prepare(&Schema::new().migrations(migrator)).await
    }

    /// The pool as an instrumented executor (`.fetch_all(db.pool())`).
    pub fn pool(&self) -> &DbPool {
        &self.pool
    }

    pub fn kind(&self) -> DbKind {
        self.kind
    }

    /// Begins a transaction that will write. On SQLite it takes the write
    /// lock up front (`BEGIN IMMEDIATE`): a deferred transaction that reads
    /// then writes can fail with SQLITE_BUSY when another writer got there
    /// first, which busy_timeout cannot cure.
    pub async fn begin(&self) -> Result<Tx, sqlx::Error> {
        let obs = self.pool.observe("BEGIN");
        let result = match self.kind {
            DbKind::Sqlite => self.pool.raw().begin_with("BEGIN IMMEDIATE").await,
            DbKind::Postgres => self.pool.raw().begin().await,
        };
        instrument::finish(obs, result.as_ref().err());
        Ok(self.pool.wrap(result?))
    }

    /// A read-only transaction that sees one snapshot, so the several
    /// queries of a report agree with each other while writers commit.
    /// SQLite in WAL mode gives a deferred transaction its snapshot at the
    /// first read (and takes no write lock); PostgreSQL needs REPEATABLE
    /// READ for that.
    pub async fn snapshot(&self) -> Result<Tx, sqlx::Error> {
        let obs = self.pool.observe("BEGIN");
        let result = self.pool.raw().begin().await;
        instrument::finish(obs, result.as_ref().err());
        let mut tx = self.pool.wrap(result?);
        if self.kind == DbKind::Postgres {
            sqlx::query("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
                .execute(&mut *tx)
                .await?;
        }
        Ok(tx)
    }

    /// Runs the transaction `op` (which begins, works and commits) and runs
    /// it again, whole, when it lost against another transaction
    /// ([`fault::is_conflict`]: deadlock, serialization failure, lock
    /// timeout, SQLite busy): at most [`CONFLICT_ATTEMPTS`] runs, with a
    /// short jittered pause between them so the contenders do not meet
    /// again at once. Each retry counts in
    /// `db_transaction_retries_total{service}`. A conflict that outlasts
    /// the attempts is returned; the HTTP mapping answers it with 503 and
    /// `Retry-After`.
    ///
    /// `op` must not have effects outside its transaction before it
    /// commits (a retry repeats them); everything rolled back by a
    /// conflict is redone by the next run. It is a closure returning a
    /// future (`|| async move { .. }`, capturing references) rather than
    /// an async closure, whose futures cannot be proven `Send` for a
    /// handler.
    pub async fn retry_conflicts<T, E, F, Fut>(&self, mut op: F) -> Result<T, E>
    where
        E: Conflict,
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<T, E>>,
    {
        let backoff = crate::resilience::retry::Backoff {
            base: CONFLICT_BACKOFF,
            factor: 2,
            cap: CONFLICT_BACKOFF * 8,
        };
        let mut attempt = 1;
        loop {
            match op().await {
                Err(e) if attempt < CONFLICT_ATTEMPTS && e.is_conflict() => {
                    tracing::debug!(service = %self.service, attempt, "transaction conflict; running it again");
                    if let Some((m, _)) = self.telemetry() {
                        m.record(|| {
                            metrics::counter!("db_transaction_retries_total", "service" => m.service())
                                .increment(1);
                        });
                    }
                    // At least a little: the winner needs the time to commit.
                    let pause = backoff.delay(attempt - 1).max(CONFLICT_BACKOFF / 4);
                    tokio::time::sleep(pause).await;
                    attempt += 1;
                }
                other => return other,
            }
        }
    }

    /// The transactions of `tenant` (see [`crate::tenant`]): each sets
    /// the tenant for PostgreSQL's row policies before its first query,
    /// and events published in it carry the tenant.
    pub fn tenant<'a>(&'a self, tenant: &'a TenantId) -> TenantScope<'a> {
        TenantScope {
            db: self,
            setting: tenant.as_str(),
            tenant: Some(tenant),
        }
    }

    /// Transactions that see every tenant's rows, for jobs that work
    /// across tenants (sweeps, reports of the installation). Never for
    /// work done on behalf of a request or an event: those act in their
    /// tenant through [`Db::tenant`].
    pub fn all_tenants(&self) -> TenantScope<'_> {
        TenantScope {
            db: self,
            setting: crate::tenant::ALL_TENANTS,
            tenant: None,
        }
    }

    /// True when a trivial query succeeds (readiness).
    pub async fn ping(&self) -> bool {
        // Not measured: probes would drown the service's own queries.
        sqlx::query("SELECT 1")
            .execute(self.pool.raw())
            .await
            .is_ok()
    }

    pub async fn close(&self) {
        self.pool.raw().close().await;
    }
}

/// Creates the service's schema unless it exists (a start on a current
/// database runs no DDL), retrying while the server comes up. With
/// `MARIMO_MIGRATE=off` it only waits for the server: a missing schema is
/// then reported by [`Db::prepare`].
async fn create_schema(url: &str, schema: &str, migrate: MigrateMode) -> Result<(), sqlx::Error> {
    let deadline = tokio::time::Instant::now() + CONNECT_PATIENCE;
    loop {
        let attempt = async {
            let pool = AnyPoolOptions::new()
                .max_connections(1)
                .acquire_timeout(ACQUIRE_TIMEOUT)
                .connect(url)
                .await?;
            let res = async {
                let exists: i64 =
                    sqlx::query_scalar("SELECT COUNT(*) FROM pg_namespace WHERE nspname = $1")
                        .bind(schema)
                        .fetch_one(&pool)
                        .await?;
                if exists == 0 && migrate == MigrateMode::Auto {
                    let sql = format!("CREATE SCHEMA IF NOT EXISTS \"{schema}\"");
                    sqlx::query(sqlx::AssertSqlSafe(sql)).execute(&pool).await?;
                }
                Ok(())
            }
            .await;
            pool.close().await;
            res
        };
        match attempt.await {
            Ok(()) => return Ok(()),
            // Two replicas racing on CREATE SCHEMA IF NOT EXISTS: one loses
            // with a unique violation, and the schema exists. Fine.
            Err(sqlx::Error::Database(e)) if e.is_unique_violation() => return Ok(()),
            Err(e) if tokio::time::Instant::now() >= deadline => return Err(e),
            Err(e) => {
                tracing::warn!(error = %e, "database not reachable yet, retrying");
                tokio::time::sleep(Duration::from_millis(500)).await;
            }
        }
    }
}

/// Transactions in one tenant (or in all of them): [`Db::tenant`],
/// [`Db::all_tenants`]. On PostgreSQL each begins by setting
/// `marimo.tenant_id` for the transaction only, so a pooled connection
/// never carries one request's tenant into the next; on SQLite, which has
/// no row policies, the store layer's filters are the isolation.
#[derive(Clone, Copy)]
pub struct TenantScope<'a> {
    db: &'a Db,
    setting: &'a str,
    tenant: Option<&'a TenantId>,
}

impl TenantScope<'_> {
    /// [`Db::begin`] in this tenant.
    pub async fn begin(&self) -> Result<Tx, sqlx::Error> {
        self.enter(self.db.begin().await?).await
    }

    /// [`Db::snapshot`] in this tenant.
    pub async fn snapshot(&self) -> Result<Tx, sqlx::Error> {
        self.enter(self.db.snapshot().await?).await
    }

    /// A transaction for reads that need no single snapshot (dropped, not
    /// committed: it rolls back). PostgreSQL's policies need a
    /// transaction to hold the setting; on SQLite it is a deferred
    /// transaction, which takes no write lock.
    pub async fn read(&self) -> Result<Tx, sqlx::Error> {
        let obs = self.db.pool.observe("BEGIN");
        let result = self.db.pool.raw().begin().await;
        instrument::finish(obs, result.as_ref().err());
        self.enter(self.db.pool.wrap(result?)).await
    }

    async fn enter(&self, mut tx: Tx) -> Result<Tx, sqlx::Error> {
        if self.db.kind == DbKind::Postgres {
            sqlx::query("SELECT set_config($1, $2, true)")
                .bind(crate::tenant::SETTING)
                .bind(self.setting)
                .execute(&mut *tx)
                .await?;
        }
        if let Some(tenant) = self.tenant {
            tx.set_tenant(tenant.clone());
        }
        Ok(tx)
    }
}

/// An error that can tell whether it is a transaction conflict worth
/// running the transaction again for ([`Db::retry_conflicts`]). A
/// service's error type implements it by asking its database variant.
pub trait Conflict {
    fn is_conflict(&self) -> bool;
}

impl Conflict for sqlx::Error {
    fn is_conflict(&self) -> bool {
        is_conflict(self)
    }
}

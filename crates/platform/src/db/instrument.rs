//! Every query of a service, measured in one place.
//!
//! [`Db::pool`](super::Db::pool) hands out a [`DbPool`] and
//! [`Db::begin`](super::Db::begin) a [`Tx`]; both are sqlx executors that
//! wrap the real ones. Each statement through them:
//!
//! - counts in `db_queries_total{service, operation, status}` and times in
//!   `db_query_duration_seconds{service, operation}` (pool wait included:
//!   an exhausted or unreachable database shows up as slow, failed
//!   queries). `operation` is the SQL verb: `select`, `insert`, `update`,
//!   `delete`, else `other` (transaction control too); `status` is `ok`,
//!   `constraint` (a unique, foreign-key, not-null or check violation: the
//!   database refused bad data and is fine) or `error`.
//! - becomes a client span (`SELECT outbox`, ...) when it runs inside a
//!   traced request or event; background polling makes no spans.
//!
//! Call sites read like plain sqlx: `.execute(db.pool())`,
//! `.fetch_one(&mut *tx)`. The wrappers do not deref to the raw `AnyPool`
//! or `AnyConnection`, so no query can slip past the measurement: a store
//! function takes `&DbPool`, `&mut TxConn`, or any [`Exec`].

use std::{
    fmt,
    ops::{Deref, DerefMut},
    pin::Pin,
    sync::{Arc, Weak},
    task::{Context, Poll},
    time::Instant,
};

use futures_util::{
    FutureExt, Stream, StreamExt,
    future::{BoxFuture, ready},
    stream::{self, BoxStream},
};
use sqlx::{
    Any, AnyConnection, AnyPool, Describe, Either, Execute, Executor, SqlStr, Transaction,
    any::{AnyArguments, AnyQueryResult, AnyRow, AnyStatement, AnyTypeInfo},
    error::ErrorKind,
    pool::PoolConnection,
};

use crate::{
    telemetry::{
        Metrics, Tracer,
        trace::{self, Span, SpanKind},
    },
    tenant::TenantId,
};

/// Where a service's database measurements go.
pub(crate) struct Probe {
    pub metrics: Metrics,
    pub tracer: Tracer,
    /// `db.system.name`: `sqlite` or `postgresql`.
    pub system: &'static str,
    /// `db.namespace`: the service's schema or file.
    pub namespace: String,
    /// Every series registered once: a query then costs an atomic add, not
    /// a registry lookup (and each series is exported from 0).
    queries: [[metrics::Counter; STATUSES.len()]; Operation::ALL.len()],
    durations: [metrics::Histogram; Operation::ALL.len()],
}

const STATUSES: [&str; 3] = ["ok", "constraint", "error"];

impl Probe {
    pub(crate) fn new(
        metrics: Metrics,
        tracer: Tracer,
        system: &'static str,
        namespace: String,
    ) -> Self {
        let service = metrics.service();
        let (queries, durations) = metrics.record(|| {
            (
                Operation::ALL.map(|op| {
                    STATUSES.map(|status| {
                        metrics::counter!("db_queries_total", "service" => service, "operation" => op.label(), "status" => status)
                    })
                }),
                Operation::ALL.map(|op| {
                    metrics::histogram!("db_query_duration_seconds", "service" => service, "operation" => op.label())
                }),
            )
        });
        Self {
            metrics,
            tracer,
            system,
            namespace,
            queries,
            durations,
        }
    }
}

/// A service's pool as an instrumented executor.
#[derive(Clone)]
pub struct DbPool {
    shared: Arc<Shared>,
}

struct Shared {
    pool: AnyPool,
    probe: Option<Arc<Probe>>,
}

/// A [`DbPool`] that does not keep the pool alive (for scrape-time
/// collectors, which live in the metrics the pool reports to).
#[derive(Clone)]
pub(crate) struct WeakPool(Weak<Shared>);

impl WeakPool {
    pub(crate) fn upgrade(&self) -> Option<DbPool> {
        self.0.upgrade().map(|shared| DbPool { shared })
    }
}

impl fmt::Debug for DbPool {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&self.shared.pool, f)
    }
}

impl DbPool {
    pub(crate) fn new(pool: AnyPool) -> Self {
        Self {
            shared: Arc::new(Shared { pool, probe: None }),
        }
    }

    /// The same pool, measured through `probe`.
    pub(crate) fn with_probe(&self, probe: Probe) -> Self {
        Self {
            shared: Arc::new(Shared {
                pool: self.shared.pool.clone(),
                probe: Some(Arc::new(probe)),
            }),
        }
    }

    pub(crate) fn downgrade(&self) -> WeakPool {
        WeakPool(Arc::downgrade(&self.shared))
    }

    /// The metrics and tracer queries are recorded in, once instrumented.
    pub(crate) fn telemetry(&self) -> Option<(Metrics, Tracer)> {
        self.shared
            .probe
            .as_ref()
            .map(|p| (p.metrics.clone(), p.tracer.clone()))
    }

    /// The plain pool (not measured): migrations, health pings.
    pub(crate) fn raw(&self) -> &AnyPool {
        &self.shared.pool
    }

    fn probe(&self) -> &Option<Arc<Probe>> {
        &self.shared.probe
    }

    pub(crate) fn observe(&self, sql: &str) -> Option<Observation> {
        self.probe().clone().map(|p| Observation::start(p, sql))
    }

    /// One connection of the pool for several statements in a row (each
    /// measured), returned to the pool when dropped.
    pub async fn acquire(&self) -> Result<PoolConn, sqlx::Error> {
        Ok(Conn {
            tx: self.raw().acquire().await?,
            probe: self.probe().clone(),
        })
    }

    pub(crate) fn wrap(&self, tx: Transaction<'static, Any>) -> Tx {
        Tx {
            conn: TxConn {
                tx,
                probe: self.probe().clone(),
            },
            tenant: None,
        }
    }
}

/// A write transaction from [`super::Db::begin`]: an instrumented executor
/// (`&mut *tx`), committed with [`Tx::commit`]; rolled back when dropped.
pub struct Tx {
    conn: TxConn,
    /// The tenant this transaction acts in ([`super::Db::tenant`]); `None`
    /// for system transactions. Events published in it carry this tenant.
    tenant: Option<TenantId>,
}

/// An instrumented connection: a transaction's ([`TxConn`], `&mut *tx`)
/// or one taken from the pool for several reads in a row ([`PoolConn`],
/// [`DbPool::acquire`]). Either is an executor whose every statement is
/// measured; neither hands out the raw connection.
pub struct Conn<C> {
    tx: C,
    probe: Option<Arc<Probe>>,
}

/// The connection of a [`Tx`].
pub type TxConn = Conn<Transaction<'static, Any>>;
/// A connection from [`DbPool::acquire`], back to the pool when dropped.
pub type PoolConn = Conn<PoolConnection<Any>>;

impl fmt::Debug for Tx {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Tx")
    }
}

impl<C> fmt::Debug for Conn<C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Conn")
    }
}

impl Deref for Tx {
    type Target = TxConn;
    fn deref(&self) -> &TxConn {
        &self.conn
    }
}

impl DerefMut for Tx {
    fn deref_mut(&mut self) -> &mut TxConn {
        &mut self.conn
    }
}

impl Tx {
    /// The tenant this transaction acts in, when it was opened for one.
    pub fn tenant(&self) -> Option<&TenantId> {
        self.tenant.as_ref()
    }

    pub(crate) fn set_tenant(&mut self, tenant: TenantId) {
        self.tenant = Some(tenant);
    }

    pub async fn commit(self) -> Result<(), sqlx::Error> {
        let TxConn { tx, probe } = self.conn;
        let obs = probe.map(|p| Observation::start(p, "COMMIT"));
        let result = tx.commit().await;
        finish(obs, result.as_ref().err());
        result
    }

    pub async fn rollback(self) -> Result<(), sqlx::Error> {
        let TxConn { tx, probe } = self.conn;
        let obs = probe.map(|p| Observation::start(p, "ROLLBACK"));
        let result = tx.rollback().await;
        finish(obs, result.as_ref().err());
        result
    }
}

/// The SQL verb, as the `operation` label.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Operation {
    Select = 0,
    Insert = 1,
    Update = 2,
    Delete = 3,
    Other = 4,
}

impl Operation {
    const ALL: [Self; 5] = [
        Self::Select,
        Self::Insert,
        Self::Update,
        Self::Delete,
        Self::Other,
    ];

    pub(crate) fn of(sql: &str) -> Self {
        let mut words = sql
            .split_whitespace()
            .map(|w| w.trim_start_matches('(').split('(').next().unwrap_or(""));
        let verb = |w: &str| {
            [
                ("SELECT", Self::Select),
                ("INSERT", Self::Insert),
                ("UPDATE", Self::Update),
                ("DELETE", Self::Delete),
            ]
            .into_iter()
            .find(|(v, _)| w.eq_ignore_ascii_case(v))
            .map(|(_, op)| op)
        };
        match words.next() {
            // A common table expression: the statement is its first write,
            // or a read.
            Some(first) if first.eq_ignore_ascii_case("WITH") => words
                .filter_map(verb)
                .find(|op| *op != Self::Select)
                .unwrap_or(Self::Select),
            Some(first) => verb(first).unwrap_or(Self::Other),
            None => Self::Other,
        }
    }

    pub(crate) fn label(self) -> &'static str {
        match self {
            Self::Select => "select",
            Self::Insert => "insert",
            Self::Update => "update",
            Self::Delete => "delete",
            Self::Other => "other",
        }
    }
}

/// `SELECT outbox`, `INSERT orders`, `COMMIT`: a span name (verb and
/// first table) that never contains values.
fn summary(sql: &str) -> String {
    let words: Vec<&str> = sql.split_whitespace().take(64).collect();
    let Some(first) = words.first() else {
        return "SQL".into();
    };
    let verb = first.to_ascii_uppercase();
    let after = |keyword: &str| {
        words
            .iter()
            .position(|w| w.eq_ignore_ascii_case(keyword))
            .and_then(|i| words.get(i + 1))
    };
    let table = match verb.as_str() {
        "SELECT" | "DELETE" => after("FROM"),
        "INSERT" => after("INTO"),
        "UPDATE" => words.get(1),
        _ => None,
    };
    let table = table.map(|t| {
        t.split(['(', ',', ';'])
            .next()
            .unwrap_or("")
            .trim_matches('"')
            .to_owned()
    });
    match table {
        Some(t)
            if !t.is_empty()
                && t.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'.') =>
        {
            format!("{verb} {t}")
        }
        _ => verb,
    }
}

/// Longest statement text put on a span.
const MAX_STATEMENT: usize = 2048;

/// One statement being measured; recorded once, when it ends (or is
/// dropped unfinished).
pub(crate) struct Observation {
    probe: Arc<Probe>,
    operation: Operation,
    start: Instant,
    span: Option<Span>,
    done: bool,
}

impl Observation {
    fn start(probe: Arc<Probe>, sql: &str) -> Self {
        let operation = Operation::of(sql);
        let parent = trace::current().filter(|_| probe.tracer.is_exporting());
        let span = parent.map(|parent| {
            let mut span = probe
                .tracer
                .span(summary(sql), SpanKind::Client, Some(parent));
            span.set_attribute("db.system.name", probe.system);
            span.set_attribute("db.namespace", probe.namespace.clone());
            span.set_attribute("db.operation.name", operation.label());
            span.set_attribute(
                "db.query.text",
                crate::bus::rabbit::consumer::truncate(sql, MAX_STATEMENT),
            );
            span
        });
        Self {
            probe,
            operation,
            start: Instant::now(),
            span,
            done: false,
        }
    }

    pub(crate) fn finish(&mut self, error: Option<&sqlx::Error>) {
        if std::mem::replace(&mut self.done, true) {
            return;
        }
        let elapsed = self.start.elapsed().as_secs_f64();
        let status = error.map_or(0, status_of);
        let op = self.operation as usize;
        self.probe.queries[op][status].increment(1);
        self.probe.durations[op].record(elapsed);
        if let Some(mut span) = self.span.take() {
            if let Some(e) = error {
                span.set_error(e.to_string());
            }
            span.end();
        }
    }
}

impl Drop for Observation {
    fn drop(&mut self) {
        // A stream dropped before its end (the caller had enough rows).
        self.finish(None);
    }
}

pub(crate) fn finish(obs: Option<Observation>, error: Option<&sqlx::Error>) {
    if let Some(mut obs) = obs {
        obs.finish(error);
    }
}

/// The index in [`STATUSES`] of a failed statement.
fn status_of(e: &sqlx::Error) -> usize {
    match e {
        sqlx::Error::Database(db) => match db.kind() {
            ErrorKind::UniqueViolation
            | ErrorKind::ForeignKeyViolation
            | ErrorKind::NotNullViolation
            | ErrorKind::CheckViolation => 1,
            _ => 2,
        },
        _ => 2,
    }
}

/// The query as the inner executor takes it, and its observation.
type Prepared = ((SqlStr, Option<AnyArguments>), Option<Observation>);

fn prepare<'q, E: Execute<'q, Any>>(
    mut query: E,
    probe: &Option<Arc<Probe>>,
) -> Result<Prepared, sqlx::Error> {
    let arguments = query.take_arguments().map_err(sqlx::Error::Encode)?;
    let sql = query.sql();
    let obs = probe.clone().map(|p| Observation::start(p, sql.as_str()));
    Ok(((sql, arguments), obs))
}

/// A result stream that ends its observation when it ends.
struct Observed<'e> {
    inner: BoxStream<'e, Result<Either<AnyQueryResult, AnyRow>, sqlx::Error>>,
    obs: Option<Observation>,
}

impl Stream for Observed<'_> {
    type Item = Result<Either<AnyQueryResult, AnyRow>, sqlx::Error>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let item = self.inner.poll_next_unpin(cx);
        match &item {
            Poll::Ready(None) => finish(self.obs.take(), None),
            Poll::Ready(Some(Err(e))) => finish(self.obs.take(), Some(e)),
            _ => {}
        }
        item
    }
}

fn observed_many<'e>(
    prepared: Result<Prepared, sqlx::Error>,
    run: impl FnOnce(
        (SqlStr, Option<AnyArguments>),
    ) -> BoxStream<'e, Result<Either<AnyQueryResult, AnyRow>, sqlx::Error>>,
) -> BoxStream<'e, Result<Either<AnyQueryResult, AnyRow>, sqlx::Error>> {
    match prepared {
        Ok((query, obs)) => Observed {
            inner: run(query),
            obs,
        }
        .boxed(),
        Err(e) => stream::once(ready(Err(e))).boxed(),
    }
}

fn observed_optional<'e>(
    prepared: Result<Prepared, sqlx::Error>,
    run: impl FnOnce(
        (SqlStr, Option<AnyArguments>),
    ) -> BoxFuture<'e, Result<Option<AnyRow>, sqlx::Error>>,
) -> BoxFuture<'e, Result<Option<AnyRow>, sqlx::Error>> {
    match prepared {
        Ok((query, obs)) => {
            let fut = run(query);
            async move {
                let result = fut.await;
                finish(obs, result.as_ref().err());
                result
            }
            .boxed()
        }
        Err(e) => ready(Err(e)).boxed(),
    }
}

/// The executors a store function may take: the instrumented pool, a
/// transaction or its connection, nothing raw. `impl Exec<'e>` is how a
/// store function says "a pool or a transaction".
pub trait Exec<'c>: Executor<'c, Database = Any> + sealed::Sealed {}

mod sealed {
    pub trait Sealed {}
    impl Sealed for &super::DbPool {}
    impl<C> Sealed for &mut super::Conn<C> {}
    impl Sealed for &mut super::Tx {}
}

impl<'c> Exec<'c> for &'c DbPool {}
impl<'c, C: ConnHandle> Exec<'c> for &'c mut Conn<C> {}

/// What a [`Conn`] may hold: a transaction or a pooled connection, both
/// plain connections underneath.
pub trait ConnHandle: DerefMut<Target = AnyConnection> + Send + 'static {}
impl ConnHandle for Transaction<'static, Any> {}
impl ConnHandle for PoolConnection<Any> {}
impl<'c> Exec<'c> for &'c mut Tx {}

impl<'c> Executor<'c> for &'c DbPool {
    type Database = Any;

    fn fetch_many<'e, 'q: 'e, E>(
        self,
        query: E,
    ) -> BoxStream<'e, Result<Either<AnyQueryResult, AnyRow>, sqlx::Error>>
    where
        'c: 'e,
        E: 'q + Execute<'q, Any>,
    {
        observed_many(prepare(query, self.probe()), |q| self.raw().fetch_many(q))
    }

    fn fetch_optional<'e, 'q: 'e, E>(
        self,
        query: E,
    ) -> BoxFuture<'e, Result<Option<AnyRow>, sqlx::Error>>
    where
        'c: 'e,
        E: 'q + Execute<'q, Any>,
    {
        observed_optional(prepare(query, self.probe()), |q| {
            self.raw().fetch_optional(q)
        })
    }

    fn prepare_with<'e>(
        self,
        sql: SqlStr,
        parameters: &'e [AnyTypeInfo],
    ) -> BoxFuture<'e, Result<AnyStatement, sqlx::Error>>
    where
        'c: 'e,
    {
        self.raw().prepare_with(sql, parameters)
    }

    fn describe<'e>(self, sql: SqlStr) -> BoxFuture<'e, Result<Describe<Any>, sqlx::Error>>
    where
        'c: 'e,
    {
        self.raw().describe(sql)
    }
}

impl<'c, C: ConnHandle> Executor<'c> for &'c mut Conn<C> {
    type Database = Any;

    fn fetch_many<'e, 'q: 'e, E>(
        self,
        query: E,
    ) -> BoxStream<'e, Result<Either<AnyQueryResult, AnyRow>, sqlx::Error>>
    where
        'c: 'e,
        E: 'q + Execute<'q, Any>,
    {
        let prepared = prepare(query, &self.probe);
        let conn: &'c mut AnyConnection = &mut self.tx;
        observed_many(prepared, |q| conn.fetch_many(q))
    }

    fn fetch_optional<'e, 'q: 'e, E>(
        self,
        query: E,
    ) -> BoxFuture<'e, Result<Option<AnyRow>, sqlx::Error>>
    where
        'c: 'e,
        E: 'q + Execute<'q, Any>,
    {
        let prepared = prepare(query, &self.probe);
        let conn: &'c mut AnyConnection = &mut self.tx;
        observed_optional(prepared, |q| conn.fetch_optional(q))
    }

    fn prepare_with<'e>(
        self,
        sql: SqlStr,
        parameters: &'e [AnyTypeInfo],
    ) -> BoxFuture<'e, Result<AnyStatement, sqlx::Error>>
    where
        'c: 'e,
    {
        let conn: &'c mut AnyConnection = &mut self.tx;
        conn.prepare_with(sql, parameters)
    }

    fn describe<'e>(self, sql: SqlStr) -> BoxFuture<'e, Result<Describe<Any>, sqlx::Error>>
    where
        'c: 'e,
    {
        let conn: &'c mut AnyConnection = &mut self.tx;
        conn.describe(sql)
    }
}

/// `&mut Tx` is an executor too, so `&mut *tx` works where `tx: &mut Tx`.
impl<'c> Executor<'c> for &'c mut Tx {
    type Database = Any;

    fn fetch_many<'e, 'q: 'e, E>(
        self,
        query: E,
    ) -> BoxStream<'e, Result<Either<AnyQueryResult, AnyRow>, sqlx::Error>>
    where
        'c: 'e,
        E: 'q + Execute<'q, Any>,
    {
        (&mut self.conn).fetch_many(query)
    }

    fn fetch_optional<'e, 'q: 'e, E>(
        self,
        query: E,
    ) -> BoxFuture<'e, Result<Option<AnyRow>, sqlx::Error>>
    where
        'c: 'e,
        E: 'q + Execute<'q, Any>,
    {
        (&mut self.conn).fetch_optional(query)
    }

    fn prepare_with<'e>(
        self,
        sql: SqlStr,
        parameters: &'e [AnyTypeInfo],
    ) -> BoxFuture<'e, Result<AnyStatement, sqlx::Error>>
    where
        'c: 'e,
    {
        (&mut self.conn).prepare_with(sql, parameters)
    }

    fn describe<'e>(self, sql: SqlStr) -> BoxFuture<'e, Result<Describe<Any>, sqlx::Error>>
    where
        'c: 'e,
    {
        (&mut self.conn).describe(sql)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn operations_come_from_the_verb() {
        assert_eq!(Operation::of("SELECT 1"), Operation::Select);
        assert_eq!(Operation::of("  select id FROM x"), Operation::Select);
        assert_eq!(
            Operation::of("INSERT INTO outbox (id) VALUES ($1)"),
            Operation::Insert
        );
        assert_eq!(Operation::of("\n UPDATE t SET a = 1"), Operation::Update);
        assert_eq!(Operation::of("DELETE FROM t"), Operation::Delete);
        assert_eq!(
            Operation::of("WITH x AS (SELECT 1) UPDATE t SET a = 1"),
            Operation::Update
        );
        assert_eq!(
            Operation::of("WITH x AS (SELECT 1) SELECT * FROM x"),
            Operation::Select
        );
        assert_eq!(
            Operation::of("(SELECT 1) UNION (SELECT 2)"),
            Operation::Select
        );
        assert_eq!(Operation::of("CREATE TABLE t (a TEXT)"), Operation::Other);
        assert_eq!(Operation::of("COMMIT"), Operation::Other);
        assert_eq!(Operation::of(""), Operation::Other);
    }

    #[test]
    fn span_names_hold_no_values() {
        assert_eq!(
            summary("SELECT id, envelope FROM outbox WHERE sent_at IS NULL"),
            "SELECT outbox"
        );
        assert_eq!(
            summary("INSERT INTO orders(id, total) VALUES ($1, $2)"),
            "INSERT orders"
        );
        assert_eq!(
            summary("UPDATE \"stock\" SET qty = qty - $1"),
            "UPDATE stock"
        );
        assert_eq!(summary("DELETE FROM t WHERE id = 'x'"), "DELETE t");
        assert_eq!(summary("SELECT 1"), "SELECT");
        assert_eq!(summary("COMMIT"), "COMMIT");
    }
}

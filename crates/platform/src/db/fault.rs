//! What a database error says about retrying: the one classification
//! behind the consumers' retry policy ([`crate::bus::HandlerError::from_db`]),
//! transaction retries ([`super::Db::retry_conflicts`]) and the HTTP
//! mapping (503 with `Retry-After` instead of 500, [`crate::ApiError`]).
//!
//! The rule: an error that is about the server, the connection or other
//! transactions (and would go away by itself) is [`Fault::Transient`]; an
//! error about the statement or the data (it fails again on the same
//! data) is [`Fault::Permanent`]. A row that is not there is
//! [`Fault::Missing`]: it may appear (an event that depends on one not yet
//! applied).

use sqlx::Error as E;

/// See the module docs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    Transient,
    Missing,
    Permanent,
}

/// Classifies `e` (see the module docs).
pub fn classify(e: &E) -> Fault {
    match e {
        E::PoolTimedOut
        | E::PoolClosed
        | E::Io(_)
        | E::Tls(_)
        | E::Protocol(_)
        | E::WorkerCrashed
        | E::BeginFailed => Fault::Transient,
        E::Database(db) => match code_of(db.as_ref()) {
            Code::Postgres(state) if transient_sqlstate(&state) => Fault::Transient,
            Code::Sqlite(code) if transient_sqlite(code) => Fault::Transient,
            _ => Fault::Permanent,
        },
        E::RowNotFound => Fault::Missing,
        // Configuration, encoding and decoding, a missing column or type:
        // the statement or the code is wrong, and stays wrong.
        _ => Fault::Permanent,
    }
}

/// A transaction lost against another one and may simply be run again:
/// deadlock (40P01), serialization failure (40001), lock not available
/// (55P03), or SQLite's file busy or locked.
pub fn is_conflict(e: &E) -> bool {
    let E::Database(db) = e else { return false };
    match code_of(db.as_ref()) {
        Code::Postgres(state) => matches!(&*state, "40001" | "40P01" | "55P03"),
        Code::Sqlite(code) => matches!(code & 0xff, SQLITE_BUSY | SQLITE_LOCKED),
        Code::None => false,
    }
}

/// The server is not there for us right now (as opposed to a conflict
/// with another transaction): what [`classify`] calls transient, minus
/// [`is_conflict`].
pub fn is_unreachable(e: &E) -> bool {
    classify(e) == Fault::Transient && !is_conflict(e)
}

enum Code<'a> {
    Postgres(std::borrow::Cow<'a, str>),
    Sqlite(i64),
    None,
}

/// PostgreSQL reports a five-character SQLSTATE, SQLite its (extended)
/// result code as a number; the error types tell them apart.
fn code_of(db: &dyn sqlx::error::DatabaseError) -> Code<'_> {
    if let Some(pg) = db.try_downcast_ref::<sqlx::postgres::PgDatabaseError>() {
        return Code::Postgres(pg.code().into());
    }
    let is_sqlite = db.try_downcast_ref::<sqlx::sqlite::SqliteError>().is_some();
    match db.code() {
        Some(c) if is_sqlite => c.parse().map_or(Code::None, Code::Sqlite),
        // Another driver (or a test double): go by the shape of the code.
        // SQLSTATEs have five characters ("40001"); SQLite's result codes
        // stay below 10000.
        Some(c) if c.len() == 5 => Code::Postgres(c),
        Some(c) if is_number(&c) => c.parse().map_or(Code::None, Code::Sqlite),
        _ => Code::None,
    }
}

fn is_number(s: &str) -> bool {
    s.bytes().all(|b| b.is_ascii_digit())
}

/// Connection exceptions (class 08); transaction conflicts (40001,
/// 40P01) and lock timeouts (55P03); the server shutting down, crashed or
/// starting (57P01, 57P02, 57P03); insufficient resources (class 53: too
/// many connections, out of memory, disk full); system and I/O errors
/// (class 58); a database not accepting connections (55000); and a read-
/// only transaction (25006), which is what a primary that failed over to
/// a standby answers until the client reconnects.
fn transient_sqlstate(state: &str) -> bool {
    let class = state.get(..2).unwrap_or_default();
    matches!(class, "08" | "53" | "58")
        || matches!(
            state,
            "40001" | "40P01" | "55P03" | "57P01" | "57P02" | "57P03" | "55000" | "25006"
        )
}

const SQLITE_BUSY: i64 = 5;
const SQLITE_LOCKED: i64 = 6;
const SQLITE_IOERR: i64 = 10;
const SQLITE_FULL: i64 = 13;
const SQLITE_CANTOPEN: i64 = 14;
const SQLITE_PROTOCOL: i64 = 15;

/// The primary result code (the low byte of an extended one): busy or
/// locked by another connection, an I/O error, a full disk, a file that
/// cannot be opened now, a lock protocol race.
fn transient_sqlite(code: i64) -> bool {
    matches!(
        code & 0xff,
        SQLITE_BUSY
            | SQLITE_LOCKED
            | SQLITE_IOERR
            | SQLITE_FULL
            | SQLITE_CANTOPEN
            | SQLITE_PROTOCOL
    )
}

#[cfg(test)]
pub(crate) mod tests {
    use std::borrow::Cow;

    use super::*;

    /// A driver error with a given code and kind, as a driver would report it.
    #[derive(Debug)]
    pub(crate) struct Coded(pub &'static str, pub sqlx::error::ErrorKind);

    impl std::fmt::Display for Coded {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            write!(f, "error {}", self.0)
        }
    }

    impl std::error::Error for Coded {}

    impl sqlx::error::DatabaseError for Coded {
        fn message(&self) -> &str {
            "driver message"
        }
        fn code(&self) -> Option<Cow<'_, str>> {
            Some(Cow::Borrowed(self.0))
        }
        fn as_error(&self) -> &(dyn std::error::Error + Send + Sync + 'static) {
            self
        }
        fn as_error_mut(&mut self) -> &mut (dyn std::error::Error + Send + Sync + 'static) {
            self
        }
        fn into_error(self: Box<Self>) -> Box<dyn std::error::Error + Send + Sync + 'static> {
            self
        }
        fn kind(&self) -> sqlx::error::ErrorKind {
            use sqlx::error::ErrorKind as K;
            match self.1 {
                K::UniqueViolation => K::UniqueViolation,
                K::ForeignKeyViolation => K::ForeignKeyViolation,
                K::NotNullViolation => K::NotNullViolation,
                K::CheckViolation => K::CheckViolation,
                _ => K::Other,
            }
        }
    }

    pub(crate) fn db_error(code: &'static str) -> E {
        E::Database(Box::new(Coded(code, sqlx::error::ErrorKind::Other)))
    }

    #[test]
    fn infrastructure_errors_are_transient() {
        for code in [
            "08006", "08001", "40001", "40P01", "55P03", "57P01", "57P03", "53300", "53100",
            "58030", "25006", // PostgreSQL
            "5", "517", "6", "262", "10", "14", // SQLite: BUSY, BUSY_SNAPSHOT, LOCKED, ...
        ] {
            assert_eq!(classify(&db_error(code)), Fault::Transient, "{code}");
        }
        for e in [
            E::PoolTimedOut,
            E::PoolClosed,
            E::Io(std::io::Error::from(std::io::ErrorKind::ConnectionReset)),
            E::WorkerCrashed,
        ] {
            assert_eq!(classify(&e), Fault::Transient, "{e}");
        }
    }

    #[test]
    fn statement_and_data_errors_are_permanent() {
        for code in [
            "23505", "23503", "23514", "22P02", "42P01", "42703", "P0001", // PostgreSQL
            "2067", "1299", "275", "1",
            "19", // SQLite: UNIQUE, NOTNULL, CHECK, ERROR, CONSTRAINT
        ] {
            assert_eq!(classify(&db_error(code)), Fault::Permanent, "{code}");
        }
        assert_eq!(classify(&E::ColumnNotFound("x".into())), Fault::Permanent);
        assert_eq!(classify(&E::Decode("bad".into())), Fault::Permanent);
        assert_eq!(classify(&E::RowNotFound), Fault::Missing);
    }

    #[test]
    fn conflicts_are_a_subset_of_transient_errors() {
        for code in ["40001", "40P01", "55P03", "5", "517", "6"] {
            assert!(is_conflict(&db_error(code)), "{code}");
            assert!(!is_unreachable(&db_error(code)), "{code}");
        }
        for code in ["08006", "57P01", "10", "23505"] {
            assert!(!is_conflict(&db_error(code)), "{code}");
        }
        assert!(is_unreachable(&db_error("08006")));
        assert!(is_unreachable(&E::PoolTimedOut));
        assert!(!is_conflict(&E::PoolTimedOut));
    }
}

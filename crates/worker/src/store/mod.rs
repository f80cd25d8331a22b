//! SQL for the worker's own tables (`migrations/`). One SQL text for SQLite
//! and PostgreSQL through sqlx `Any`: `$n` placeholders, text ids and
//! times, BIGINT counters; `''` stands for "no filter" so that one
//! statement serves filtered and unfiltered queries without NULL typing.
//!
//! Functions that may run inside a consumer's inbox transaction take any
//! executor (`&mut *tx` or the pool); the others take the pool.

pub mod audit;
pub mod mail;
pub mod notifications;
pub mod schema;
pub mod summary;
pub mod webhooks;

/// Claims a due row of a retry table by moving its `next_attempt_at` to the
/// end of a lease and counting the attempt, only if nobody else did since
/// it was read (`next_attempt_at` unchanged). Replicas racing for a row:
/// exactly one gets `true`. `$4` is the row's tenant. A process that dies mid-attempt leaves the row
/// pending, due again when the lease ends.
macro_rules! claim_sql {
    ($table:literal) => {
        concat!(
            "UPDATE ",
            $table,
            " SET attempts = attempts + 1, next_attempt_at = $1
             WHERE id = $2 AND status = 'pending' AND next_attempt_at = $3
               AND tenant_id = $4"
        )
    };
}
pub(crate) use claim_sql;

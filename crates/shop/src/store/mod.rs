//! SQL for the shop's own tables (see `migrations/`). One SQL text for
//! SQLite and PostgreSQL through sqlx `Any`: `$n` placeholders, text ids
//! and times, BIGINT money, stock and 0/1 flags.
//!
//! Functions that run inside a write transaction take `&mut TxConn`
//! (`&mut *tx`) or any executor; read-only listings take the pool.

pub mod availability;
pub mod orders;
pub mod products;
pub mod settings;

fn decode_err(msg: String) -> sqlx::Error {
    sqlx::Error::Decode(msg.into())
}

/// `$from, $from+1, …` for `n` values: the placeholders of an `IN (…)`
/// list. Only numbered placeholders go into the SQL text; the values are
/// always bound.
fn placeholders(from: usize, n: usize) -> String {
    (from..from + n)
        .map(|i| format!("${i}"))
        .collect::<Vec<_>>()
        .join(", ")
}

#[cfg(test)]
mod tests {
    #[test]
    fn placeholders_are_numbered() {
        assert_eq!(super::placeholders(2, 3), "$2, $3, $4");
        assert_eq!(super::placeholders(1, 1), "$1");
    }
}

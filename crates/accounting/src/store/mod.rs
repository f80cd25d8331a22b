//! SQL for the accounting service's own tables (see `migrations/`). One SQL
//! text for SQLite and PostgreSQL through sqlx `Any`: `$n` placeholders,
//! text ids, dates and times, BIGINT money and 0/1 flags. Sums are cast to
//! BIGINT because PostgreSQL's `SUM(bigint)` is `numeric`, which `Any`
//! cannot decode.
//!
//! Every function takes the tenant and binds it in every query
//! (`tenant_id = $n`), and runs in a transaction the caller opened in
//! that tenant (`Db::tenant`), so that PostgreSQL's row policies agree.

pub mod accounts;
pub mod compat;
pub mod inventory;
pub mod journal;
pub mod periods;
pub mod reports;
pub mod schema;

/// `$start, $start+1, …` (`count` placeholders) for an `IN (…)` list. Only
/// placeholders are generated; values are always bound.
pub(crate) fn placeholders(start: usize, count: usize) -> String {
    (start..start + count)
        .map(|i| format!("${i}"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// `($1, $2), ($3, $4)`: `rows` tuples of `cols` placeholders for a
/// multi-row `VALUES`.
pub(crate) fn value_rows(rows: usize, cols: usize) -> String {
    (0..rows)
        .map(|r| format!("({})", placeholders(r * cols + 1, cols)))
        .collect::<Vec<_>>()
        .join(", ")
}

pub(crate) fn decode_err(msg: String) -> sqlx::Error {
    sqlx::Error::Decode(msg.into())
}

#[cfg(test)]
mod tests {
    #[test]
    fn placeholder_lists() {
        assert_eq!(super::placeholders(3, 2), "$3, $4");
        assert_eq!(super::value_rows(2, 3), "($1, $2, $3), ($4, $5, $6)");
        assert_eq!(super::placeholders(1, 0), "");
    }
}

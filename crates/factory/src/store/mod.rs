//! SQL for the factory's own tables (see `migrations/`). One SQL text for
//! SQLite and PostgreSQL through sqlx `Any`: `$n` placeholders, text ids
//! and times, BIGINT quantities, money and 0/1 flags. Sums are cast to
//! BIGINT (PostgreSQL's SUM of BIGINT is NUMERIC, which `Any` cannot
//! decode).
//!
//! Functions that may run inside a write transaction take any executor
//! (`&mut *tx` or the pool).

pub mod boms;
pub mod items;
pub mod reservations;
pub mod schema;
pub mod stock;
pub mod summary;
pub mod work_orders;

fn decode_err(msg: String) -> sqlx::Error {
    sqlx::Error::Decode(msg.into())
}

/// Parses a stored enum text, as a decode error when it is not one.
fn parse_stored<T: std::str::FromStr<Err = String>>(s: &str) -> Result<T, sqlx::Error> {
    s.parse::<T>().map_err(decode_err)
}

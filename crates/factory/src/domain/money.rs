//! Amounts in the factory's base currency.
//!
//! The factory keeps one currency for its whole life (the `currency` row
//! of `factory_settings`, seeded from [`crate::DEFAULT_CURRENCY`]): a
//! `marimo_platform::money::Currency`. Two scales of it are used:
//!
//! - **Fine units** — ten-thousandths of the minor unit ([`FINE_PLACES`]
//!   more places than the currency has: millionths of a dollar for USD) —
//!   for unit costs and for a bin's value, so a screw at 0.0035 can be
//!   received and its value kept exactly.
//! - **Minor units** (cents) for what the ledger books: a bin's booked
//!   value is its fine value rounded half away from zero to the minor
//!   unit ([`booked`]), and a move publishes the change of that booked
//!   value, so the rounding difference stays in the bin instead of being
//!   lost between moves.
//!
//! In JSON, amounts are decimal strings: booked values with exactly the
//! currency's places, unit costs with the currency's places or more when
//! the cost has them ([`format_cost`]), and with all the fine places in
//! the fields that say so ([`format_fine`]).

use marimo_platform::{
    Invalid,
    money::{Currency, Decimal, format_scaled, mul_div_round},
};

/// How many more places fine units have than the currency.
pub const FINE_PLACES: u32 = 4;
/// Fine units in one minor unit.
pub const FINE_PER_MINOR: i64 = 10_000;

/// The largest unit cost accepted, in fine units (10^16: ten billion
/// dollars a unit).
pub const MAX_UNIT_COST: i64 = 10_000_000_000_000_000;
/// The largest value a balance or a move may reach, in fine units (10^18:
/// a trillion dollars).
pub const MAX_VALUE: i64 = 1_000_000_000_000_000_000;

/// A unit cost ≥ 0 in fine units of `currency` (up to the currency's
/// places + [`FINE_PLACES`], 6 for USD), at most [`MAX_UNIT_COST`]; more
/// places than that is refused, never rounded.
pub fn cost(currency: &Currency, field: &'static str, d: &Decimal) -> Result<i64, Invalid> {
    let places = currency.scale() + FINE_PLACES;
    let v = d.to_scaled(places).map_err(|_| {
        Invalid::new(
            field,
            format!("{field} must be a decimal with at most {places} places"),
        )
    })?;
    if v < 0 {
        return Err(Invalid::new(field, format!("{field} must not be negative")));
    }
    if v > MAX_UNIT_COST {
        return Err(Invalid::new(field, format!("{field}: {d} is too large")));
    }
    Ok(v)
}

/// A fine value as booked: rounded half away from zero to the minor unit.
pub fn booked(fine: i64) -> i64 {
    // Dividing by a non-zero constant cannot fail, and the quotient is
    // smaller than the dividend.
    mul_div_round(fine, 1, FINE_PER_MINOR).unwrap_or_default()
}

/// A fine amount with all its places: `0.003500` for USD.
pub fn format_fine(currency: &Currency, fine: i64) -> String {
    format_scaled(fine, currency.scale() + FINE_PLACES)
}

/// A unit cost as the original API wrote it — the currency's places
/// (`2.50`) — with more places only when the cost has them (`0.0035`).
pub fn format_cost(currency: &Currency, fine: i64) -> String {
    let mut places = currency.scale() + FINE_PLACES;
    let mut v = fine;
    while places > currency.scale() && v % 10 == 0 {
        v /= 10;
        places -= 1;
    }
    format_scaled(v, places)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn costs_at_the_fine_precision() {
        let usd = Currency::new("usd").unwrap();
        let d = |s: &str| Decimal::parse(s).unwrap();
        assert_eq!(cost(&usd, "c", &d("2.5")), Ok(2_500_000));
        assert_eq!(cost(&usd, "c", &d("0.0035")), Ok(3_500));
        assert_eq!(cost(&usd, "c", &d("0.000001")), Ok(1));
        assert!(cost(&usd, "c", &d("0.0000001")).is_err());
        assert!(cost(&usd, "c", &d("-1")).is_err());
        assert!(cost(&usd, "c", &d("10000000000.000001")).is_err());
        assert_eq!(cost(&usd, "c", &d("10000000000")), Ok(MAX_UNIT_COST));
        let jpy = Currency::new("JPY").unwrap();
        assert_eq!(cost(&jpy, "c", &d("300")), Ok(3_000_000));
        assert_eq!(cost(&jpy, "c", &d("1.5")), Ok(15_000));
        assert!(cost(&jpy, "c", &d("1.00001")).is_err());
    }

    #[test]
    fn booking_rounds_half_away_from_zero() {
        // 3.504999 → 3.50; 3.505 → 3.51; 0.0049 → 0.00.
        assert_eq!(booked(3_504_999), 350);
        assert_eq!(booked(3_505_000), 351);
        assert_eq!(booked(4_900), 0);
        assert_eq!(booked(-5_000), -1);
    }

    #[test]
    fn formats() {
        let usd = Currency::usd();
        assert_eq!(format_cost(&usd, 2_500_000), "2.50");
        assert_eq!(format_cost(&usd, 3_500), "0.0035");
        assert_eq!(format_cost(&usd, 0), "0.00");
        assert_eq!(format_fine(&usd, 3_500), "0.003500");
        assert_eq!(format_fine(&usd, 2_500_000), "2.500000");
    }
}

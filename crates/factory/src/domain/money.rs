//! Amounts in the factory's base currency.
//!
//! Costs and values are `i64` minor units of one base currency (USD by
//! default: cents), stored next to nothing else because the factory keeps
//! one currency for its whole life (the `currency` row of
//! `factory_settings`, seeded from [`crate::DEFAULT_CURRENCY`]): a
//! `marimo_platform::money::Currency`. Unit costs are per unit of measure,
//! at the currency's precision. In JSON, amounts are decimal strings with
//! exactly the currency's places.

use marimo_platform::{
    Invalid,
    money::{Currency, Decimal},
};

/// The largest unit cost accepted, in minor units (10^12: ten billion
/// dollars a unit).
pub const MAX_UNIT_COST: i64 = 1_000_000_000_000;
/// The largest value a balance or a move may reach (10^17 minor units).
pub const MAX_VALUE: i64 = 100_000_000_000_000_000;

/// A unit cost ≥ 0 in minor units of `currency`, at most
/// [`MAX_UNIT_COST`]; more places than the currency has is refused, never
/// rounded.
pub fn cost(currency: &Currency, field: &'static str, d: &Decimal) -> Result<i64, Invalid> {
    let v = currency.units(field, d, MAX_UNIT_COST)?;
    if v < 0 {
        return Err(Invalid::new(field, format!("{field} must not be negative")));
    }
    Ok(v)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn costs_at_the_currency_precision() {
        let usd = Currency::new("usd").unwrap();
        let d = |s: &str| Decimal::parse(s).unwrap();
        assert_eq!(cost(&usd, "c", &d("2.5")), Ok(250));
        assert!(cost(&usd, "c", &d("2.505")).is_err());
        assert!(cost(&usd, "c", &d("-1")).is_err());
        assert!(cost(&usd, "c", &d("10000000000.01")).is_err());
        assert_eq!(cost(&usd, "c", &d("10000000000")), Ok(MAX_UNIT_COST));
        let jpy = Currency::new("JPY").unwrap();
        assert_eq!(cost(&jpy, "c", &d("300")), Ok(300));
        assert!(cost(&jpy, "c", &d("1.5")).is_err());
    }
}

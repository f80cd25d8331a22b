//! The ledger's base currency and amounts in its minor units.
//!
//! The ledger is single-currency: every amount is an `i64` of minor units of
//! the base currency (cents for USD). Amounts arrive as decimals (a JSON
//! number or string, see `platform::money::Decimal`) and leave as decimal
//! strings with exactly the currency's number of places.

use marimo_platform::money::Decimal;

use super::Rejection;

/// The largest single amount accepted, in minor units (10^15: ten trillion
/// dollars). It keeps every sum the ledger forms far below `i64::MAX`.
pub const MAX_AMOUNT: i64 = 1_000_000_000_000_000;

pub use marimo_platform::money::Currency;

/// A strictly positive amount of `c` in minor units, at most
/// [`MAX_AMOUNT`]. `field` names the input in the error.
pub fn positive(c: &Currency, field: &str, d: &Decimal) -> Result<i64, Rejection> {
    let units = units(c, field, d)?;
    if units <= 0 {
        return Err(Rejection::invalid(
            field,
            format!("{field} must be positive, got {d}"),
        ));
    }
    Ok(units)
}

/// An amount of `c` in minor units (any sign), at most [`MAX_AMOUNT`] in
/// size; more decimal places than the currency has is an error, never
/// rounded.
pub fn units(c: &Currency, field: &str, d: &Decimal) -> Result<i64, Rejection> {
    Ok(c.units(field, d, MAX_AMOUNT)?)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(s: &str) -> Decimal {
        Decimal::parse(s).unwrap()
    }

    #[test]
    fn amounts_follow_the_currency_scale() {
        let usd = Currency::usd();
        assert_eq!(positive(&usd, "amount", &d("12.34")), Ok(1234));
        assert_eq!(positive(&usd, "amount", &d("12.3")), Ok(1230));
        assert!(positive(&usd, "amount", &d("12.345")).is_err());
        assert!(positive(&usd, "amount", &d("0")).is_err());
        assert!(positive(&usd, "amount", &d("-1")).is_err());
        assert!(positive(&usd, "amount", &d("99999999999999999999")).is_err());
        assert!(positive(&usd, "amount", &d("10000000000000.01")).is_err());
        let jpy = Currency::new("jpy").unwrap();
        assert_eq!(positive(&jpy, "amount", &d("500")), Ok(500));
        assert!(positive(&jpy, "amount", &d("500.5")).is_err());
        assert_eq!(jpy.format(500), "500");
        assert_eq!(usd.format(-5), "-0.05");
        assert!(Currency::new("XXX").is_none());
    }
}

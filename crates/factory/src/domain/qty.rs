//! Quantities are exact decimals with three places, stored as `i64`
//! thousandths of the item's unit of measure (1.5 kg → 1500). Three places
//! cover grams of a kilogram, millilitres of a litre and millimetres of a
//! metre, which is as fine as the seeded units are ever counted; a finer
//! input is refused, never rounded. In JSON they are decimal strings with
//! exactly three places (`"1.500"`); the original API's `quantity` fields
//! are JSON numbers (see [`json_number`]).

use marimo_platform::money::{Decimal, DecimalError, format_scaled};
use serde_json::Value;

use marimo_platform::Invalid;

/// Decimal places of a quantity.
pub const SCALE: u32 = 3;
/// One unit, in thousandths.
pub const ONE: i64 = 1000;
/// The largest quantity one request may move: a billion units. It keeps
/// every product the service forms (quantity × cost, quantity × quantity)
/// comfortably inside `i128`, and balances inside `i64`.
pub const MAX: i64 = 1_000_000_000 * ONE;
/// The largest balance of one item in one warehouse (10^12 units).
pub const MAX_BALANCE: i64 = 1_000_000_000_000 * ONE;

/// Any quantity (signed) in thousandths, within ±[`MAX`].
pub fn parse(field: &'static str, d: &Decimal) -> Result<i64, Invalid> {
    let v = d.to_scaled(SCALE).map_err(|e| match e {
        DecimalError::TooPrecise { .. } => Invalid::new(
            field,
            format!("{field}: {d} has more than {SCALE} decimal places"),
        ),
        other => Invalid::new(field, format!("{field}: {other}")),
    })?;
    if v.unsigned_abs() > MAX as u64 {
        return Err(Invalid::new(field, format!("{field}: {d} is too large")));
    }
    Ok(v)
}

/// A strictly positive quantity.
pub fn positive(field: &'static str, d: &Decimal) -> Result<i64, Invalid> {
    let v = parse(field, d)?;
    if v <= 0 {
        return Err(Invalid::new(
            field,
            format!("{field} must be positive, got {d}"),
        ));
    }
    Ok(v)
}

/// A quantity ≥ 0.
pub fn non_negative(field: &'static str, d: &Decimal) -> Result<i64, Invalid> {
    let v = parse(field, d)?;
    if v < 0 {
        return Err(Invalid::new(
            field,
            format!("{field} must not be negative, got {d}"),
        ));
    }
    Ok(v)
}

/// Thousandths as a decimal string with three places: 1500 → `"1.500"`.
pub fn format(thousandths: i64) -> String {
    format_scaled(thousandths, SCALE)
}

/// The original API's `quantity`: a JSON number. Whole quantities are JSON
/// integers; fractional ones are the number written by the exact decimal
/// text (at most 3 places and 15 digits, so a double holds it exactly as
/// written). Never computed through float arithmetic.
pub fn json_number(thousandths: i64) -> Value {
    if thousandths % ONE == 0 {
        return Value::from(thousandths / ONE);
    }
    serde_json::from_str::<serde_json::Number>(&format(thousandths))
        .map(Value::Number)
        // Unreachable for formatted decimals; the string is still exact.
        .unwrap_or_else(|_| Value::String(format(thousandths)))
}

/// `a × b / c` rounded up (towards +∞), for requirements: a fraction of a
/// thousandth still has to be issued whole. `None` when `c` ≤ 0 or the
/// result does not fit.
pub fn mul_div_ceil(a: i64, b: i64, c: i64) -> Option<i64> {
    if c <= 0 {
        return None;
    }
    let n = i128::from(a) * i128::from(b);
    let c = i128::from(c);
    let q = n.div_euclid(c);
    let q = if n.rem_euclid(c) == 0 { q } else { q + 1 };
    i64::try_from(q).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(s: &str) -> Decimal {
        Decimal::parse(s).unwrap()
    }

    #[test]
    fn parses_thousandths_exactly() {
        assert_eq!(parse("qty", &d("1.5")), Ok(1500));
        assert_eq!(parse("qty", &d("-0.001")), Ok(-1));
        assert_eq!(parse("qty", &d("2")), Ok(2000));
        assert!(parse("qty", &d("0.0001")).is_err());
        assert!(parse("qty", &d("1000000001")).is_err());
        assert_eq!(parse("qty", &d("1000000000")), Ok(MAX));
        assert!(positive("qty", &d("0")).is_err());
        assert!(positive("qty", &d("-1")).is_err());
        assert_eq!(non_negative("qty", &d("0")), Ok(0));
        assert!(non_negative("qty", &d("-0.5")).is_err());
    }

    #[test]
    fn formats_and_numbers() {
        assert_eq!(format(1500), "1.500");
        assert_eq!(format(-1), "-0.001");
        assert_eq!(json_number(5000), serde_json::json!(5));
        assert_eq!(json_number(1500).to_string(), "1.5");
        assert_eq!(json_number(-250).to_string(), "-0.25");
    }

    #[test]
    fn ceil_division() {
        assert_eq!(mul_div_ceil(1000, 1000, 3000), Some(334));
        assert_eq!(mul_div_ceil(3000, 1000, 3000), Some(1000));
        assert_eq!(mul_div_ceil(0, 5, 7), Some(0));
        assert_eq!(mul_div_ceil(1, 1, 0), None);
        assert_eq!(mul_div_ceil(i64::MAX, i64::MAX, 1), None);
    }
}

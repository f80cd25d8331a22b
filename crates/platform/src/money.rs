//! Exact decimals for money and quantities.
//!
//! Amounts are stored as `i64` in minor units (cents for USD, none for JPY)
//! next to an ISO 4217 code, and travel in JSON as decimal strings. Clients
//! may send a JSON number or a string; either way the decimal is parsed
//! exactly from its text, never through arithmetic on a float.

use std::fmt;

use marimo_contracts::values;
use serde::{Deserialize, Deserializer, Serialize};

/// Why a text is not a decimal: the one error of the wire grammar
/// (`marimo_contracts::values`), which this module reads with.
pub use marimo_contracts::values::DecimalError;

/// A decimal number a client sent, validated and kept in its normal form
/// (`"007.50"` is `7.5`), so equal numbers compare equal. The grammar and
/// the reading of JSON numbers are the contracts' ([`values::Decimal`]):
/// one parser for what services send each other and what clients send.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decimal(values::Decimal);

impl Decimal {
    /// Parses `[+-]?digits(.digits)?` (no exponent). Surrounding blanks
    /// are refused here: a caller that accepts them trims first, so that
    /// it is a choice and not an accident.
    pub fn parse(s: &str) -> Result<Self, DecimalError> {
        if s.trim() != s {
            return Err(DecimalError::Syntax(s.to_owned()));
        }
        values::Decimal::parse(s).map(|d| Self(d.normalized()))
    }

    pub fn is_negative(&self) -> bool {
        self.0.parts().0
    }

    pub fn is_zero(&self) -> bool {
        // The normal form of zero is "0".
        self.0.as_str() == "0"
    }

    /// Decimal places written (trailing zeros ignored).
    pub fn scale(&self) -> u32 {
        u32::try_from(self.0.parts().2.len()).unwrap_or(u32::MAX)
    }

    /// The value in units of 10^-scale, e.g. `12.34` at scale 2 → 1234.
    /// More decimal places than `scale` is an error, never a rounding.
    pub fn to_scaled(&self, scale: u32) -> Result<i64, DecimalError> {
        self.0.to_scaled(scale)
    }
}

/// A wire decimal of a contract payload, read exactly (the grammar is the
/// same, so nothing can fail).
impl From<&values::Decimal> for Decimal {
    fn from(d: &values::Decimal) -> Self {
        Self(d.normalized())
    }
}

impl fmt::Display for Decimal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.0, f)
    }
}

/// A JSON string (surrounding blanks ignored) or number, read from its
/// text exactly, as the contracts read it.
impl<'de> Deserialize<'de> for Decimal {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        values::Decimal::deserialize(d).map(|wire| Self::from(&wire))
    }
}

impl Serialize for Decimal {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

/// Formats `units` of 10^-scale as a decimal string with exactly `scale`
/// places: `format_scaled(2999, 2)` → `"29.99"`, `(-5, 2)` → `"-0.05"`
/// (the wire form, [`values::Decimal::from_scaled`]).
pub fn format_scaled(units: i64, scale: u32) -> String {
    values::Decimal::from_scaled(units, scale)
        .as_str()
        .to_owned()
}

/// `amount × numerator / denominator`, rounded half away from zero: the
/// rounding commercial invoices use for tax and proportional splits.
pub fn mul_div_round(amount: i64, numerator: i64, denominator: i64) -> Option<i64> {
    if denominator == 0 {
        return None;
    }
    let n = i128::from(amount) * i128::from(numerator);
    let d = i128::from(denominator);
    let (q, r) = (n / d, n % d);
    let rounded = if 2 * r.abs() >= d.abs() {
        q + n.signum() * d.signum()
    } else {
        q
    };
    i64::try_from(rounded).ok()
}

/// An ISO 4217 currency the platform knows, with its minor units. Amounts
/// of it are `i64` minor units (cents for USD); they arrive as decimals
/// and leave as decimal strings with exactly [`Currency::scale`] places.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Currency {
    code: String,
    scale: u32,
}

impl Currency {
    /// `None` for codes the platform does not know (case and surrounding
    /// blanks do not matter).
    pub fn new(code: &str) -> Option<Self> {
        let code = code.trim().to_ascii_uppercase();
        minor_units(&code).map(|scale| Self { code, scale })
    }

    /// US dollars, the default base currency.
    pub fn usd() -> Self {
        Self {
            code: "USD".into(),
            scale: 2,
        }
    }

    /// The upper-case ISO code.
    pub fn code(&self) -> &str {
        &self.code
    }

    /// Decimal places of the currency (2 for USD, 0 for JPY).
    pub fn scale(&self) -> u32 {
        self.scale
    }

    /// Minor units as a decimal string with exactly `scale` places:
    /// 750 → `"7.50"` for USD.
    pub fn format(&self, units: i64) -> String {
        format_scaled(units, self.scale)
    }

    /// A decimal as minor units of this currency, at most `max` in size.
    /// More decimal places than the currency has is refused, never
    /// rounded; `field` names the input in the error.
    pub fn units(&self, field: &str, d: &Decimal, max: i64) -> Result<i64, crate::Invalid> {
        let field = field.to_owned();
        let units = d.to_scaled(self.scale).map_err(|e| match e {
            DecimalError::TooPrecise { .. } => {
                let message = format!(
                    "{field}: {d} has more decimal places than {} allows ({})",
                    self.code, self.scale
                );
                crate::Invalid::new(field.clone(), message)
            }
            other => crate::Invalid::new(field.clone(), format!("{field}: {other}")),
        })?;
        if units.unsigned_abs() > max.unsigned_abs() {
            return Err(crate::Invalid::new(
                field.clone(),
                format!("{field}: {d} is too large"),
            ));
        }
        Ok(units)
    }
}

impl fmt::Display for Currency {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.code)
    }
}

/// Minor units of an ISO 4217 currency this system knows; `None` otherwise.
pub fn minor_units(code: &str) -> Option<u32> {
    Some(match code {
        "JPY" | "KRW" | "VND" | "CLP" | "ISK" | "HUF" => 0,
        "BHD" | "KWD" | "OMR" | "JOD" | "TND" => 3,
        "USD" | "EUR" | "GBP" | "RUB" | "CHF" | "CAD" | "AUD" | "CNY" | "SEK" | "NOK" | "DKK"
        | "PLN" | "CZK" | "INR" | "BRL" | "MXN" | "TRY" | "KZT" | "UAH" | "GEL" | "AMD" | "BYN"
        | "NZD" | "SGD" | "HKD" | "ZAR" => 2,
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    fn d(s: &str) -> Decimal {
        Decimal::parse(s).unwrap()
    }

    #[test]
    fn parses_exactly() {
        assert_eq!(d("29.99").to_scaled(2), Ok(2999));
        assert_eq!(d("29.9").to_scaled(2), Ok(2990));
        assert_eq!(d("0029.990").to_scaled(2), Ok(2999));
        assert_eq!(d("-0.05").to_scaled(2), Ok(-5));
        assert_eq!(d("7").to_scaled(0), Ok(7));
        assert_eq!(d("-0").to_string(), "0");
        assert!(matches!(
            d("1.005").to_scaled(2),
            Err(DecimalError::TooPrecise { .. })
        ));
        assert!(matches!(
            d("99999999999999999999").to_scaled(2),
            Err(DecimalError::Overflow(_))
        ));
        for bad in [
            "", ".", "1.", ".5", "1e3", "1,5", " 1", "--1", "abc", "1.2.3", "NaN",
        ] {
            assert!(Decimal::parse(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn json_numbers_and_strings_agree() {
        let from = |j: &str| serde_json::from_str::<Decimal>(j).map(|d| d.to_scaled(2));
        assert_eq!(from("29.99").unwrap(), Ok(2999));
        assert_eq!(from("\"29.99\"").unwrap(), Ok(2999));
        assert_eq!(from("0.1").unwrap(), Ok(10));
        assert_eq!(from("100").unwrap(), Ok(10000));
        assert_eq!(from("1e2").unwrap(), Ok(10000));
        assert!(from("true").is_err());
        assert!(from("null").is_err());
        assert!(from("\"1e2\"").is_err());
    }

    #[test]
    fn wire_decimals_convert_exactly() {
        let wire = |s: &str| Decimal::from(&values::Decimal::parse(s).unwrap());
        assert_eq!(wire("3.000"), d("3"));
        assert_eq!(wire("-0.050").to_scaled(2), Ok(-5));
        assert_eq!(wire("-0.00"), d("0"));
        assert_eq!(wire("007.50").to_string(), "7.5");
    }

    #[test]
    fn formats_with_fixed_places() {
        assert_eq!(format_scaled(2999, 2), "29.99");
        assert_eq!(format_scaled(-5, 2), "-0.05");
        assert_eq!(format_scaled(100, 0), "100");
        assert_eq!(format_scaled(1, 3), "0.001");
        assert_eq!(format_scaled(i64::MIN, 2), "-92233720368547758.08");
    }

    #[test]
    fn rounds_half_away_from_zero() {
        assert_eq!(mul_div_round(1000, 825, 10_000), Some(83)); // 82.5 → 83
        assert_eq!(mul_div_round(-1000, 825, 10_000), Some(-83));
        assert_eq!(mul_div_round(1000, 824, 10_000), Some(82));
        assert_eq!(mul_div_round(1, 1, 0), None);
    }

    #[test]
    fn currencies_keep_their_places() {
        let usd = Currency::new(" usd ").unwrap();
        assert_eq!(usd, Currency::usd());
        assert_eq!(usd.units("amount", &d("12.3"), 10_000), Ok(1230));
        let e = usd.units("amount", &d("12.345"), 10_000).unwrap_err();
        assert_eq!(e.field, "amount");
        assert!(
            e.message
                .contains("more decimal places than USD allows (2)"),
            "{e}"
        );
        assert!(usd.units("amount", &d("100.01"), 10_000).is_err());
        assert_eq!(usd.units("amount", &d("-100.00"), 10_000), Ok(-10_000));
        let jpy = Currency::new("JPY").unwrap();
        assert_eq!(jpy.format(500), "500");
        assert!(jpy.units("amount", &d("1.5"), 10_000).is_err());
        assert_eq!(usd.format(-5), "-0.05");
        assert!(Currency::new("XXX").is_none());
    }

    proptest! {
        #[test]
        fn format_then_parse_round_trips(units in any::<i64>(), scale in 0u32..6) {
            let text = format_scaled(units, scale);
            prop_assert_eq!(Decimal::parse(&text).unwrap().to_scaled(scale), Ok(units));
        }

        #[test]
        fn json_numbers_with_two_places_are_exact(units in -10_000_000_000i64..10_000_000_000) {
            let text = format_scaled(units, 2);
            let parsed: Decimal = serde_json::from_str(&text).unwrap();
            prop_assert_eq!(parsed.to_scaled(2), Ok(units));
        }
    }
}

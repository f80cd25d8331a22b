//! The ledger's base currency and amounts in its minor units.
//!
//! The ledger is single-currency: every amount is an `i64` of minor units of
//! the base currency (cents for USD). Amounts arrive as decimals (a JSON
//! number or string, see `platform::money::Decimal`) and leave as decimal
//! strings with exactly the currency's number of places.

use marimo_platform::money::{Decimal, DecimalError, format_scaled, minor_units};

use super::Rejection;

/// The largest single amount accepted, in minor units (10^15: ten trillion
/// dollars). It keeps every sum the ledger forms far below `i64::MAX`.
pub const MAX_AMOUNT: i64 = 1_000_000_000_000_000;

/// An ISO 4217 currency the platform knows, with its minor units.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Currency {
    code: String,
    scale: u32,
}

impl Currency {
    /// `None` for codes the platform does not know.
    pub fn new(code: &str) -> Option<Self> {
        let code = code.trim().to_ascii_uppercase();
        minor_units(&code).map(|scale| Self { code, scale })
    }

    pub fn usd() -> Self {
        Self {
            code: "USD".into(),
            scale: 2,
        }
    }

    pub fn code(&self) -> &str {
        &self.code
    }

    /// Decimal places of the currency (2 for USD, 0 for JPY).
    pub fn scale(&self) -> u32 {
        self.scale
    }

    /// Minor units as a decimal string with exactly `scale` places.
    pub fn format(&self, units: i64) -> String {
        format_scaled(units, self.scale)
    }

    /// A strictly positive amount in minor units, at most [`MAX_AMOUNT`].
    /// `field` names the input in the error.
    pub fn positive(&self, field: &str, d: &Decimal) -> Result<i64, Rejection> {
        let units = self.units(field, d)?;
        if units <= 0 {
            return Err(Rejection::invalid(
                field,
                format!("{field} must be positive, got {d}"),
            ));
        }
        Ok(units)
    }

    /// An amount in minor units (any sign), at most [`MAX_AMOUNT`] in size;
    /// more decimal places than the currency has is an error, never rounded.
    pub fn units(&self, field: &str, d: &Decimal) -> Result<i64, Rejection> {
        let units = d.to_scaled(self.scale).map_err(|e| match e {
            DecimalError::TooPrecise { .. } => Rejection::invalid(
                field,
                format!(
                    "{field}: {d} has more decimal places than {} allows ({})",
                    self.code, self.scale
                ),
            ),
            other => Rejection::invalid(field, format!("{field}: {other}")),
        })?;
        if units.unsigned_abs() > MAX_AMOUNT as u64 {
            return Err(Rejection::invalid(
                field,
                format!("{field}: {d} is too large"),
            ));
        }
        Ok(units)
    }
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
        assert_eq!(usd.positive("amount", &d("12.34")), Ok(1234));
        assert_eq!(usd.positive("amount", &d("12.3")), Ok(1230));
        assert!(usd.positive("amount", &d("12.345")).is_err());
        assert!(usd.positive("amount", &d("0")).is_err());
        assert!(usd.positive("amount", &d("-1")).is_err());
        assert!(usd.positive("amount", &d("99999999999999999999")).is_err());
        assert!(usd.positive("amount", &d("10000000000000.01")).is_err());
        let jpy = Currency::new("jpy").unwrap();
        assert_eq!(jpy.positive("amount", &d("500")), Ok(500));
        assert!(jpy.positive("amount", &d("500.5")).is_err());
        assert_eq!(jpy.format(500), "500");
        assert_eq!(usd.format(-5), "-0.05");
        assert!(Currency::new("XXX").is_none());
    }
}

//! The factory's base currency and amounts in its minor units.
//!
//! Costs and values are `i64` minor units of one base currency (USD by
//! default: cents), stored next to nothing else because the factory keeps
//! one currency for its whole life (the `currency` row of
//! `factory_settings`, seeded from [`crate::DEFAULT_CURRENCY`]). Unit costs
//! are per unit of measure, at the currency's precision. In JSON, amounts
//! are decimal strings with exactly the currency's places.

use marimo_platform::money::{Decimal, DecimalError, format_scaled, minor_units};

use super::Invalid;

/// The largest unit cost accepted, in minor units (10^12: ten billion
/// dollars a unit).
pub const MAX_UNIT_COST: i64 = 1_000_000_000_000;
/// The largest value a balance or a move may reach (10^17 minor units).
pub const MAX_VALUE: i64 = 100_000_000_000_000_000;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Currency {
    code: String,
    scale: u32,
}

impl Currency {
    /// `None` for a code the platform does not know.
    pub fn new(code: &str) -> Option<Self> {
        let code = code.trim().to_ascii_uppercase();
        minor_units(&code).map(|scale| Self { code, scale })
    }

    pub fn code(&self) -> &str {
        &self.code
    }

    pub fn scale(&self) -> u32 {
        self.scale
    }

    /// Minor units as a decimal string: 750 → `"7.50"` for USD.
    pub fn format(&self, units: i64) -> String {
        format_scaled(units, self.scale)
    }

    /// A cost ≥ 0 in minor units, at most [`MAX_UNIT_COST`]; more places
    /// than the currency has is refused, never rounded.
    pub fn cost(&self, field: &'static str, d: &Decimal) -> Result<i64, Invalid> {
        let v = d.to_scaled(self.scale).map_err(|e| match e {
            DecimalError::TooPrecise { .. } => Invalid::new(
                field,
                format!(
                    "{field}: {d} has more decimal places than {} has ({})",
                    self.code, self.scale
                ),
            ),
            other => Invalid::new(field, format!("{field}: {other}")),
        })?;
        if v < 0 {
            return Err(Invalid::new(field, format!("{field} must not be negative")));
        }
        if v > MAX_UNIT_COST {
            return Err(Invalid::new(field, format!("{field}: {d} is too large")));
        }
        Ok(v)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn costs_at_the_currency_precision() {
        let usd = Currency::new("usd").unwrap();
        assert_eq!(usd.code(), "USD");
        let d = |s: &str| Decimal::parse(s).unwrap();
        assert_eq!(usd.cost("c", &d("2.5")), Ok(250));
        assert!(usd.cost("c", &d("2.505")).is_err());
        assert!(usd.cost("c", &d("-1")).is_err());
        assert_eq!(usd.format(750), "7.50");
        let jpy = Currency::new("JPY").unwrap();
        assert_eq!(jpy.cost("c", &d("300")), Ok(300));
        assert!(jpy.cost("c", &d("1.5")).is_err());
        assert!(Currency::new("XXX").is_none());
    }
}

//! Money, tax and order totals, exactly: amounts are i64 minor units of an
//! ISO 4217 currency, tax is rounded once, on the subtotal, half away from
//! zero.

use marimo_contracts::values::Money;
use marimo_platform::money::{Decimal, format_scaled, minor_units, mul_div_round};

use super::Invalid;

/// The currency of the seeded catalog and the default of new products.
pub const DEFAULT_CURRENCY: &str = "USD";

/// The largest unit price, in minor units (10 billion USD): with at most
/// 1000 units per line and 100 lines, a subtotal stays below 10^17 and
/// subtotal + 100 % tax far below `i64::MAX`.
pub const MAX_PRICE_UNITS: i64 = 1_000_000_000_000;

/// Decimal places of `code`, if it is a currency this system knows.
pub fn scale(code: &str) -> Option<u32> {
    minor_units(code)
}

/// `2999, "USD"` → `"29.99"`. Stored currencies were validated on the way
/// in; an unknown one (which cannot be stored) would print with 2 places.
pub fn format_money(units: i64, currency: &str) -> String {
    format_scaled(units, scale(currency).unwrap_or(2))
}

/// The same amount as the contracts' wire type (events, `/summary`).
pub fn wire_money(units: i64, currency: &str) -> Money {
    Money::from_minor(units, scale(currency).unwrap_or(2))
}

/// A known currency code, upper-cased (`usd` → `USD`).
pub fn parse_currency(field: &str, code: &str) -> Result<String, Invalid> {
    let code = code.trim().to_ascii_uppercase();
    if scale(&code).is_some() {
        Ok(code)
    } else {
        Err(Invalid::new(
            field.to_owned(),
            format!("'{code}' is not a supported ISO 4217 currency code"),
        ))
    }
}

/// A unit price in minor units of `currency`: positive, at most
/// [`MAX_PRICE_UNITS`], and never more decimal places than the currency
/// has (an error, not a rounding).
pub fn parse_price(field: &str, d: &Decimal, currency: &str) -> Result<i64, Invalid> {
    let places = scale(currency)
        .ok_or_else(|| Invalid::new("currency", format!("unknown currency '{currency}'")))?;
    let units = d
        .to_scaled(places)
        .map_err(|e| Invalid::new(field.to_owned(), e.to_string()))?;
    if units <= 0 {
        return Err(Invalid::new(
            field.to_owned(),
            format!("{field} must be greater than zero"),
        ));
    }
    if units > MAX_PRICE_UNITS {
        return Err(Invalid::new(
            field.to_owned(),
            format!(
                "{field} must be at most {}",
                format_scaled(MAX_PRICE_UNITS, places)
            ),
        ));
    }
    Ok(units)
}

/// A price bound of a catalog filter (`min_price`, `max_price`): zero or
/// more, in minor units of `currency`.
pub fn parse_bound(field: &str, text: &str, currency: &str) -> Result<i64, Invalid> {
    let d =
        Decimal::parse(text.trim()).map_err(|e| Invalid::new(field.to_owned(), e.to_string()))?;
    if d.is_negative() {
        return Err(Invalid::new(
            field.to_owned(),
            format!("{field} cannot be negative"),
        ));
    }
    let places = scale(currency)
        .ok_or_else(|| Invalid::new("currency", format!("unknown currency '{currency}'")))?;
    d.to_scaled(places)
        .map_err(|e| Invalid::new(field.to_owned(), e.to_string()))
}

/// Denominator of [`TaxRate`]: rates are millionths of the net amount.
pub const RATE_DENOMINATOR: i64 = 1_000_000;

/// A tax rate in millionths of the net amount (8.25 % = 82 500), 0..=100 %.
/// Percent text with up to 4 decimal places maps onto it exactly.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct TaxRate(i64);

impl TaxRate {
    pub const ZERO: Self = Self(0);

    pub fn from_millionths(m: i64) -> Option<Self> {
        (0..=RATE_DENOMINATOR).contains(&m).then_some(Self(m))
    }

    pub fn millionths(self) -> i64 {
        self.0
    }

    /// Parses a decimal percent as the config service sends it: `"8.25"`
    /// (a trailing `%` is tolerated), 0 to 100, at most 4 decimal places.
    pub fn parse_percent(text: &str) -> Result<Self, String> {
        let t = text.trim();
        let t = t.strip_suffix('%').map_or(t, str::trim_end);
        let d = Decimal::parse(t).map_err(|e| e.to_string())?;
        let m = d
            .to_scaled(4)
            .map_err(|_| format!("tax rate '{text}' has more than 4 decimal places"))?;
        Self::from_millionths(m)
            .ok_or_else(|| format!("tax rate '{text}' is not between 0 and 100"))
    }

    /// The canonical percent text: `"8.25"`, `"0"`, `"100"`.
    pub fn percent(self) -> String {
        // Through Decimal to drop trailing zeros ("8.2500" → "8.25").
        let text = format_scaled(self.0, 4);
        Decimal::parse(&text).map_or(text, |d| d.to_string())
    }

    /// Tax on `net` minor units, rounded half away from zero.
    pub fn tax_on(self, net: i64) -> Option<i64> {
        mul_div_round(net, self.0, RATE_DENOMINATOR)
    }
}

/// A priced line: what one product costs in an order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PricedLine {
    pub unit_price: i64,
    pub quantity: i64,
}

impl PricedLine {
    pub fn total(self) -> Option<i64> {
        self.unit_price.checked_mul(self.quantity)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Totals {
    pub subtotal: i64,
    pub tax: i64,
    pub total: i64,
}

/// Σ unit price × quantity, plus tax on that subtotal. `None` on overflow
/// (impossible within the request limits, but never silently wrong).
pub fn totals(lines: &[PricedLine], rate: TaxRate) -> Option<Totals> {
    let mut subtotal: i64 = 0;
    for line in lines {
        subtotal = subtotal.checked_add(line.total()?)?;
    }
    let tax = rate.tax_on(subtotal)?;
    Some(Totals {
        subtotal,
        tax,
        total: subtotal.checked_add(tax)?,
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
    fn prices_are_exact_and_validated() {
        assert_eq!(parse_price("price", &d("29.99"), "USD"), Ok(2999));
        assert_eq!(parse_price("price", &d("1500"), "JPY"), Ok(1500));
        assert_eq!(parse_price("price", &d("1.234"), "KWD"), Ok(1234));
        for (bad, cur) in [
            ("1.001", "USD"),
            ("0", "USD"),
            ("-1", "USD"),
            ("1.5", "JPY"),
        ] {
            let err = parse_price("price", &d(bad), cur).unwrap_err();
            assert_eq!(err.field, "price", "{bad}");
        }
        assert!(parse_price("price", &d("10000000000.01"), "USD").is_err());
        assert!(parse_price("price", &d("10000000000.00"), "USD").is_ok());
        assert_eq!(format_money(2999, "USD"), "29.99");
        assert_eq!(format_money(1500, "JPY"), "1500");
        assert_eq!(format_money(5, "USD"), "0.05");
        assert_eq!(wire_money(1500, "JPY").as_str(), "1500");
        assert_eq!(wire_money(2999, "USD").as_str(), "29.99");
    }

    #[test]
    fn currencies_must_be_known() {
        assert_eq!(parse_currency("currency", " usd ").unwrap(), "USD");
        assert!(parse_currency("currency", "XXX").is_err());
        assert!(parse_currency("currency", "").is_err());
    }

    #[test]
    fn bounds_accept_zero_and_refuse_garbage() {
        assert_eq!(parse_bound("min_price", "0", "USD"), Ok(0));
        assert_eq!(parse_bound("min_price", "30", "USD"), Ok(3000));
        assert!(parse_bound("min_price", "-1", "USD").is_err());
        assert!(parse_bound("min_price", "abc", "USD").is_err());
        assert!(parse_bound("max_price", "1.001", "USD").is_err());
        assert!(parse_bound("max_price", "NaN", "USD").is_err());
    }

    #[test]
    fn tax_rates_parse_from_percent_text() {
        assert_eq!(TaxRate::parse_percent("8.25").unwrap().millionths(), 82_500);
        assert_eq!(
            TaxRate::parse_percent("8.25%").unwrap().millionths(),
            82_500
        );
        assert_eq!(TaxRate::parse_percent(" 0 ").unwrap(), TaxRate::ZERO);
        assert_eq!(
            TaxRate::parse_percent("100").unwrap().millionths(),
            1_000_000
        );
        assert_eq!(
            TaxRate::parse_percent("7.1234").unwrap().millionths(),
            71_234
        );
        for bad in ["-1", "100.01", "7.12345", "abc", "", "1e2"] {
            assert!(TaxRate::parse_percent(bad).is_err(), "{bad}");
        }
        assert_eq!(TaxRate::parse_percent("8.250").unwrap().percent(), "8.25");
        assert_eq!(TaxRate::ZERO.percent(), "0");
        assert_eq!(TaxRate::parse_percent("100").unwrap().percent(), "100");
    }

    #[test]
    fn totals_round_tax_half_away_from_zero_on_the_subtotal() {
        let rate = TaxRate::parse_percent("8.25").unwrap();
        // 2 × 29.99 + 49.99 = 109.97; 8.25 % = 9.072525 → 9.07.
        let t = totals(
            &[
                PricedLine {
                    unit_price: 2999,
                    quantity: 2,
                },
                PricedLine {
                    unit_price: 4999,
                    quantity: 1,
                },
            ],
            rate,
        )
        .unwrap();
        assert_eq!(
            t,
            Totals {
                subtotal: 10997,
                tax: 907,
                total: 11904
            }
        );
        // 10.00 at 8.25 % = 0.825 → 0.83 (half away from zero).
        let t = totals(
            &[PricedLine {
                unit_price: 1000,
                quantity: 1,
            }],
            rate,
        )
        .unwrap();
        assert_eq!((t.tax, t.total), (83, 1083));
        assert_eq!(
            totals(&[], rate),
            Some(Totals {
                subtotal: 0,
                tax: 0,
                total: 0
            })
        );
        assert_eq!(
            totals(
                &[PricedLine {
                    unit_price: i64::MAX,
                    quantity: 2
                }],
                rate
            ),
            None
        );
    }

    fn line() -> impl Strategy<Value = PricedLine> {
        (1..=MAX_PRICE_UNITS, 1i64..=1000).prop_map(|(unit_price, quantity)| PricedLine {
            unit_price,
            quantity,
        })
    }

    proptest! {
        /// Within the request limits totals never overflow; the total is
        /// the subtotal plus the tax; the subtotal is the sum of the lines;
        /// the tax is within half a minor unit of the exact value.
        #[test]
        fn totals_are_exact(
            lines in proptest::collection::vec(line(), 0..=100),
            rate in 0i64..=RATE_DENOMINATOR,
        ) {
            let rate = TaxRate::from_millionths(rate).unwrap();
            let t = totals(&lines, rate).expect("no overflow within the limits");
            let sum: i128 = lines.iter().map(|l| i128::from(l.unit_price) * i128::from(l.quantity)).sum();
            prop_assert_eq!(i128::from(t.subtotal), sum);
            prop_assert_eq!(t.total, t.subtotal + t.tax);
            let exact = i128::from(t.subtotal) * i128::from(rate.millionths());
            let err = (i128::from(t.tax) * i128::from(RATE_DENOMINATOR) - exact).abs();
            prop_assert!(2 * err <= i128::from(RATE_DENOMINATOR), "tax {} off exact {}/1e6", t.tax, exact);
            prop_assert!(t.tax >= 0 && t.tax <= t.subtotal);
        }

        /// More net never means less tax, and a zero rate means no tax.
        #[test]
        fn tax_is_monotonic(a in 0i64..1_000_000_000_000, b in 0i64..1_000_000_000_000, rate in 0i64..=RATE_DENOMINATOR) {
            let rate = TaxRate::from_millionths(rate).unwrap();
            let (lo, hi) = (a.min(b), a.max(b));
            prop_assert!(rate.tax_on(lo).unwrap() <= rate.tax_on(hi).unwrap());
            prop_assert_eq!(TaxRate::ZERO.tax_on(hi), Some(0));
        }

        /// Percent text round-trips through the canonical form.
        #[test]
        fn percent_text_round_trips(m in 0i64..=RATE_DENOMINATOR) {
            let rate = TaxRate::from_millionths(m).unwrap();
            prop_assert_eq!(TaxRate::parse_percent(&rate.percent()), Ok(rate));
        }
    }
}

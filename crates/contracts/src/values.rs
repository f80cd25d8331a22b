//! Wire values: exact decimals and the newtypes built on them.
//!
//! Money, costs and quantities travel as JSON strings of decimal digits
//! (`"29.99"`, `"3.000"`), never as floats. A [`Decimal`] keeps the text as
//! written, so a payload read and written again is byte for byte the same
//! (`"3.000"` stays `"3.000"`). Readers also take a JSON number (the
//! original API sent some), converted from its text, exactly.
//!
//! [`Money`], [`UnitCost`] and [`Qty`] are distinct types over the same
//! decimal, so that a cost cannot be passed where a quantity is expected:
//!
//! ```
//! use marimo_contracts::values::{Money, Qty, UnitCost};
//! fn line(qty: &Qty, unit_cost: &UnitCost) -> String {
//!     format!("{qty} @ {unit_cost}")
//! }
//! let (qty, cost) = (Qty::from_thousandths(1500), UnitCost::from_minor(250, 2));
//! assert_eq!(line(&qty, &cost), "1.500 @ 2.50");
//! ```
//!
//! ```compile_fail
//! use marimo_contracts::values::{Qty, UnitCost};
//! fn line(qty: &Qty, unit_cost: &UnitCost) {}
//! let (qty, cost) = (Qty::from_thousandths(1500), UnitCost::from_minor(250, 2));
//! line(&cost, &qty);
//! ```
//!
//! A topic takes only its own payload type:
//!
//! ```
//! use marimo_contracts::{factory::{WORK_ORDER_RELEASED, WorkOrder}, Topic};
//! fn publish<P>(topic: Topic<P>, payload: &P) -> &'static str {
//!     topic.name()
//! }
//! let step: WorkOrder = serde_json::from_str(r#"{"work_order_id": "w1"}"#).unwrap();
//! assert_eq!(publish(WORK_ORDER_RELEASED, &step), "factory.work_order.released");
//! ```
//!
//! ```compile_fail
//! use marimo_contracts::{factory::{STOCK_LOW, WorkOrder}, Topic};
//! fn publish<P>(topic: Topic<P>, payload: &P) {}
//! let step: WorkOrder = unimplemented!();
//! publish(STOCK_LOW, &step);
//! ```

use std::fmt;

use serde::{Deserialize, Deserializer, Serialize, Serializer, de};

/// Why a text is not a wire decimal.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DecimalError {
    /// Not `-?digits(.digits)?`.
    Syntax(String),
    /// More non-zero decimal places than the scale asked for.
    TooPrecise { value: String, scale: u32 },
    /// Does not fit in `i64` units of the scale.
    Overflow(String),
}

impl fmt::Display for DecimalError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Syntax(s) => write!(f, "'{s}' is not a decimal number"),
            Self::TooPrecise { value, scale } => {
                write!(f, "'{value}' has more than {scale} decimal places")
            }
            Self::Overflow(s) => write!(f, "'{s}' is too large"),
        }
    }
}

impl std::error::Error for DecimalError {}

/// More significant digits than an f64 keeps exactly: a JSON number with
/// more may already have been rounded by the JSON parser.
const MAX_NUMBER_DIGITS: usize = 15;

/// An exact decimal number as it travels: an optional `-`, digits, and
/// optionally a point followed by digits. The text is kept as written
/// (trailing zeros included), so that it round-trips unchanged.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct Decimal(String);

impl Decimal {
    /// Parses `[+-]?digits(.digits)?` (surrounding spaces ignored, no
    /// exponent). A leading `+` is dropped; everything else is kept.
    pub fn parse(text: &str) -> Result<Self, DecimalError> {
        let s = text.trim();
        let err = || DecimalError::Syntax(text.to_owned());
        let (negative, body) = match s.strip_prefix('-') {
            Some(rest) => (true, rest),
            None => (false, s.strip_prefix('+').unwrap_or(s)),
        };
        let (int, frac) = body.split_once('.').unwrap_or((body, ""));
        let digits = |p: &str| p.bytes().all(|b| b.is_ascii_digit());
        // Digits are required on both sides of a point: "1." and ".5" are
        // more likely typos than amounts.
        if int.is_empty()
            || !digits(int)
            || !digits(frac)
            || (body.contains('.') && frac.is_empty())
        {
            return Err(err());
        }
        Ok(Self(if negative {
            format!("-{body}")
        } else {
            body.to_owned()
        }))
    }

    /// `units` of 10^-`scale` with exactly `scale` places:
    /// `from_scaled(2999, 2)` is `"29.99"`, `(-5, 2)` is `"-0.05"`.
    pub fn from_scaled(units: i64, scale: u32) -> Self {
        let sign = if units < 0 { "-" } else { "" };
        let digits = units.unsigned_abs().to_string();
        let scale = scale as usize;
        if scale == 0 {
            return Self(format!("{sign}{digits}"));
        }
        // At least one digit before the point: 5 at scale 2 is "0.05".
        let digits = format!("{digits:0>width$}", width = scale + 1);
        let (int, frac) = digits.split_at(digits.len() - scale);
        Self(format!("{sign}{int}.{frac}"))
    }

    /// Zero, written `"0"`.
    pub fn zero() -> Self {
        Self("0".to_owned())
    }

    /// The text as it travels.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Sign, integer digits and fraction digits, as written (`"-1.50"` →
    /// `(true, "1", "50")`).
    pub fn parts(&self) -> (bool, &str, &str) {
        let (negative, body) = match self.0.strip_prefix('-') {
            Some(rest) => (true, rest),
            None => (false, self.0.as_str()),
        };
        let (int, frac) = body.split_once('.').unwrap_or((body, ""));
        (negative, int, frac)
    }

    /// The same number in its shortest text: no leading zeros before the
    /// point, no trailing zeros after it, no point without digits after
    /// it, and no sign on zero (`"007.50"` → `"7.5"`, `"-0.00"` → `"0"`).
    /// Two decimals are the same number exactly when their normal forms
    /// are equal.
    pub fn normalized(&self) -> Self {
        let (negative, int, frac) = self.parts();
        let int = int.trim_start_matches('0');
        let frac = frac.trim_end_matches('0');
        let mut text = String::with_capacity(int.len() + frac.len() + 3);
        if negative && !(int.is_empty() && frac.is_empty()) {
            text.push('-');
        }
        text.push_str(if int.is_empty() { "0" } else { int });
        if !frac.is_empty() {
            text.push('.');
            text.push_str(frac);
        }
        Self(text)
    }

    /// The value in units of 10^-`scale` (`"12.34"` at scale 2 → 1234).
    /// More non-zero decimal places than `scale` is an error, never a
    /// rounding.
    pub fn to_scaled(&self, scale: u32) -> Result<i64, DecimalError> {
        let (negative, int, frac) = self.parts();
        let frac = frac.trim_end_matches('0');
        if frac.len() > scale as usize {
            return Err(DecimalError::TooPrecise {
                value: self.0.clone(),
                scale,
            });
        }
        let mut digits = String::with_capacity(int.len() + scale as usize);
        digits.push_str(int);
        digits.push_str(frac);
        digits.extend(std::iter::repeat_n('0', scale as usize - frac.len()));
        let digits = digits.trim_start_matches('0');
        if digits.is_empty() {
            return Ok(0);
        }
        let overflow = || DecimalError::Overflow(self.0.clone());
        let v: i128 = digits.parse().map_err(|_| overflow())?;
        i64::try_from(if negative { -v } else { v }).map_err(|_| overflow())
    }

    fn from_json_number(n: &serde_json::Number) -> Result<Self, DecimalError> {
        if n.is_i64() || n.is_u64() {
            return Self::parse(&n.to_string());
        }
        let f = n
            .as_f64()
            .filter(|f| f.is_finite())
            .ok_or_else(|| DecimalError::Syntax(n.to_string()))?;
        // serde_json prints an f64 as the shortest text that reads back as
        // the same f64: for up to 15 significant digits that is exactly
        // what the sender wrote.
        let text = format!("{f}");
        let d = Self::parse(&text)?;
        let (_, int, frac) = d.parts();
        if int.trim_start_matches('0').len() + frac.len() > MAX_NUMBER_DIGITS {
            return Err(DecimalError::TooPrecise {
                value: text,
                scale: 0,
            });
        }
        Ok(d)
    }
}

impl Default for Decimal {
    fn default() -> Self {
        Self::zero()
    }
}

impl fmt::Display for Decimal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for Decimal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Decimal({})", self.0)
    }
}

impl std::str::FromStr for Decimal {
    type Err = DecimalError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

impl Serialize for Decimal {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.0)
    }
}

impl<'de> Deserialize<'de> for Decimal {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        match serde_json::Value::deserialize(d)? {
            serde_json::Value::String(s) => Decimal::parse(&s).map_err(de::Error::custom),
            serde_json::Value::Number(n) => {
                Decimal::from_json_number(&n).map_err(de::Error::custom)
            }
            other => Err(de::Error::custom(format!(
                "expected a decimal number or string, got {other}"
            ))),
        }
    }
}

/// A decimal newtype: the same wire form as [`Decimal`], a type of its own.
macro_rules! decimal_newtype {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Clone, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
        #[serde(transparent)]
        pub struct $name(Decimal);

        impl $name {
            pub fn new(value: Decimal) -> Self {
                Self(value)
            }

            /// `units` of 10^-`scale`, written with exactly `scale` places.
            pub fn from_scaled(units: i64, scale: u32) -> Self {
                Self(Decimal::from_scaled(units, scale))
            }

            /// Parses the wire text (see [`Decimal::parse`]).
            pub fn parse(text: &str) -> Result<Self, DecimalError> {
                Decimal::parse(text).map(Self)
            }

            pub fn decimal(&self) -> &Decimal {
                &self.0
            }

            pub fn as_str(&self) -> &str {
                self.0.as_str()
            }

            /// See [`Decimal::to_scaled`].
            pub fn to_scaled(&self, scale: u32) -> Result<i64, DecimalError> {
                self.0.to_scaled(scale)
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                self.0.fmt(f)
            }
        }
    };
}

decimal_newtype! {
    /// An amount of money in the currency its payload names (a separate
    /// `currency` field), with that currency's minor units: `"29.99"` USD,
    /// `"500"` JPY. Built from integer minor units with
    /// [`Money::from_minor`].
    Money
}

decimal_newtype! {
    /// The cost of one unit of an item, in the payload's currency, with
    /// that currency's minor units (`"2.50"`).
    UnitCost
}

decimal_newtype! {
    /// A quantity of an item in its unit of measure. The factory counts in
    /// thousandths and writes three places (`"1.500"`); the shop counts
    /// whole units and writes none (`"2"`).
    Qty
}

impl Money {
    /// `units` minor units of a currency with `minor_units` decimal places
    /// (2 for USD): `from_minor(2999, 2)` is `"29.99"`.
    pub fn from_minor(units: i64, minor_units: u32) -> Self {
        Self::from_scaled(units, minor_units)
    }
}

impl UnitCost {
    /// See [`Money::from_minor`].
    pub fn from_minor(units: i64, minor_units: u32) -> Self {
        Self::from_scaled(units, minor_units)
    }
}

impl Qty {
    /// Decimal places of a factory quantity.
    pub const FACTORY_SCALE: u32 = 3;

    /// A factory quantity from thousandths: 1500 → `"1.500"`.
    pub fn from_thousandths(thousandths: i64) -> Self {
        Self::from_scaled(thousandths, Self::FACTORY_SCALE)
    }

    /// A count of whole units: 2 → `"2"`.
    pub fn whole(units: i64) -> Self {
        Self::from_scaled(units, 0)
    }
}

/// An ISO 4217 currency code (`"USD"`), as the publisher wrote it.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Currency(String);

impl Currency {
    pub fn new(code: impl Into<String>) -> Self {
        Self(code.into())
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Absent on the wire (read as empty).
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl fmt::Display for Currency {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn d(s: &str) -> Decimal {
        Decimal::parse(s).unwrap()
    }

    #[test]
    fn keeps_the_text_and_reads_it_exactly() {
        assert_eq!(d("3.000").as_str(), "3.000");
        assert_eq!(d(" +2.50 ").as_str(), "2.50");
        assert_eq!(d("-0.05").to_scaled(2), Ok(-5));
        assert_eq!(d("29.9").to_scaled(2), Ok(2990));
        assert_eq!(d("3.000").to_scaled(0), Ok(3));
        assert_eq!(
            d("1.005").to_scaled(2),
            Err(DecimalError::TooPrecise {
                value: "1.005".into(),
                scale: 2
            })
        );
        assert!(matches!(
            d("99999999999999999999").to_scaled(2),
            Err(DecimalError::Overflow(_))
        ));
        for bad in [
            "", ".", "1.", ".5", "1e3", "1,5", "--1", "abc", "1.2.3", "NaN",
        ] {
            assert!(Decimal::parse(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn normal_forms_are_the_shortest_text() {
        assert_eq!(d("007.50").normalized().as_str(), "7.5");
        assert_eq!(d("-0.00").normalized().as_str(), "0");
        assert_eq!(d("0.050").normalized().as_str(), "0.05");
        assert_eq!(d("-12").normalized().as_str(), "-12");
        assert_eq!(d("3.000").normalized(), d("3"));
        assert_ne!(d("3.001").normalized(), d("3"));
    }

    #[test]
    fn formats_with_fixed_places() {
        assert_eq!(Money::from_minor(2999, 2).as_str(), "29.99");
        assert_eq!(Money::from_minor(-5, 2).as_str(), "-0.05");
        assert_eq!(Money::from_minor(500, 0).as_str(), "500");
        assert_eq!(Qty::from_thousandths(1500).as_str(), "1.500");
        assert_eq!(Qty::whole(2).as_str(), "2");
        assert_eq!(
            Decimal::from_scaled(i64::MIN, 2).as_str(),
            "-92233720368547758.08"
        );
        assert_eq!(Decimal::from_scaled(i64::MIN, 2).to_scaled(2), Ok(i64::MIN));
    }

    #[test]
    fn strings_and_numbers_on_the_wire() {
        let read = |v: serde_json::Value| serde_json::from_value::<Qty>(v);
        assert_eq!(read(json!("12.000")).unwrap().as_str(), "12.000");
        assert_eq!(read(json!(3)).unwrap().as_str(), "3");
        assert_eq!(read(json!(0.1)).unwrap().as_str(), "0.1");
        assert_eq!(read(json!(1e2)).unwrap().as_str(), "100");
        assert!(read(json!("abc")).is_err());
        assert!(read(json!(null)).is_err());
        assert!(read(json!(true)).is_err());
        assert!(read(json!({})).is_err());
        // Always written as a string.
        assert_eq!(
            serde_json::to_value(Money::from_minor(750, 2)).unwrap(),
            json!("7.50")
        );
    }

    proptest::proptest! {
        #[test]
        fn scaled_units_round_trip(units in proptest::prelude::any::<i64>(), scale in 0u32..6) {
            let d = Decimal::from_scaled(units, scale);
            proptest::prop_assert_eq!(d.to_scaled(scale), Ok(units));
            // And through the wire.
            let back: Decimal = serde_json::from_value(serde_json::to_value(&d).unwrap()).unwrap();
            proptest::prop_assert_eq!(back, d);
        }
    }
}

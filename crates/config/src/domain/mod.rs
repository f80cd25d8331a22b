//! Pure rules of the config service: key syntax, setting scopes and value
//! types (and the check of a value against its type), reference-data
//! codes. No I/O; unit-tested below.

use std::{fmt, str::FromStr};

use marimo_platform::money::Decimal;
use serde::Serialize;
use serde_json::Value;

/// A rejected input: which field, and why (becomes a 400); the one
/// platform type.
pub use marimo_platform::Invalid;

fn invalid(field: &'static str, message: impl Into<String>) -> Invalid {
    Invalid::new(field, message)
}

pub const KEY_MAX: usize = 100;
/// Settings are small; a megabyte of "config" is a misuse.
pub const VALUE_MAX_BYTES: usize = 64 * 1024;
pub const DESCRIPTION_MAX_CHARS: usize = 500;
pub const NAME_MAX_CHARS: usize = 100;

/// `[a-z0-9_.-]{1,100}`.
pub fn parse_key(key: &str) -> Result<String, Invalid> {
    let ok = !key.is_empty()
        && key.len() <= KEY_MAX
        && key.bytes().all(|b| {
            b.is_ascii_lowercase() || b.is_ascii_digit() || matches!(b, b'_' | b'.' | b'-')
        });
    if ok {
        Ok(key.to_owned())
    } else {
        Err(invalid(
            "key",
            format!("key must be 1-{KEY_MAX} characters of a-z, 0-9, '_', '.', '-'"),
        ))
    }
}

macro_rules! text_enum {
    ($(#[$m:meta])* $name:ident, $field:literal, $($variant:ident => $text:literal),+ $(,)?) => {
        $(#[$m])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
        #[serde(rename_all = "snake_case")]
        pub enum $name { $($variant),+ }

        impl $name {
            pub const ALL: &[$name] = &[$($name::$variant),+];
            pub fn as_str(self) -> &'static str {
                match self { $($name::$variant => $text),+ }
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl FromStr for $name {
            type Err = Invalid;
            fn from_str(s: &str) -> Result<Self, Invalid> {
                match s {
                    $($text => Ok($name::$variant),)+
                    _ => {
                        let names: Vec<&str> = Self::ALL.iter().map(|v| v.as_str()).collect();
                        Err(invalid($field, format!(
                            "unknown {} '{s}'; one of: {}", $field, names.join(", ")
                        )))
                    }
                }
            }
        }
    };
}

text_enum!(
    /// The original API's `type`: `system` settings belong to the platform
    /// (name, currency, time zone), `app` settings to the business
    /// (the default), `user` settings are preferences of users.
    Scope, "type",
    System => "system",
    App => "app",
    User => "user",
);

text_enum!(
    /// What a setting's value must parse as.
    ValueType, "value_type",
    String => "string",
    Int => "int",
    Decimal => "decimal",
    Bool => "bool",
    Json => "json",
);

/// Checks `value` against `ty`; the stored text is exactly what was sent.
pub fn check_value(ty: ValueType, value: &str) -> Result<(), Invalid> {
    if value.len() > VALUE_MAX_BYTES {
        return Err(invalid(
            "value",
            format!("value must be at most {VALUE_MAX_BYTES} bytes"),
        ));
    }
    let bad = |what: &str| invalid("value", format!("'{}' is not {what}", shorten(value)));
    match ty {
        ValueType::String => Ok(()),
        ValueType::Int => value
            .parse::<i64>()
            .map(|_| ())
            .map_err(|_| bad("an integer (i64)")),
        ValueType::Decimal => Decimal::parse(value)
            .map(|_| ())
            .map_err(|_| bad("a decimal number")),
        ValueType::Bool => match value {
            "true" | "false" => Ok(()),
            _ => Err(bad("a boolean (true or false)")),
        },
        ValueType::Json => serde_json::from_str::<Value>(value)
            .map(|_| ())
            .map_err(|_| bad("valid JSON")),
    }
}

/// Keys other services consume have tighter rules than their type, so
/// that a value they would refuse (and dead-letter) is refused here, at
/// the write: `tax_rate` is a decimal percent 0..=100 with at most four
/// decimals, `order_ttl_minutes` an int 1..=43200 (30 days),
/// `access_token_ttl_minutes` an int 1..=1440. The shop also reads its
/// keys with a `shop.` prefix.
pub fn check_known(key: &str, ty: ValueType, value: &str) -> Result<(), Invalid> {
    let bare = key.strip_prefix("shop.").unwrap_or(key);
    let int_in = |lo: i64, hi: i64| -> Result<(), Invalid> {
        let rule = || invalid("value", format!("{key} is an int {lo}..={hi}"));
        if ty != ValueType::Int {
            return Err(rule());
        }
        match value.parse::<i64>() {
            Ok(n) if (lo..=hi).contains(&n) => Ok(()),
            _ => Err(rule()),
        }
    };
    match bare {
        "tax_rate" => {
            let rule = || {
                invalid(
                    "value",
                    "tax_rate is a decimal percent 0..=100 (at most 4 decimals)",
                )
            };
            if ty != ValueType::Decimal {
                return Err(rule());
            }
            let d = Decimal::parse(value).map_err(|_| rule())?;
            parse_rate(&d).map(|_| ()).map_err(|_| rule())
        }
        "order_ttl_minutes" => int_in(1, 30 * 24 * 60),
        "access_token_ttl_minutes" if key == bare => int_in(1, 24 * 60),
        _ => Ok(()),
    }
}

/// Keys that stay the installation's (written only by its operators, the
/// default tenant's admins), because their consumers apply them to every
/// tenant at once: the users service applies token lifetimes only from the
/// default tenant's events, and the gateway's `rate_limits` are its own,
/// not a tenant's. A tenant reads the installation's value.
pub const INSTALLATION_KEYS: &[&str] = &[
    "access_token_ttl_minutes",
    "refresh_token_ttl_days",
    "rate_limits",
];

pub fn is_installation_only(key: &str) -> bool {
    INSTALLATION_KEYS.contains(&key)
}

/// Clients send the value as a JSON string (the original API); numbers,
/// booleans, objects and arrays are accepted too and stored as their JSON
/// text, which is what a typed client most likely means.
pub fn value_text(v: &Value) -> Result<String, Invalid> {
    match v {
        Value::String(s) => Ok(s.clone()),
        Value::Null => Err(invalid("value", "value is required")),
        other => Ok(other.to_string()),
    }
}

/// A free-text field: trimmed, at most `max` characters, no control
/// characters other than newlines and tabs.
pub fn parse_text(
    field: &'static str,
    s: &str,
    max: usize,
    required: bool,
) -> Result<String, Invalid> {
    let s = s.trim();
    if required && s.is_empty() {
        return Err(invalid(field, format!("{field} is required")));
    }
    if s.chars().count() > max {
        return Err(invalid(
            field,
            format!("{field} must be at most {max} characters"),
        ));
    }
    if s.chars().any(|c| c.is_control() && c != '\n' && c != '\t') {
        return Err(invalid(
            field,
            format!("{field} must not contain control characters"),
        ));
    }
    Ok(s.to_owned())
}

fn shorten(s: &str) -> String {
    const MAX: usize = 40;
    if s.chars().count() <= MAX {
        s.to_owned()
    } else {
        format!("{}…", s.chars().take(MAX).collect::<String>())
    }
}

/// The version a write expects, from `If-Match` and/or the body. Both
/// given and different is a contradictory request (400).
pub fn expected_version(if_match: Option<i64>, body: Option<i64>) -> Result<Option<i64>, Invalid> {
    match (if_match, body) {
        (Some(a), Some(b)) if a != b => Err(invalid(
            "version",
            "If-Match and the body's version disagree",
        )),
        (a, b) => Ok(a.or(b)),
    }
}

/// `If-Match: "3"` (also `W/"3"` and a bare `3`) → 3. `*` means "any
/// version" (no condition).
pub fn parse_if_match(raw: &str) -> Result<Option<i64>, Invalid> {
    let raw = raw.trim();
    if raw == "*" {
        return Ok(None);
    }
    let tag = raw.strip_prefix("W/").unwrap_or(raw);
    let tag = tag
        .strip_prefix('"')
        .and_then(|t| t.strip_suffix('"'))
        .unwrap_or(tag);
    match tag.parse::<i64>() {
        Ok(v) if v >= 1 => Ok(Some(v)),
        _ => Err(invalid(
            "If-Match",
            "If-Match must be a version, e.g. \"3\"",
        )),
    }
}

// ------------------------------------------------------- reference data

/// The reference-data kinds, by their path segment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RefKind {
    Currencies,
    Units,
    TaxRates,
}

impl RefKind {
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "currencies" => Some(Self::Currencies),
            "units" => Some(Self::Units),
            "tax-rates" => Some(Self::TaxRates),
            _ => None,
        }
    }

    /// The path segment, also the `kind` of `config.reference.changed`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Currencies => "currencies",
            Self::Units => "units",
            Self::TaxRates => "tax-rates",
        }
    }
}

/// ISO 4217 alphabetic code: three upper-case letters (sent in any case).
pub fn parse_currency_code(s: &str) -> Result<String, Invalid> {
    let c = s.trim().to_ascii_uppercase();
    if c.len() == 3 && c.bytes().all(|b| b.is_ascii_uppercase()) {
        Ok(c)
    } else {
        Err(invalid(
            "code",
            "a currency code is three letters (ISO 4217), e.g. USD",
        ))
    }
}

pub fn parse_minor_units(n: i64) -> Result<i64, Invalid> {
    if (0..=4).contains(&n) {
        Ok(n)
    } else {
        Err(invalid("minor_units", "minor_units must be 0..=4"))
    }
}

/// Unit and tax-rate codes: `[a-z0-9_-]{1,32}` (sent in any case).
pub fn parse_ref_code(s: &str) -> Result<String, Invalid> {
    let c = s.trim().to_ascii_lowercase();
    if !c.is_empty()
        && c.len() <= 32
        && c.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_' || b == b'-')
    {
        Ok(c)
    } else {
        Err(invalid(
            "code",
            "code must be 1-32 characters of a-z, 0-9, '_', '-'",
        ))
    }
}

/// Tax rates are stored in 1/10000 of a percent.
pub const RATE_SCALE: u32 = 4;
pub const RATE_MAX: i64 = 100 * 10_000;

/// A percentage 0..=100 with at most four decimals → scaled integer.
pub fn parse_rate(d: &Decimal) -> Result<i64, Invalid> {
    let err = || {
        invalid(
            "rate",
            "rate is a percentage 0..=100 with at most 4 decimals",
        )
    };
    let v = d.to_scaled(RATE_SCALE).map_err(|_| err())?;
    if (0..=RATE_MAX).contains(&v) {
        Ok(v)
    } else {
        Err(err())
    }
}

/// Scaled rate → "8.25", "0.00" (at least two decimals, as money reads).
pub fn format_rate(scaled: i64) -> String {
    let int = scaled / 10_000;
    let frac = format!("{:04}", (scaled % 10_000).abs());
    let frac = frac.trim_end_matches('0');
    let frac = format!("{frac:0<2}");
    format!("{int}.{frac}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys() {
        assert!(parse_key("app_name").is_ok());
        assert!(parse_key("shop.tax-rate_2").is_ok());
        assert!(parse_key(&"a".repeat(100)).is_ok());
        assert!(parse_key(&"a".repeat(101)).is_err());
        assert!(parse_key("").is_err());
        assert!(parse_key("App").is_err());
        assert!(parse_key("a b").is_err());
        assert!(parse_key("a/b").is_err());
    }

    #[test]
    fn typed_values() {
        use ValueType as T;
        assert!(check_value(T::Int, "42").is_ok());
        assert!(check_value(T::Int, "-9223372036854775808").is_ok());
        assert!(check_value(T::Int, "9223372036854775808").is_err());
        assert!(check_value(T::Int, "4.2").is_err());
        assert!(check_value(T::Decimal, "8.25").is_ok());
        assert!(check_value(T::Decimal, "abc").is_err());
        assert!(check_value(T::Bool, "true").is_ok());
        assert!(check_value(T::Bool, "yes").is_err());
        assert!(check_value(T::Json, r#"{"a":[1]}"#).is_ok());
        assert!(check_value(T::Json, "{").is_err());
        assert!(check_value(T::String, "anything").is_ok());
        assert!(check_value(T::String, &"x".repeat(VALUE_MAX_BYTES + 1)).is_err());
    }

    #[test]
    fn keys_other_services_read() {
        use ValueType as T;
        assert!(check_known("tax_rate", T::Decimal, "8.25").is_ok());
        assert!(check_known("shop.tax_rate", T::Decimal, "0").is_ok());
        assert!(check_known("tax_rate", T::Decimal, "150").is_err());
        assert!(check_known("tax_rate", T::Decimal, "-1").is_err());
        assert!(check_known("tax_rate", T::String, "8").is_err());
        assert!(check_known("order_ttl_minutes", T::Int, "30").is_ok());
        assert!(check_known("order_ttl_minutes", T::Int, "0").is_err());
        assert!(check_known("order_ttl_minutes", T::Decimal, "30").is_err());
        assert!(check_known("access_token_ttl_minutes", T::Int, "1441").is_err());
        assert!(check_known("other", T::String, "x").is_ok());
    }

    #[test]
    fn installation_keys() {
        assert!(is_installation_only("access_token_ttl_minutes"));
        assert!(is_installation_only("refresh_token_ttl_days"));
        assert!(is_installation_only("rate_limits"));
        assert!(!is_installation_only("tax_rate"));
        assert!(!is_installation_only("shop.access_token_ttl_minutes"));
    }

    #[test]
    fn versions() {
        assert_eq!(parse_if_match("\"3\"").unwrap(), Some(3));
        assert_eq!(parse_if_match("W/\"3\"").unwrap(), Some(3));
        assert_eq!(parse_if_match("3").unwrap(), Some(3));
        assert_eq!(parse_if_match("*").unwrap(), None);
        assert!(parse_if_match("\"x\"").is_err());
        assert!(parse_if_match("0").is_err());
        assert_eq!(expected_version(Some(2), None).unwrap(), Some(2));
        assert_eq!(expected_version(None, Some(2)).unwrap(), Some(2));
        assert!(expected_version(Some(2), Some(3)).is_err());
    }

    #[test]
    fn rates() {
        let d = |s| Decimal::parse(s).unwrap();
        assert_eq!(parse_rate(&d("8.25")).unwrap(), 82_500);
        assert_eq!(format_rate(82_500), "8.25");
        assert_eq!(format_rate(0), "0.00");
        assert_eq!(format_rate(1_000_000), "100.00");
        assert_eq!(format_rate(12_345), "1.2345");
        assert!(parse_rate(&d("100.01")).is_err());
        assert!(parse_rate(&d("-1")).is_err());
        assert!(parse_rate(&d("1.00001")).is_err());
    }

    #[test]
    fn codes() {
        assert_eq!(parse_currency_code("eur").unwrap(), "EUR");
        assert!(parse_currency_code("EURO").is_err());
        assert_eq!(parse_ref_code("PCS").unwrap(), "pcs");
        assert!(parse_ref_code("a b").is_err());
    }
}

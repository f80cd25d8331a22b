//! The shop's own settings and how `config.setting.changed` events change
//! them: the tax rate of new orders and how long a pending order holds its
//! stock.

use std::time::Duration;

use marimo_contracts::config::SettingChanged;
use marimo_platform::money::Decimal;

use super::pricing::TaxRate;

/// Decimal percent, e.g. `"8.25"`; default 0.
pub const TAX_RATE: &str = "tax_rate";
/// Decimal minutes, e.g. `"30"` or `"0.05"` (3 s); default 30.
pub const ORDER_TTL_MINUTES: &str = "order_ttl_minutes";

pub const DEFAULT_ORDER_TTL: Duration = Duration::from_secs(30 * 60);
/// Thirty days: a longer hold would keep stock from other customers for
/// no reason anyone could want.
const MAX_TTL_MINUTES: i64 = 30 * 24 * 60;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ShopSettings {
    pub tax_rate: TaxRate,
    pub order_ttl: Duration,
}

impl Default for ShopSettings {
    fn default() -> Self {
        Self {
            tax_rate: TaxRate::ZERO,
            order_ttl: DEFAULT_ORDER_TTL,
        }
    }
}

impl ShopSettings {
    /// The settings from stored `(key, value)` rows; missing keys keep
    /// their defaults. Stored values were validated when written, so an
    /// unreadable one is reported, not guessed at.
    pub fn from_rows<'a>(
        rows: impl IntoIterator<Item = (&'a str, &'a str)>,
    ) -> Result<Self, String> {
        let mut s = Self::default();
        for (key, value) in rows {
            match key {
                TAX_RATE => s.tax_rate = TaxRate::parse_percent(value)?,
                ORDER_TTL_MINUTES => s.order_ttl = parse_ttl_minutes(value)?.1,
                _ => {}
            }
        }
        Ok(s)
    }
}

/// `"30"` → (`"30"`, 30 min). Positive, at most 30 days, at most 3 decimal
/// places (a fraction of a minute is useful for demos and tests).
pub fn parse_ttl_minutes(text: &str) -> Result<(String, Duration), String> {
    let d = Decimal::parse(text.trim()).map_err(|e| format!("order TTL: {e}"))?;
    let milli_minutes = d
        .to_scaled(3)
        .map_err(|_| format!("order TTL '{text}' has more than 3 decimal places"))?;
    if milli_minutes <= 0 || milli_minutes > MAX_TTL_MINUTES * 1000 {
        return Err(format!(
            "order TTL '{text}' must be more than 0 and at most {MAX_TTL_MINUTES} minutes"
        ));
    }
    // milli-minutes × 60 = milliseconds; at most 2.6e9, no overflow.
    let ms = u64::try_from(milli_minutes * 60).map_err(|e| e.to_string())?;
    Ok((d.to_string(), Duration::from_millis(ms)))
}

/// A change the shop applies: a canonical value, or `None` to go back to
/// the default (the setting was deleted).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Change {
    pub key: &'static str,
    pub value: Option<String>,
    /// The config service's version of the setting, when it sent one.
    pub version: Option<i64>,
}

/// What a `config.setting.changed` payload (`key, version, value_type,
/// value`) means for the shop: `Ok(None)` for keys it does not use,
/// `Err` for a value that can never be applied.
pub fn change_from_event(payload: &SettingChanged) -> Result<Option<Change>, String> {
    // The config service may namespace the shop's keys.
    let key = match payload.key.strip_prefix("shop.").unwrap_or(&payload.key) {
        TAX_RATE => TAX_RATE,
        ORDER_TTL_MINUTES => ORDER_TTL_MINUTES,
        _ => return Ok(None),
    };
    let version = payload.version;
    let Some(text) = &payload.value else {
        return Ok(Some(Change {
            key,
            value: None,
            version,
        }));
    };
    let value = match key {
        TAX_RATE => TaxRate::parse_percent(text)?.percent(),
        _ => parse_ttl_minutes(text)?.0,
    };
    Ok(Some(Change {
        key,
        value: Some(value),
        version,
    }))
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn defaults_and_stored_rows() {
        let s = ShopSettings::from_rows([]).unwrap();
        assert_eq!(s, ShopSettings::default());
        assert_eq!(s.order_ttl, Duration::from_secs(1800));
        let s = ShopSettings::from_rows([
            ("tax_rate", "8.25"),
            ("order_ttl_minutes", "0.05"),
            ("x", "y"),
        ])
        .unwrap();
        assert_eq!(s.tax_rate.millionths(), 82_500);
        assert_eq!(s.order_ttl, Duration::from_secs(3));
        assert!(ShopSettings::from_rows([("tax_rate", "abc")]).is_err());
    }

    #[test]
    fn ttl_is_positive_and_bounded() {
        assert_eq!(
            parse_ttl_minutes("30").unwrap(),
            ("30".into(), Duration::from_secs(1800))
        );
        assert_eq!(
            parse_ttl_minutes("0.001").unwrap().1,
            Duration::from_millis(60)
        );
        for bad in ["0", "-5", "0.0001", "43201", "x", ""] {
            assert!(parse_ttl_minutes(bad).is_err(), "{bad}");
        }
    }

    /// The payload as the shop's consumer reads it; a payload the
    /// contract cannot read is the `Err` the consumer dead-letters.
    fn change_from_event(payload: &serde_json::Value) -> Result<Option<Change>, String> {
        let change: SettingChanged =
            serde_json::from_value(payload.clone()).map_err(|e| e.to_string())?;
        super::change_from_event(&change)
    }

    #[test]
    fn events_become_changes() {
        let c = change_from_event(
            &json!({"key": "tax_rate", "version": 3, "value_type": "decimal", "value": "8.250"}),
        )
        .unwrap()
        .unwrap();
        assert_eq!(
            c,
            Change {
                key: TAX_RATE,
                value: Some("8.25".into()),
                version: Some(3)
            }
        );
        let c = change_from_event(&json!({"key": "shop.order_ttl_minutes", "value": 15}))
            .unwrap()
            .unwrap();
        assert_eq!(
            (c.key, c.value.as_deref(), c.version),
            (ORDER_TTL_MINUTES, Some("15"), None)
        );
        let c = change_from_event(&json!({"key": "tax_rate", "version": "4", "value": null}))
            .unwrap()
            .unwrap();
        assert_eq!((c.value, c.version), (None, Some(4)));
        assert_eq!(
            change_from_event(&json!({"key": "app_name", "value": "Marimo"})),
            Ok(None)
        );
        assert!(change_from_event(&json!({"key": "tax_rate", "value": "150"})).is_err());
        assert!(change_from_event(&json!({"key": "tax_rate", "value": true})).is_err());
        assert!(change_from_event(&json!({"value": "1"})).is_err());
    }
}

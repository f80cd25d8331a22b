//! The config service: setting and reference-data events, and the
//! settings and reference rows other services read from it.

use serde::{Deserialize, Deserializer, Serialize, de};

use crate::Topic;

pub const SETTING_CHANGED: Topic<SettingChanged> = Topic::new("config.setting.changed", 1);
pub const REFERENCE_CHANGED: Topic<ReferenceChanged> = Topic::new("config.reference.changed", 1);

/// `config.setting.changed`: a setting was created, updated or deleted.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SettingChanged {
    /// The setting's key (`tax_rate`, `rate_limits`, ...).
    pub key: String,
    /// The setting's version after the change, increasing per key (a
    /// deletion is a version of its own), so readers can ignore stale
    /// deliveries. Defaults when absent; a number, or a string of digits.
    #[serde(default, deserialize_with = "lenient_version")]
    pub version: Option<i64>,
    /// `string`, `int`, `decimal`, `bool`, `json` or `secret`. Defaults
    /// when absent.
    #[serde(default)]
    pub value_type: String,
    /// The new value as text; `None` (JSON null) when the setting was
    /// deleted. Defaults when absent. Readers also take a JSON number or
    /// boolean, as its text.
    #[serde(default, deserialize_with = "setting_text")]
    pub value: Option<String>,
    /// The setting's scope (`system`, `app`, ...), the original API's
    /// `type`. Defaults when absent.
    #[serde(default, rename = "type")]
    pub scope: String,
    /// `create`, `update` or `delete`. Defaults when absent.
    #[serde(default)]
    pub action: String,
}

fn lenient_version<'de, D: Deserializer<'de>>(d: D) -> Result<Option<i64>, D::Error> {
    // Unreadable is "unversioned", as absent: each reader decides whether
    // it can apply an unversioned change.
    Ok(match serde_json::Value::deserialize(d)? {
        serde_json::Value::Number(n) => n.as_i64(),
        serde_json::Value::String(s) => s.trim().parse().ok(),
        _ => None,
    })
}

fn setting_text<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    match serde_json::Value::deserialize(d)? {
        serde_json::Value::Null => Ok(None),
        serde_json::Value::String(s) => Ok(Some(s)),
        serde_json::Value::Number(n) => Ok(Some(n.to_string())),
        serde_json::Value::Bool(b) => Ok(Some(b.to_string())),
        other => Err(de::Error::custom(format!(
            "a setting value is text, not {other}"
        ))),
    }
}

/// The kinds of reference data.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
pub enum RefKind {
    #[serde(rename = "currencies")]
    Currencies,
    #[serde(rename = "units")]
    Units,
    #[serde(rename = "tax-rates")]
    TaxRates,
    /// A kind this reader does not know yet (new kinds are additions
    /// within v1, and readers ignore them). Never published.
    #[serde(other, skip_serializing)]
    Unknown,
}

/// `config.reference.changed`: a reference row was created or replaced.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReferenceChanged {
    /// Which table the row is in.
    pub kind: RefKind,
    /// The row's code (`USD`, `kg`, `standard`).
    pub code: String,
    /// The row as `GET /api/config/reference/{kind}` answers it, so
    /// consumers keep their copy without calling back.
    pub item: ReferenceItem,
}

/// One row of reference data. On the wire the row's fields alone; which
/// kind it is follows from its fields (`minor_units`: a currency, `rate`:
/// a tax rate, neither: a unit).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(untagged)]
pub enum ReferenceItem {
    Currency(CurrencyRow),
    TaxRate(TaxRateRow),
    Unit(UnitRow),
}

impl ReferenceItem {
    pub fn code(&self) -> &str {
        match self {
            Self::Currency(r) => &r.code,
            Self::TaxRate(r) => &r.code,
            Self::Unit(r) => &r.code,
        }
    }

    pub fn name(&self) -> &str {
        match self {
            Self::Currency(r) => &r.name,
            Self::TaxRate(r) => &r.name,
            Self::Unit(r) => &r.name,
        }
    }
}

/// A currency the system knows.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct CurrencyRow {
    /// ISO 4217 code (`USD`).
    pub code: String,
    /// Its name (`US Dollar`).
    pub name: String,
    /// Decimal places of its minor unit (2 for USD, 0 for JPY).
    pub minor_units: i64,
    /// Who last changed the row (a user id); `None` for seeded rows.
    /// Defaults when absent.
    #[serde(default)]
    pub updated_by: Option<String>,
    /// When it last changed (RFC 3339, UTC). Defaults when absent.
    #[serde(default)]
    pub updated_at: String,
}

/// A unit of measure.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct UnitRow {
    /// Its code (`kg`, `pcs`).
    pub code: String,
    /// Its name (`Kilogram`).
    pub name: String,
    /// Who last changed the row; `None` for seeded rows. Defaults when
    /// absent.
    #[serde(default)]
    pub updated_by: Option<String>,
    /// When it last changed (RFC 3339, UTC). Defaults when absent.
    #[serde(default)]
    pub updated_at: String,
}

/// A tax rate.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct TaxRateRow {
    /// Its code (`standard`).
    pub code: String,
    /// Its name.
    pub name: String,
    /// Percent, a decimal string (`"8.25"`).
    pub rate: String,
    /// Who last changed the row; `None` for seeded rows. Defaults when
    /// absent.
    #[serde(default)]
    pub updated_by: Option<String>,
    /// When it last changed (RFC 3339, UTC). Defaults when absent.
    #[serde(default)]
    pub updated_at: String,
}

/// A setting, as `GET /api/config/{key}` answers it (inside
/// [`crate::Success`]) and as each item of [`SettingList`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Setting {
    /// Its key.
    pub key: String,
    /// Its value, as text (typed by `value_type`).
    pub value: String,
    /// Its scope (`system`, `app`, ...), the original API's `type`.
    /// Defaults when absent.
    #[serde(rename = "type", default)]
    pub scope: String,
    /// `string`, `int`, `decimal`, `bool`, `json` or `secret`. Defaults
    /// when absent.
    #[serde(default)]
    pub value_type: String,
    /// What it is for. Defaults when absent.
    #[serde(default)]
    pub description: String,
    /// Its version, from 1, increased by every change (the `ETag`).
    pub version: i64,
    /// Who last changed it (a user id); `None` for seeded settings.
    /// Defaults when absent.
    #[serde(default)]
    pub updated_by: Option<String>,
    /// When it last changed (RFC 3339, UTC). Defaults when absent.
    #[serde(default)]
    pub updated_at: String,
}

/// `GET /api/config` (inside [`crate::Success`]): every setting.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct SettingList {
    /// The settings, by key.
    #[serde(default)]
    pub configs: Vec<Setting>,
    /// How many there are. Defaults when absent.
    #[serde(default)]
    pub total: usize,
}

/// `GET /api/config/reference/{kind}` (inside [`crate::Success`]): the
/// rows of one kind, under the kind's own field name.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ReferenceList {
    pub kind: RefKind,
    /// How many rows there are. Defaults when absent.
    #[serde(default)]
    pub total: usize,
    /// The rows, when `kind` is `currencies`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub currencies: Option<Vec<ReferenceItem>>,
    /// The rows, when `kind` is `units`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub units: Option<Vec<ReferenceItem>>,
    /// The rows, when `kind` is `tax-rates`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tax_rates: Option<Vec<ReferenceItem>>,
}

impl ReferenceList {
    /// The list of `kind` holding `rows`.
    pub fn new(kind: RefKind, rows: Vec<ReferenceItem>) -> Self {
        let mut list = Self {
            kind,
            total: rows.len(),
            currencies: None,
            units: None,
            tax_rates: None,
        };
        match kind {
            RefKind::Currencies => list.currencies = Some(rows),
            RefKind::Units => list.units = Some(rows),
            RefKind::TaxRates => list.tax_rates = Some(rows),
            RefKind::Unknown => {}
        }
        list
    }

    /// The rows, whichever field holds them.
    pub fn rows(&self) -> &[ReferenceItem] {
        self.currencies
            .as_deref()
            .or(self.units.as_deref())
            .or(self.tax_rates.as_deref())
            .unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::{Success, golden::round_trip};

    #[test]
    fn golden_setting_changes() {
        let c: SettingChanged = round_trip(json!({"key": "tax_rate", "version": 3,
            "value_type": "decimal", "value": "8.5", "type": "app", "action": "update"}));
        assert_eq!((c.version, c.value.as_deref()), (Some(3), Some("8.5")));
        let gone: SettingChanged = round_trip(json!({"key": "tax_rate", "version": 4,
            "value_type": "decimal", "value": null, "type": "app", "action": "delete"}));
        assert_eq!(gone.value, None);
    }

    #[test]
    fn setting_changes_read_tolerantly() {
        let read = |v| serde_json::from_value::<SettingChanged>(v);
        let c = read(json!({"key": "tax_rate", "version": "3", "value": 6})).unwrap();
        assert_eq!((c.version, c.value.as_deref()), (Some(3), Some("6")));
        let c = read(json!({"key": "tax_rate", "version": 9})).unwrap();
        assert_eq!((c.version, c.value), (Some(9), None));
        assert_eq!(
            read(json!({"key": "k", "version": "x"})).unwrap().version,
            None
        );
        assert!(read(json!({"version": 1})).is_err());
        assert!(read(json!({"key": "k", "value": {"a": 1}})).is_err());
    }

    #[test]
    fn golden_reference_changes() {
        let unit: ReferenceChanged = round_trip(json!({"kind": "units", "code": "kg",
            "item": {"code": "kg", "name": "Kilogram", "updated_by": null,
                     "updated_at": "2026-01-01T00:00:00.000000Z"}}));
        assert!(matches!(unit.item, ReferenceItem::Unit(_)));
        assert_eq!((unit.item.code(), unit.item.name()), ("kg", "Kilogram"));
        let cur: ReferenceChanged = round_trip(json!({"kind": "currencies", "code": "EUR",
            "item": {"code": "EUR", "name": "Euro", "minor_units": 2, "updated_by": "u1",
                     "updated_at": "2026-01-01T00:00:00.000000Z"}}));
        assert!(matches!(cur.item, ReferenceItem::Currency(_)));
        let tax: ReferenceChanged = round_trip(json!({"kind": "tax-rates", "code": "standard",
            "item": {"code": "standard", "name": "Standard", "rate": "8.25", "updated_by": null,
                     "updated_at": "2026-01-01T00:00:00.000000Z"}}));
        assert!(matches!(tax.item, ReferenceItem::TaxRate(_)));
        let new_kind: ReferenceChanged = serde_json::from_value(
            json!({"kind": "colours", "code": "red", "item": {"code": "red", "name": "Red"}}),
        )
        .unwrap();
        assert_eq!(new_kind.kind, RefKind::Unknown);
    }

    #[test]
    fn golden_config_reads() {
        let one: Success<Setting> = round_trip(json!({"success": true, "key": "rate_limits",
            "value": "{}", "type": "system", "value_type": "json", "description": "Limits",
            "version": 2, "updated_by": "u1", "updated_at": "2026-01-01T00:00:00.000000Z"}));
        assert_eq!(one.body.version, 2);
        let list: Success<SettingList> = round_trip(json!({"success": true, "total": 1,
            "configs": [{"key": "app_name", "value": "Marimo ERP", "type": "system",
                         "value_type": "string", "description": "The application's name",
                         "version": 1, "updated_by": null,
                         "updated_at": "2026-01-01T00:00:00.000000Z"}]}));
        assert_eq!(list.body.configs[0].key, "app_name");
        let units: Success<ReferenceList> = round_trip(json!({"success": true, "kind": "units",
            "total": 1, "units": [{"code": "kg", "name": "Kilogram", "updated_by": null,
                                   "updated_at": "2026-01-01T00:00:00.000000Z"}]}));
        assert_eq!(units.body.rows()[0].code(), "kg");
        assert_eq!(
            serde_json::to_value(ReferenceList::new(RefKind::TaxRates, vec![])).unwrap(),
            json!({"kind": "tax-rates", "total": 0, "tax_rates": []})
        );
    }
}

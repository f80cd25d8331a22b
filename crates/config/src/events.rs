//! Events the config service publishes (payloads: the types of
//! `marimo_contracts::config`). Both are written to the outbox in the
//! transaction of the change. Its own consumer (the Consul KV mirror) is
//! in `consul_mirror`.
//!
//! | type | payload (v1) |
//! |---|---|
//! | `config.setting.changed` | `key, version, value_type, value` (null on delete), `type`, `action` |
//! | `config.reference.changed` | `kind` (`currencies`, `units`, `tax-rates`), `code`, `item` (the row as `GET /reference/{kind}` answers it) |

use marimo_contracts::config::{
    self as contract, CurrencyRow, ReferenceChanged, ReferenceItem, SettingChanged, TaxRateRow,
    UnitRow,
};
use marimo_platform::bus::Envelope;

use crate::{
    domain::RefKind,
    store::{Change, RefItem},
};

pub const SOURCE: &str = "config";
pub const SETTING_CHANGED: &str = contract::SETTING_CHANGED.name();
pub const REFERENCE_CHANGED: &str = contract::REFERENCE_CHANGED.name();

/// A setting was created, updated or deleted (`value` is null then).
/// `version` is a number, increasing per key, so consumers (the shop's
/// `tax_rate`, the gateway's cache) can ignore stale deliveries.
pub fn setting_changed(change: &Change, scope: &str, actor: Option<&str>) -> Envelope {
    let payload = SettingChanged {
        key: change.key.clone(),
        version: Some(change.version),
        value_type: change.value_type.clone(),
        value: change.new_value.clone(),
        scope: scope.to_owned(),
        action: change.action.clone(),
    };
    let env = Envelope::of(contract::SETTING_CHANGED, &payload);
    match actor {
        Some(a) => env.actor(a),
        None => env,
    }
}

/// A reference row was created or replaced; `item` carries the row so
/// that consumers (the factory's units) can keep their copy without
/// calling back.
pub fn reference_changed(
    kind: RefKind,
    code: &str,
    item: &RefItem,
    actor: Option<&str>,
) -> Envelope {
    let payload = ReferenceChanged {
        kind: contract_kind(kind),
        code: code.to_owned(),
        item: reference_item(item),
    };
    let env = Envelope::of(contract::REFERENCE_CHANGED, &payload);
    match actor {
        Some(a) => env.actor(a),
        None => env,
    }
}

pub fn contract_kind(kind: RefKind) -> contract::RefKind {
    match kind {
        RefKind::Currencies => contract::RefKind::Currencies,
        RefKind::Units => contract::RefKind::Units,
        RefKind::TaxRates => contract::RefKind::TaxRates,
    }
}

/// The row as other services see it (without what only the store uses).
pub fn reference_item(item: &RefItem) -> ReferenceItem {
    match item.clone() {
        RefItem::Currency {
            code,
            name,
            minor_units,
            updated_by,
            updated_at,
        } => ReferenceItem::Currency(CurrencyRow {
            code,
            name,
            minor_units,
            updated_by,
            updated_at,
        }),
        RefItem::Unit {
            code,
            name,
            updated_by,
            updated_at,
        } => ReferenceItem::Unit(UnitRow {
            code,
            name,
            updated_by,
            updated_at,
        }),
        RefItem::TaxRate {
            code,
            name,
            rate,
            updated_by,
            updated_at,
            ..
        } => ReferenceItem::TaxRate(TaxRateRow {
            code,
            name,
            rate,
            updated_by,
            updated_at,
        }),
    }
}

//! Events the config service publishes (it consumes none). Both are
//! written to the outbox in the transaction of the change.
//!
//! | type | payload (v1) |
//! |---|---|
//! | `config.setting.changed` | `key, version, value_type, value` (null on delete), `type`, `action` |
//! | `config.reference.changed` | `kind` (`currencies`, `units`, `tax-rates`), `code`, `item` (the row as `GET /reference/{kind}` answers it) |

use marimo_platform::bus::Envelope;
use serde_json::json;

use crate::{
    domain::RefKind,
    store::{Change, RefItem},
};

pub const SOURCE: &str = "config";
pub const SETTING_CHANGED: &str = "config.setting.changed";
pub const REFERENCE_CHANGED: &str = "config.reference.changed";

/// A setting was created, updated or deleted (`value` is null then).
/// `version` is a number, increasing per key, so consumers (the shop's
/// `tax_rate`, the gateway's cache) can ignore stale deliveries.
pub fn setting_changed(change: &Change, scope: &str, actor: Option<&str>) -> Envelope {
    let env = Envelope::new(
        SOURCE,
        SETTING_CHANGED,
        json!({
            "key": change.key,
            "version": change.version,
            "value_type": change.value_type,
            "value": change.new_value,
            "type": scope,
            "action": change.action,
        }),
    );
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
    let env = Envelope::new(
        SOURCE,
        REFERENCE_CHANGED,
        json!({"kind": kind.as_str(), "code": code, "item": item}),
    );
    match actor {
        Some(a) => env.actor(a),
        None => env,
    }
}

//! Response views: a setting's history as the original API named its
//! fields. Settings themselves answer as their contract type
//! (`marimo_contracts::config::Setting`, `type` being the scope), and
//! reference rows keep their one serialisation on `store::RefItem`, since
//! `config.reference.changed` carries the row exactly as
//! `GET /reference/{kind}` answers it.

use serde_json::{Value, json};

use crate::store::Change;

pub(crate) fn change(c: &Change) -> Value {
    json!({
        "key": c.key,
        "version": c.version,
        "action": c.action,
        "old_value": c.old_value,
        "new_value": c.new_value,
        "value_type": c.value_type,
        "changed_by": c.changed_by,
        "changed_at": c.changed_at,
    })
}

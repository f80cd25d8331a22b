//! Response views: settings and their history as the original API named
//! their fields (`type` is the setting's scope). Reference rows keep their
//! one serialisation on `store::RefItem`, since `config.reference.changed`
//! carries the row exactly as `GET /reference/{kind}` answers it.

use serde_json::{Value, json};

use crate::store::{Change, Setting};

pub(crate) fn setting(s: &Setting) -> Value {
    json!({
        "key": s.key,
        "value": s.value,
        "type": s.scope,
        "value_type": s.value_type,
        "description": s.description,
        "version": s.version,
        "updated_by": s.updated_by,
        "updated_at": s.updated_at,
    })
}

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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_setting_names_its_scope_type() {
        let s = Setting {
            key: "currency".into(),
            value: "USD".into(),
            scope: "global".into(),
            value_type: "string".into(),
            description: String::new(),
            version: 3,
            updated_by: None,
            updated_at: "2026-01-01T00:00:00.000000Z".into(),
        };
        let v = setting(&s);
        assert_eq!(v["type"], "global");
        assert_eq!(v["version"], 3);
        assert!(v["updated_by"].is_null());
        assert!(v.get("scope").is_none());
    }
}

//! Response views of the dashboard.

use serde_json::{Value, json};

use crate::domain::Module;

pub(crate) fn modules(list: &[Module]) -> Value {
    list.iter()
        .map(|m| json!({"key": m.key, "name": m.name, "path": m.path}))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{DASHBOARD, FACTORY};

    #[test]
    fn a_module_is_key_name_and_path() {
        assert_eq!(
            modules(&[DASHBOARD, FACTORY]),
            json!([
                {"key": "dashboard", "name": "Dashboard", "path": "/dashboard"},
                {"key": "factory", "name": "Factory", "path": "/factory"},
            ])
        );
    }
}

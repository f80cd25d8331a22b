//! Response views of the dashboard: the modules a role may open, as the
//! contract's `dashboard::Module`.

use marimo_contracts::dashboard;

use crate::domain::Module;

pub(crate) fn modules(list: &[Module]) -> Vec<dashboard::Module> {
    list.iter()
        .map(|m| dashboard::Module {
            key: m.key.to_owned(),
            name: m.name.to_owned(),
            path: m.path.to_owned(),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::domain::{DASHBOARD, FACTORY};

    #[test]
    fn a_module_is_key_name_and_path() {
        assert_eq!(
            serde_json::to_value(modules(&[DASHBOARD, FACTORY])).unwrap(),
            json!([
                {"key": "dashboard", "name": "Dashboard", "path": "/dashboard"},
                {"key": "factory", "name": "Factory", "path": "/factory"},
            ])
        );
    }
}

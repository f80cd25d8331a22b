//! Response views: an account as the API shows it (never its password
//! hash); times are RFC 3339 UTC text, as stored.

use serde_json::{Value, json};

use crate::domain::User;

pub(crate) fn user(u: &User) -> Value {
    json!({
        "id": u.id,
        "email": u.email,
        "name": u.name,
        "role": u.role,
        "active": u.active,
        "created_at": u.created_at,
        "updated_at": u.updated_at,
    })
}

#[cfg(test)]
mod tests {
    use marimo_platform::auth::Role;

    use super::*;

    #[test]
    fn an_account_shows_its_role_by_name_and_no_hash() {
        let v = user(&User {
            id: "u1".into(),
            email: "ann@example.com".into(),
            name: "Ann".into(),
            role: Role::ShopManager,
            active: true,
            created_at: "2026-01-01T00:00:00.000000Z".into(),
            updated_at: "2026-01-01T00:00:00.000000Z".into(),
        });
        assert_eq!(v["role"], "shop_manager");
        assert_eq!(v["active"], true);
        assert_eq!(v.as_object().map(|o| o.len()), Some(7));
    }
}

//! Which role may use which screen. These mirror the services' own rules
//! (which still decide: a page that slipped through here would get the
//! API's 403); the UI uses them to hide links and actions a role cannot
//! use, and to refuse the page itself with a 403 page.

use marimo_platform::auth::Role;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Area {
    /// The dashboard: every signed-in role (main shows each its figures).
    Dashboard,
    /// Cart, checkout, my orders, notifications: anyone signed in.
    Customer,
    /// Catalog management: products, restock.
    ShopManage,
    /// Every order; ship, deliver, cancel.
    OrdersManage,
    Accounting,
    Factory,
    Users,
    Config,
    Audit,
}

impl Area {
    pub fn roles(self) -> &'static [Role] {
        use Role::*;
        match self {
            Area::Dashboard | Area::Customer => &[Admin, Manager, Accountant, ShopManager, User],
            Area::ShopManage | Area::OrdersManage => &[Admin, ShopManager],
            Area::Accounting => &[Admin, Accountant],
            Area::Factory => &[Admin, Manager],
            Area::Users | Area::Config | Area::Audit => &[Admin],
        }
    }

    pub fn allows(self, role: Role) -> bool {
        self.roles().contains(&role)
    }
}

/// A link of the main navigation.
pub struct NavItem {
    pub key: &'static str,
    pub href: &'static str,
    /// `None`: shown to everyone, guests too.
    pub area: Option<Area>,
}

pub const NAV: [NavItem; 9] = [
    NavItem {
        key: "dashboard",
        href: "/",
        area: Some(Area::Dashboard),
    },
    NavItem {
        key: "shop",
        href: "/shop",
        area: None,
    },
    NavItem {
        key: "orders",
        href: "/orders",
        area: Some(Area::Customer),
    },
    NavItem {
        key: "accounting",
        href: "/accounting",
        area: Some(Area::Accounting),
    },
    NavItem {
        key: "factory",
        href: "/factory",
        area: Some(Area::Factory),
    },
    NavItem {
        key: "users",
        href: "/users",
        area: Some(Area::Users),
    },
    NavItem {
        key: "config",
        href: "/config",
        area: Some(Area::Config),
    },
    NavItem {
        key: "audit",
        href: "/audit",
        area: Some(Area::Audit),
    },
    NavItem {
        key: "notifications",
        href: "/notifications",
        area: Some(Area::Customer),
    },
];

/// The navigation `role` (or a guest) sees.
pub fn nav_for(role: Option<Role>) -> impl Iterator<Item = &'static NavItem> {
    NAV.iter().filter(move |n| match (n.area, role) {
        (None, _) => true,
        (Some(a), Some(r)) => a.allows(r),
        (Some(_), None) => false,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn navigation_per_role() {
        let keys = |r| nav_for(r).map(|n| n.key).collect::<Vec<_>>();
        assert_eq!(keys(None), ["shop"]);
        assert_eq!(
            keys(Some(Role::User)),
            ["dashboard", "shop", "orders", "notifications"]
        );
        assert!(keys(Some(Role::Accountant)).contains(&"accounting"));
        assert!(!keys(Some(Role::Accountant)).contains(&"factory"));
        assert!(keys(Some(Role::Manager)).contains(&"factory"));
        assert_eq!(keys(Some(Role::Admin)).len(), NAV.len());
    }
}

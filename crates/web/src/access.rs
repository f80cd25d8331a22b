//! Which role may use which screen: each area is one of the platform's
//! named role policies (`marimo_platform::auth::policy`), the same the
//! services guard their handlers with, so the UI cannot drift from them
//! (the services still decide: a page that slipped through here would get
//! the API's 403). The UI uses them to hide links and actions a role
//! cannot use, and to refuse the page itself with a 403 page. A page runs
//! on a session, not on a request's bearer token, so it asks the policy's
//! role set rather than the `Authorized` extractor.

use marimo_platform::auth::{
    Role,
    policy::{Admins, Bookkeepers, Policy, ProductionManagers, ShopStaff, SignedIn, Staff},
};

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
    /// The roles of the area's policy.
    pub fn roles(self) -> &'static [Role] {
        match self {
            Area::Dashboard | Area::Customer => SignedIn::ROLES,
            Area::ShopManage | Area::OrdersManage => ShopStaff::ROLES,
            Area::Accounting => Bookkeepers::ROLES,
            Area::Factory => ProductionManagers::ROLES,
            Area::Users | Area::Config | Area::Audit => Admins::ROLES,
        }
    }

    pub fn allows(self, role: Role) -> bool {
        self.roles().contains(&role)
    }
}

/// Whether `role` may read the services' summaries (the platform's
/// `Staff` policy): the dashboard asks for them only then.
pub fn reads_summaries(role: Role) -> bool {
    Staff::admits(role)
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

    #[test]
    fn areas_and_summaries_follow_the_policies() {
        let allowed = |a: Area| {
            Role::ALL
                .into_iter()
                .filter(|r| a.allows(*r))
                .collect::<Vec<_>>()
        };
        assert_eq!(allowed(Area::Config), [Role::Admin]);
        assert_eq!(allowed(Area::Factory), [Role::Admin, Role::Manager]);
        assert_eq!(allowed(Area::Accounting), [Role::Admin, Role::Accountant]);
        assert_eq!(
            allowed(Area::OrdersManage),
            [Role::Admin, Role::ShopManager]
        );
        assert_eq!(allowed(Area::Customer).len(), Role::ALL.len());
        assert!(!reads_summaries(Role::User));
        let readers = Role::ALL
            .into_iter()
            .filter(|r| reads_summaries(*r))
            .count();
        assert_eq!(readers, Role::ALL.len() - 1, "every staff role");
    }
}

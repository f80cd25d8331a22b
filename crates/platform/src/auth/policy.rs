//! Named role policies and the one extractor that enforces them.
//!
//! A handler states who may call it in its signature:
//!
//! ```ignore
//! async fn post_entry(Authorized(caller, _): Authorized<Bookkeepers>, ...) { ... }
//! ```
//!
//! The check runs before the body is read, so a forbidden caller learns
//! nothing from validation, and a missing or bad token is a 401 first.
//! The role sets live here once; a service that needs another set names a
//! new policy here rather than listing roles in a handler.

use std::marker::PhantomData;

use axum::{extract::FromRequestParts, http::request::Parts};

use super::{Caller, Role};
use crate::ApiError;

/// A named set of roles allowed to do something.
pub trait Policy: Send + Sync + 'static {
    /// The roles the policy admits.
    const ROLES: &'static [Role];
    /// What the caller was refused, in the 403 message.
    const DENIED: &'static str = "your role does not allow this action";

    /// Whether only callers of the default tenant, the installation's
    /// operators, are admitted (docs/TENANCY.md): for what is shared by
    /// every tenant of the installation.
    const INSTALLATION: bool = false;

    /// True when `role` is admitted.
    fn admits(role: Role) -> bool {
        Self::ROLES.contains(&role)
    }

    /// True when `caller` is admitted: the role, and for an installation
    /// policy the tenant.
    fn admits_caller(caller: &Caller) -> bool {
        Self::admits(caller.role) && (!Self::INSTALLATION || caller.tenant.is_default())
    }
}

macro_rules! policies {
    ($($(#[$doc:meta])* $name:ident = [$($role:ident),+ $(,)?];)+) => {
        $(
            $(#[$doc])*
            #[derive(Debug, Clone, Copy)]
            pub struct $name;
            impl Policy for $name {
                const ROLES: &'static [Role] = &[$(Role::$role),+];
            }
        )+
    };
}

policies! {
    /// Admins only: users, settings, period locks, webhooks.
    Admins = [Admin];
    /// Who keeps the books: accountants and admins.
    Bookkeepers = [Accountant, Admin];
    /// Who runs production and changes stock: managers and admins.
    ProductionManagers = [Manager, Admin];
    /// Who reads the inventory valuation (the stock side of the books)
    /// and its reconciliation with the ledger: admins, managers and
    /// accountants.
    StockValuers = [Admin, Manager, Accountant];
    /// Who may list user accounts: managers and admins.
    AccountReaders = [Manager, Admin];
    /// Who runs the shop: shop managers and admins.
    ShopStaff = [ShopManager, Admin];
    /// Every staff role: reads summaries, the dashboard, items and stock.
    Staff = [Admin, Manager, Accountant, ShopManager];
    /// Anyone signed in, customers included.
    SignedIn = [Admin, Manager, Accountant, ShopManager, User];
}

/// Admins of the default tenant: the installation's operators. What every
/// tenant shares (installation settings, the dead-letter queues of the
/// bus) is theirs to change; an admin of any other tenant is refused.
#[derive(Debug, Clone, Copy)]
pub struct Operators;

impl Policy for Operators {
    const ROLES: &'static [Role] = &[Role::Admin];
    const DENIED: &'static str =
        "only the installation's administrators (of the default tenant) may do this";
    const INSTALLATION: bool = true;
}

/// The signed-in caller, admitted by policy `P` (401 without a valid
/// token, 403 when the role is not in `P`).
#[derive(Debug, Clone)]
pub struct Authorized<P: Policy>(pub Caller, pub PhantomData<P>);

impl<P: Policy> Authorized<P> {
    /// The caller.
    pub fn caller(&self) -> &Caller {
        &self.0
    }

    /// The caller, by value.
    pub fn into_caller(self) -> Caller {
        self.0
    }
}

impl<P: Policy> std::ops::Deref for Authorized<P> {
    type Target = Caller;
    fn deref(&self) -> &Caller {
        &self.0
    }
}

impl<P: Policy, S: Send + Sync> FromRequestParts<S> for Authorized<P> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        let caller = Caller::from_request_parts(parts, state).await?;
        if P::admits_caller(&caller) {
            Ok(Self(caller, PhantomData))
        } else {
            Err(ApiError::forbidden(P::DENIED))
        }
    }
}

impl Caller {
    /// True when policy `P` admits this caller: for answers that depend on
    /// who asks (a customer sees their own orders, staff see everyone's).
    pub fn may<P: Policy>(&self) -> bool {
        P::admits_caller(self)
    }

    /// 403 unless policy `P` admits this caller.
    pub fn require_policy<P: Policy>(&self) -> Result<(), ApiError> {
        if self.may::<P>() {
            Ok(())
        } else {
            Err(ApiError::forbidden(P::DENIED))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn policies_admit_exactly_their_roles() {
        let admitted =
            |f: fn(Role) -> bool| Role::ALL.into_iter().filter(|r| f(*r)).collect::<Vec<_>>();
        assert_eq!(admitted(Admins::admits), [Role::Admin]);
        assert_eq!(
            admitted(Bookkeepers::admits),
            [Role::Admin, Role::Accountant]
        );
        assert_eq!(
            admitted(ProductionManagers::admits),
            [Role::Admin, Role::Manager]
        );
        assert_eq!(
            admitted(ShopStaff::admits),
            [Role::Admin, Role::ShopManager]
        );
        assert_eq!(
            admitted(StockValuers::admits),
            [Role::Admin, Role::Manager, Role::Accountant]
        );
        assert!(!Staff::admits(Role::User));
        assert_eq!(admitted(Staff::admits).len(), 4);
        assert_eq!(admitted(SignedIn::admits).len(), Role::ALL.len());
    }

    #[test]
    fn caller_checks_a_policy() {
        let c = Caller {
            user_id: "u".into(),
            email: "u@example.com".into(),
            role: Role::Accountant,
            tenant: Default::default(),
        };
        assert!(c.may::<Bookkeepers>());
        assert!(c.require_policy::<Bookkeepers>().is_ok());
        let err = c.require_policy::<Admins>().unwrap_err();
        assert_eq!(err.status, http::StatusCode::FORBIDDEN);
    }

    #[test]
    fn operators_are_the_default_tenants_admins() {
        let admin = |tenant: &str| Caller {
            user_id: "u".into(),
            email: "u@example.com".into(),
            role: Role::Admin,
            tenant: crate::tenant::TenantId::parse(tenant).unwrap(),
        };
        assert!(admin("default").may::<Operators>());
        assert!(!admin("acme").may::<Operators>());
        assert!(admin("acme").may::<Admins>());
        let manager = Caller {
            role: Role::Manager,
            ..admin("default")
        };
        assert!(!manager.may::<Operators>());
    }
}

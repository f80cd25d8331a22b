//! The events the worker understands, as their contract types
//! (`marimo_contracts`, docs/EVENTS.md).
//!
//! Payloads are read tolerantly, by the contracts' rules: unknown fields
//! are ignored, fields other than the one naming the subject default when
//! absent, and amounts or quantities may arrive as decimal strings (the
//! catalog's rule) or as JSON numbers. A payload that lacks what the worker
//! needs is a [`HandlerError::Permanent`]: retrying cannot fix it.

use marimo_contracts::{
    Topic,
    accounting::{self, EntryPosted, EntryReversed},
    config::{self, SettingChanged},
    factory::{self, StockLow, WorkOrder},
    shop::{self, Order},
    users::{self, LoginFailed, MemberAdded, PasswordChanged, Registered, RoleChanged, UserRef},
};
use marimo_platform::bus::{Envelope, HandlerError};

/// What happened to an order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OrderStep {
    Placed,
    Paid,
    Cancelled,
    Shipped,
    Delivered,
}

impl OrderStep {
    pub fn verb(self) -> &'static str {
        match self {
            Self::Placed => "placed",
            Self::Paid => "paid",
            Self::Cancelled => "cancelled",
            Self::Shipped => "shipped",
            Self::Delivered => "delivered",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WorkOrderStep {
    Released,
    Started,
    Completed,
    Cancelled,
}

impl WorkOrderStep {
    pub fn verb(self) -> &'static str {
        match self {
            Self::Released => "released",
            Self::Started => "started",
            Self::Completed => "completed",
            Self::Cancelled => "cancelled",
        }
    }
}

/// A catalog event with its typed payload.
#[derive(Debug, Clone)]
pub enum Event {
    UserRegistered(Registered),
    UserLoggedIn(UserRef),
    UserLoginFailed(LoginFailed),
    UserRoleChanged(RoleChanged),
    UserDeactivated(UserRef),
    UserReactivated(UserRef),
    UserPasswordChanged(PasswordChanged),
    /// An existing account joined a tenant.
    MemberAdded(MemberAdded),
    SettingChanged(SettingChanged),
    EntryPosted(EntryPosted),
    EntryReversed(EntryReversed),
    Order(OrderStep, Order),
    /// Every step of a work order, read as its common part (a completion's
    /// costs are accounting's business, not the worker's).
    WorkOrder(WorkOrderStep, WorkOrder),
    StockLow(StockLow),
    /// A type (or version) outside the catalog the worker knows: audit and
    /// webhooks still take it, the other consumers ignore it.
    Other,
}

/// The payload versions this worker understands.
pub const SUPPORTED_VERSION: u32 = 1;

const ORDER_STEPS: [(Topic<Order>, OrderStep); 5] = [
    (shop::ORDER_PLACED, OrderStep::Placed),
    (shop::ORDER_PAID, OrderStep::Paid),
    (shop::ORDER_CANCELLED, OrderStep::Cancelled),
    (shop::ORDER_SHIPPED, OrderStep::Shipped),
    (shop::ORDER_DELIVERED, OrderStep::Delivered),
];

const WORK_ORDER_STEPS: [(Topic<WorkOrder>, WorkOrderStep); 3] = [
    (factory::WORK_ORDER_RELEASED, WorkOrderStep::Released),
    (factory::WORK_ORDER_STARTED, WorkOrderStep::Started),
    (factory::WORK_ORDER_CANCELLED, WorkOrderStep::Cancelled),
];

impl Event {
    /// Reads the typed payload of `env`. A known type whose payload does not
    /// match is permanent; an unknown type or version is [`Event::Other`].
    pub fn parse(env: &Envelope) -> Result<Event, HandlerError> {
        if env.version != SUPPORTED_VERSION {
            return Ok(Event::Other);
        }
        if let Some((topic, step)) = ORDER_STEPS.iter().find(|(t, _)| env.is(*t)) {
            return Ok(Event::Order(*step, env.decode(*topic)?));
        }
        if let Some((topic, step)) = WORK_ORDER_STEPS.iter().find(|(t, _)| env.is(*t)) {
            return Ok(Event::WorkOrder(*step, env.decode(*topic)?));
        }
        Ok(if env.is(users::REGISTERED) {
            Event::UserRegistered(env.decode(users::REGISTERED)?)
        } else if env.is(users::LOGGED_IN) {
            Event::UserLoggedIn(env.decode(users::LOGGED_IN)?)
        } else if env.is(users::LOGIN_FAILED) {
            Event::UserLoginFailed(env.decode(users::LOGIN_FAILED)?)
        } else if env.is(users::ROLE_CHANGED) {
            Event::UserRoleChanged(env.decode(users::ROLE_CHANGED)?)
        } else if env.is(users::DEACTIVATED) {
            Event::UserDeactivated(env.decode(users::DEACTIVATED)?)
        } else if env.is(users::REACTIVATED) {
            Event::UserReactivated(env.decode(users::REACTIVATED)?)
        } else if env.is(users::PASSWORD_CHANGED) {
            Event::UserPasswordChanged(env.decode(users::PASSWORD_CHANGED)?)
        } else if env.is(users::MEMBER_ADDED) {
            Event::MemberAdded(env.decode(users::MEMBER_ADDED)?)
        } else if env.is(config::SETTING_CHANGED) {
            Event::SettingChanged(env.decode(config::SETTING_CHANGED)?)
        } else if env.is(accounting::ENTRY_POSTED) {
            Event::EntryPosted(env.decode(accounting::ENTRY_POSTED)?)
        } else if env.is(accounting::ENTRY_REVERSED) {
            Event::EntryReversed(env.decode(accounting::ENTRY_REVERSED)?)
        } else if env.is(factory::WORK_ORDER_COMPLETED) {
            // The common part of a work-order event (see `factory::WorkOrder`).
            Event::WorkOrder(WorkOrderStep::Completed, env.payload_as()?)
        } else if env.is(factory::STOCK_LOW) {
            Event::StockLow(env.decode(factory::STOCK_LOW)?)
        } else {
            Event::Other
        })
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn env(t: &str, payload: serde_json::Value) -> Envelope {
        Envelope::new("test", t, payload)
    }

    #[test]
    fn amounts_may_be_strings_or_numbers_and_unknown_fields_are_ignored() {
        let e = Event::parse(&env(
            "shop.order.paid",
            json!({"order_id": "o1", "user_id": "u1", "total": "12.50", "currency": "EUR",
                   "items": [{"name": "Mug", "quantity": 2, "unit_price": "6.25", "line_total": "12.50", "sku": "M"}],
                   "was_paid": true, "extra": {"x": 1}}),
        ))
        .unwrap();
        let Event::Order(OrderStep::Paid, o) = e else {
            panic!("not an order: {e:?}")
        };
        assert_eq!(o.total.as_str(), "12.50");
        assert_eq!(o.items[0].quantity.as_str(), "2");
        assert!(o.email.is_empty());
    }

    #[test]
    fn a_known_type_with_a_broken_payload_is_permanent() {
        let err = Event::parse(&env("users.user.registered", json!({"email": 5}))).unwrap_err();
        assert!(matches!(err, HandlerError::Permanent(_)), "{err:?}");
        let err = Event::parse(&env("shop.order.placed", json!({"total": {}}))).unwrap_err();
        assert!(matches!(err, HandlerError::Permanent(_)));
    }

    #[test]
    fn unknown_types_and_versions_are_other() {
        assert!(matches!(
            Event::parse(&env("shop.cart.touched", json!(null))).unwrap(),
            Event::Other
        ));
        let mut v2 = env("users.user.registered", json!({"whatever": true}));
        v2.version = 2;
        assert!(matches!(Event::parse(&v2).unwrap(), Event::Other));
    }
}

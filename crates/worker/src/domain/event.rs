//! The events the worker understands, as typed payloads (docs/EVENTS.md).
//!
//! Payloads are read tolerantly: unknown fields are ignored, optional
//! fields default, and amounts or quantities may arrive as decimal strings
//! (the catalog's rule) or as JSON numbers. A payload that lacks what the
//! worker needs is a [`HandlerError::Permanent`]: retrying cannot fix it.

use marimo_platform::bus::{Envelope, HandlerError};
use serde::{Deserialize, Deserializer};

/// A value shown to people as text: a JSON string, number or bool as
/// written by the publisher. Never used for arithmetic (money stays exact
/// because it is never parsed into a float here).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Text(pub String);

impl<'de> Deserialize<'de> for Text {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        match serde_json::Value::deserialize(d)? {
            serde_json::Value::String(s) => Ok(Text(s)),
            serde_json::Value::Number(n) => Ok(Text(n.to_string())),
            serde_json::Value::Bool(b) => Ok(Text(b.to_string())),
            serde_json::Value::Null => Ok(Text(String::new())),
            other => Err(serde::de::Error::custom(format!(
                "expected a string or number, got {other}"
            ))),
        }
    }
}

impl std::fmt::Display for Text {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

#[derive(Debug, Clone, Deserialize)]
pub struct UserRegistered {
    pub user_id: String,
    pub email: String,
    #[serde(default)]
    pub name: String,
}

/// `users.user.logged_in`, `.deactivated`, `.reactivated`.
#[derive(Debug, Clone, Deserialize)]
pub struct UserRef {
    pub user_id: String,
    #[serde(default)]
    pub email: String,
}

#[derive(Debug, Clone, Deserialize)]
pub struct LoginFailed {
    #[serde(default)]
    pub email: String,
    #[serde(default)]
    pub reason: String,
}

#[derive(Debug, Clone, Deserialize)]
pub struct RoleChanged {
    pub user_id: String,
    #[serde(default)]
    pub email: String,
    #[serde(default)]
    pub old_role: String,
    pub new_role: String,
}

#[derive(Debug, Clone, Deserialize)]
pub struct PasswordChanged {
    pub user_id: String,
    pub email: String,
    #[serde(default)]
    pub name: String,
}

#[derive(Debug, Clone, Deserialize)]
pub struct SettingChanged {
    pub key: String,
    #[serde(default)]
    pub version: Option<Text>,
    #[serde(default)]
    pub value_type: Option<String>,
}

/// `accounting.entry.posted`, `.reversed`.
#[derive(Debug, Clone, Deserialize)]
pub struct JournalEntry {
    pub entry_id: String,
    #[serde(default)]
    pub number: Option<Text>,
    #[serde(default)]
    pub reference: Option<String>,
    #[serde(default)]
    pub total: Option<Text>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct OrderItem {
    #[serde(default)]
    pub name: String,
    #[serde(default)]
    pub quantity: Text,
    #[serde(default)]
    pub unit_price: Text,
    #[serde(default)]
    pub line_total: Text,
}

/// `shop.order.placed|paid|cancelled|shipped|delivered`.
#[derive(Debug, Clone, Deserialize)]
pub struct Order {
    pub order_id: String,
    #[serde(default)]
    pub user_id: Option<String>,
    #[serde(default)]
    pub email: Option<String>,
    #[serde(default)]
    pub total: Text,
    #[serde(default)]
    pub currency: String,
    #[serde(default)]
    pub items: Vec<OrderItem>,
    #[serde(default)]
    pub status: Option<String>,
}

/// `factory.work_order.released|started|completed|cancelled`.
#[derive(Debug, Clone, Deserialize)]
pub struct WorkOrder {
    pub work_order_id: String,
    #[serde(default)]
    pub sku: String,
    #[serde(default)]
    pub qty: Text,
}

#[derive(Debug, Clone, Deserialize)]
pub struct StockLow {
    pub sku: String,
    #[serde(default)]
    pub warehouse: Text,
    #[serde(default)]
    pub on_hand: Text,
    #[serde(default)]
    pub reorder_point: Text,
}

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
    UserRegistered(UserRegistered),
    UserLoggedIn(UserRef),
    UserLoginFailed(LoginFailed),
    UserRoleChanged(RoleChanged),
    UserDeactivated(UserRef),
    UserReactivated(UserRef),
    UserPasswordChanged(PasswordChanged),
    SettingChanged(SettingChanged),
    EntryPosted(JournalEntry),
    EntryReversed(JournalEntry),
    Order(OrderStep, Order),
    WorkOrder(WorkOrderStep, WorkOrder),
    StockLow(StockLow),
    /// A type (or version) outside the catalog the worker knows: audit and
    /// webhooks still take it, the other consumers ignore it.
    Other,
}

/// The payload versions this worker understands.
pub const SUPPORTED_VERSION: u32 = 1;

impl Event {
    /// Reads the typed payload of `env`. A known type whose payload does not
    /// match is permanent; an unknown type or version is [`Event::Other`].
    pub fn parse(env: &Envelope) -> Result<Event, HandlerError> {
        if env.version != SUPPORTED_VERSION {
            return Ok(Event::Other);
        }
        Ok(match env.event_type.as_str() {
            "users.user.registered" => Event::UserRegistered(env.payload_as()?),
            "users.user.logged_in" => Event::UserLoggedIn(env.payload_as()?),
            "users.user.login_failed" => Event::UserLoginFailed(env.payload_as()?),
            "users.user.role_changed" => Event::UserRoleChanged(env.payload_as()?),
            "users.user.deactivated" => Event::UserDeactivated(env.payload_as()?),
            "users.user.reactivated" => Event::UserReactivated(env.payload_as()?),
            "users.user.password_changed" => Event::UserPasswordChanged(env.payload_as()?),
            "config.setting.changed" => Event::SettingChanged(env.payload_as()?),
            "accounting.entry.posted" => Event::EntryPosted(env.payload_as()?),
            "accounting.entry.reversed" => Event::EntryReversed(env.payload_as()?),
            "shop.order.placed" => Event::Order(OrderStep::Placed, env.payload_as()?),
            "shop.order.paid" => Event::Order(OrderStep::Paid, env.payload_as()?),
            "shop.order.cancelled" => Event::Order(OrderStep::Cancelled, env.payload_as()?),
            "shop.order.shipped" => Event::Order(OrderStep::Shipped, env.payload_as()?),
            "shop.order.delivered" => Event::Order(OrderStep::Delivered, env.payload_as()?),
            "factory.work_order.released" => {
                Event::WorkOrder(WorkOrderStep::Released, env.payload_as()?)
            }
            "factory.work_order.started" => {
                Event::WorkOrder(WorkOrderStep::Started, env.payload_as()?)
            }
            "factory.work_order.completed" => {
                Event::WorkOrder(WorkOrderStep::Completed, env.payload_as()?)
            }
            "factory.work_order.cancelled" => {
                Event::WorkOrder(WorkOrderStep::Cancelled, env.payload_as()?)
            }
            "factory.stock.low" => Event::StockLow(env.payload_as()?),
            _ => Event::Other,
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
        assert_eq!(o.total.0, "12.50");
        assert_eq!(o.items[0].quantity.0, "2");
        assert_eq!(o.email, None);
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

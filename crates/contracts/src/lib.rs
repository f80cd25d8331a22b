//! The contracts between Marimo ERP services: what travels between them,
//! as plain typed data.
//!
//! - Event payloads, one module per publishing service ([`users`],
//!   [`config`], [`accounting`], [`factory`], [`shop`]), each bound to its
//!   event type(s) and schema version by a [`Topic`]. The envelope around
//!   them is `marimo_platform::bus::Envelope` (`Envelope::of(topic,
//!   &payload)` to publish, `envelope.decode(topic)` to read).
//! - The cross-service answers: each service's `/summary` (read by the
//!   main service and the web UI), main's dashboard and statistics
//!   ([`dashboard`]), and the settings and reference rows other services
//!   read from the config service ([`config`]).
//! - The wire newtypes they are made of: [`ids`] and [`values`] (exact
//!   decimal strings for money and quantities, never floats).
//!
//! Publishers build these types; consumers parse into them. No service
//! writes another's payload with `json!`. Every type is plain data
//! (serde only), so that the OpenAPI, GraphQL and gRPC faces can be
//! derived from it.
//!
//! # Reading and versioning
//!
//! Publishers always write every field. Readers are tolerant: unknown
//! fields are ignored, and a field documented *defaults when absent* reads
//! as its empty value (empty text or id, zero, empty list, `None`) when a
//! payload lacks it; the other fields are required, and a payload without
//! them is malformed (a consumer dead-letters it).
//!
//! A topic's version changes only for a breaking change:
//!
//! - **Adding** a field is allowed within a version: old readers ignore
//!   it; the field defaults when absent, so new readers still read
//!   payloads written before it existed.
//! - **Removing, renaming or retyping** a field (including changing a
//!   decimal string into a number or the unit of an amount) is a new
//!   version: a new payload type on a [`Topic`] with the same name and
//!   `version + 1`, published side by side with the old one until every
//!   consumer reads the new one.

use std::{fmt, marker::PhantomData};

use serde::{Deserialize, Serialize};

pub mod accounting;
pub mod config;
pub mod dashboard;
pub mod factory;
pub mod ids;
pub mod shop;
pub mod users;
pub mod values;

/// An event type and the payload schema (`P`, at `version`) it carries.
///
/// `name` is `<service>.<entity>.<event>`; the service is the publisher.
/// The payload type is part of the topic's type, so a payload cannot be
/// published under (or read from) a topic it does not belong to.
pub struct Topic<P> {
    name: &'static str,
    version: u32,
    payload: PhantomData<fn() -> P>,
}

impl<P> Topic<P> {
    pub const fn new(name: &'static str, version: u32) -> Self {
        Self {
            name,
            version,
            payload: PhantomData,
        }
    }

    /// `<service>.<entity>.<event>`.
    pub const fn name(&self) -> &'static str {
        self.name
    }

    /// The payload's schema version.
    pub const fn version(&self) -> u32 {
        self.version
    }

    /// The publishing service: the first segment of the name.
    pub fn service(&self) -> &'static str {
        self.name.split('.').next().unwrap_or(self.name)
    }
}

// By hand: derives would require `P: Clone` etc., and the payload type is
// only a marker.
impl<P> Clone for Topic<P> {
    fn clone(&self) -> Self {
        *self
    }
}

impl<P> Copy for Topic<P> {}

impl<P> PartialEq for Topic<P> {
    fn eq(&self, other: &Self) -> bool {
        (self.name, self.version) == (other.name, other.version)
    }
}

impl<P> Eq for Topic<P> {}

impl<P> fmt::Debug for Topic<P> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} v{}", self.name, self.version)
    }
}

/// Every topic of the catalog as `(name, version)`, for docs and checks.
pub const CATALOG: &[(&str, u32)] = &[
    (users::REGISTERED.name(), users::REGISTERED.version()),
    (users::LOGGED_IN.name(), users::LOGGED_IN.version()),
    (users::LOGIN_FAILED.name(), users::LOGIN_FAILED.version()),
    (users::ROLE_CHANGED.name(), users::ROLE_CHANGED.version()),
    (users::DEACTIVATED.name(), users::DEACTIVATED.version()),
    (users::REACTIVATED.name(), users::REACTIVATED.version()),
    (
        users::PASSWORD_CHANGED.name(),
        users::PASSWORD_CHANGED.version(),
    ),
    (
        users::SESSIONS_REVOKED.name(),
        users::SESSIONS_REVOKED.version(),
    ),
    (
        users::TENANT_CREATED.name(),
        users::TENANT_CREATED.version(),
    ),
    (
        users::TENANT_UPDATED.name(),
        users::TENANT_UPDATED.version(),
    ),
    (users::MEMBER_ADDED.name(), users::MEMBER_ADDED.version()),
    (
        config::SETTING_CHANGED.name(),
        config::SETTING_CHANGED.version(),
    ),
    (
        config::REFERENCE_CHANGED.name(),
        config::REFERENCE_CHANGED.version(),
    ),
    (
        accounting::ENTRY_POSTED.name(),
        accounting::ENTRY_POSTED.version(),
    ),
    (
        accounting::ENTRY_REVERSED.name(),
        accounting::ENTRY_REVERSED.version(),
    ),
    (shop::ORDER_PLACED.name(), shop::ORDER_PLACED.version()),
    (shop::ORDER_PAID.name(), shop::ORDER_PAID.version()),
    (
        shop::ORDER_CANCELLED.name(),
        shop::ORDER_CANCELLED.version(),
    ),
    (shop::ORDER_SHIPPED.name(), shop::ORDER_SHIPPED.version()),
    (
        shop::ORDER_DELIVERED.name(),
        shop::ORDER_DELIVERED.version(),
    ),
    (
        shop::PRODUCT_RESTOCKED.name(),
        shop::PRODUCT_RESTOCKED.version(),
    ),
    (
        factory::STOCK_RECEIVED.name(),
        factory::STOCK_RECEIVED.version(),
    ),
    (factory::STOCK_LOW.name(), factory::STOCK_LOW.version()),
    (
        factory::STOCK_CHANGED.name(),
        factory::STOCK_CHANGED.version(),
    ),
    (
        factory::WORK_ORDER_RELEASED.name(),
        factory::WORK_ORDER_RELEASED.version(),
    ),
    (
        factory::WORK_ORDER_STARTED.name(),
        factory::WORK_ORDER_STARTED.version(),
    ),
    (
        factory::WORK_ORDER_CANCELLED.name(),
        factory::WORK_ORDER_CANCELLED.version(),
    ),
    (
        factory::WORK_ORDER_COMPLETED.name(),
        factory::WORK_ORDER_COMPLETED.version(),
    ),
    (factory::STOCK_MOVED.name(), factory::STOCK_MOVED.version()),
];

/// A success answer in the original API's shape: `"success": true` beside
/// the answer's own fields (`{"success": true, "total_users": 3, ...}`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Success<T> {
    /// Always `true` (failures have the one error shape instead). Defaults
    /// when absent.
    #[serde(default = "yes")]
    pub success: bool,
    /// The answer's fields, at the top level of the object.
    #[serde(flatten)]
    pub body: T,
}

fn yes() -> bool {
    true
}

impl<T> Success<T> {
    pub fn new(body: T) -> Self {
        Self {
            success: true,
            body,
        }
    }
}

#[cfg(test)]
pub(crate) mod golden {
    //! Helpers for the golden-JSON tests of every module.

    use serde::{Serialize, de::DeserializeOwned};
    use serde_json::Value;

    /// `json` (as a publisher emits it today) reads into `T` and writes
    /// back as the same JSON; returns the typed value.
    pub fn round_trip<T: Serialize + DeserializeOwned>(json: Value) -> T {
        let typed: T = serde_json::from_value(json.clone())
            .unwrap_or_else(|e| panic!("does not read: {e}\n{json:#}"));
        let back = serde_json::to_value(&typed).expect("writes");
        assert_eq!(back, json, "round trip changed the JSON");
        typed
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_topic_is_in_the_catalog_document() {
        let doc = include_str!("../../../docs/EVENTS.md");
        for (name, version) in CATALOG {
            assert_eq!(name.split('.').count(), 3, "{name}");
            assert_eq!(*version, 1, "{name}: the catalog documents v1");
            let (service, rest) = name.split_once('.').unwrap();
            let (entity, event) = rest.split_once('.').unwrap();
            // `shop.order.placed`, or the short form `.paid` in the row of
            // `shop.order.placed`.
            assert!(
                doc.contains(&format!("`{name}`"))
                    || (doc.contains(&format!("`{service}.{entity}."))
                        && doc.contains(&format!("`.{event}`"))),
                "{name} is not in docs/EVENTS.md"
            );
        }
    }

    #[test]
    fn topics_know_their_service() {
        assert_eq!(shop::ORDER_PAID.service(), "shop");
        assert_eq!(format!("{:?}", factory::STOCK_LOW), "factory.stock.low v1");
    }

    #[test]
    fn success_is_flat() {
        let s = Success::new(users::Summary {
            total_users: 3,
            active_users: 2,
            by_role: [("admin".to_owned(), 1)].into(),
        });
        let v = serde_json::to_value(&s).unwrap();
        assert_eq!(
            v,
            serde_json::json!({"success": true, "total_users": 3, "active_users": 2,
                               "by_role": {"admin": 1}})
        );
        let back: Success<users::Summary> = serde_json::from_value(v).unwrap();
        assert_eq!(back, s);
    }
}

//! The event envelope every message carries.

use marimo_contracts::Topic;
use serde::{Deserialize, Serialize, de::DeserializeOwned};
use serde_json::Value;

use crate::tenant::TenantId;

/// `{id, type, version, source, occurred_at, trace context, payload}`.
///
/// `type` is `<service>.<entity>.<event>` (e.g. `shop.order.paid`) and
/// `version` the payload's schema version: a breaking payload change is a
/// new version, and consumers say which versions they understand.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Envelope {
    /// UUIDv7: unique, and ordered by creation.
    pub id: String,
    #[serde(rename = "type")]
    pub event_type: String,
    pub version: u32,
    /// The publishing service.
    pub source: String,
    pub occurred_at: String,
    /// W3C trace context of the request that caused the event.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub traceparent: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub request_id: Option<String>,
    /// Who caused it (user id), for audit.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub actor: Option<String>,
    /// The client's address, for audit.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_ip: Option<String>,
    /// The tenant the event happened in: consumers act in it
    /// ([`crate::db::Db::tenant`]). Set by [`super::Outbox::publish`] from
    /// the tenant of the transaction; absent in events from before
    /// tenancy, which belong to the default tenant.
    #[serde(default)]
    pub tenant: TenantId,
    pub payload: Value,
}

impl Envelope {
    /// A version-1 event from `source`, stamped with the current request id.
    pub fn new(source: &str, event_type: &str, payload: Value) -> Self {
        debug_assert_eq!(
            event_type.split('.').count(),
            3,
            "type is <service>.<entity>.<event>"
        );
        Self {
            id: crate::ids::new_id(),
            event_type: event_type.to_owned(),
            version: 1,
            source: source.to_owned(),
            occurred_at: crate::clock::now_text(),
            traceparent: None,
            request_id: crate::http::request_id::current(),
            actor: None,
            client_ip: None,
            tenant: TenantId::default_tenant(),
            payload,
        }
    }

    /// An event of `topic` carrying `payload` (the contract types of
    /// `marimo_contracts`), from the topic's service, at its version.
    pub fn of<P: Serialize>(topic: Topic<P>, payload: &P) -> Self {
        // Contract payloads are plain structs of strings, numbers and
        // lists: serialising them to a JSON value cannot fail.
        let payload = serde_json::to_value(payload).expect("a contract payload always serialises");
        let mut env = Self::new(topic.service(), topic.name(), payload);
        env.version = topic.version();
        env
    }

    /// Whether this is an event of `topic` at the topic's version.
    pub fn is<P>(&self, topic: Topic<P>) -> bool {
        self.event_type == topic.name() && self.version == topic.version()
    }

    /// The payload as `topic`'s type. Another type or version, or a
    /// payload that does not match, is permanent.
    pub fn decode<P: DeserializeOwned>(&self, topic: Topic<P>) -> Result<P, super::HandlerError> {
        if !self.is(topic) {
            return Err(super::HandlerError::Permanent(format!(
                "{} v{} is not {} v{}",
                self.event_type,
                self.version,
                topic.name(),
                topic.version()
            )));
        }
        self.payload_as()
    }

    pub fn actor(mut self, user_id: impl Into<String>) -> Self {
        self.actor = Some(user_id.into());
        self
    }

    pub fn client_ip(mut self, ip: impl Into<String>) -> Self {
        self.client_ip = Some(ip.into());
        self
    }

    /// Deserialises the payload into `T`; a mismatch is permanent.
    pub fn payload_as<T: DeserializeOwned>(&self) -> Result<T, super::HandlerError> {
        serde_json::from_value(self.payload.clone()).map_err(|e| {
            super::HandlerError::Permanent(format!(
                "{} payload does not match v{}: {e}",
                self.event_type, self.version
            ))
        })
    }
}

#[cfg(test)]
mod tests {
    use marimo_contracts::factory::{STOCK_LOW, StockLow, WORK_ORDER_RELEASED};
    use marimo_contracts::{ids::Sku, values::Qty};
    use serde_json::json;

    use super::*;
    use crate::bus::HandlerError;

    fn low() -> StockLow {
        StockLow {
            sku: Sku::new("STEEL"),
            warehouse: marimo_contracts::ids::WarehouseCode::new("MAIN"),
            on_hand: Qty::from_thousandths(4500),
            reorder_point: Qty::from_thousandths(5000),
        }
    }

    #[test]
    fn typed_events_carry_their_topic() {
        let env = Envelope::of(STOCK_LOW, &low());
        assert_eq!(
            (env.event_type.as_str(), env.source.as_str(), env.version),
            ("factory.stock.low", "factory", 1)
        );
        assert_eq!(
            env.payload,
            json!({"sku": "STEEL", "warehouse": "MAIN", "on_hand": "4.500", "reorder_point": "5.000"})
        );
        assert!(env.is(STOCK_LOW));
        assert_eq!(env.decode(STOCK_LOW).unwrap(), low());
    }

    #[test]
    fn another_topic_or_version_is_permanent() {
        let env = Envelope::of(STOCK_LOW, &low());
        assert!(matches!(
            env.decode(WORK_ORDER_RELEASED),
            Err(HandlerError::Permanent(_))
        ));
        let mut v2 = env.clone();
        v2.version = 2;
        assert!(!v2.is(STOCK_LOW));
        assert!(matches!(
            v2.decode(STOCK_LOW),
            Err(HandlerError::Permanent(_))
        ));
        let mut broken = env;
        broken.payload = json!({"warehouse": "MAIN"});
        assert!(matches!(
            broken.decode(STOCK_LOW),
            Err(HandlerError::Permanent(_))
        ));
    }
}

//! The event envelope every message carries.

use serde::{Deserialize, Serialize};
use serde_json::Value;

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
            payload,
        }
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
    pub fn payload_as<T: serde::de::DeserializeOwned>(&self) -> Result<T, super::HandlerError> {
        serde_json::from_value(self.payload.clone()).map_err(|e| {
            super::HandlerError::Permanent(format!(
                "{} payload does not match v{}: {e}",
                self.event_type, self.version
            ))
        })
    }
}

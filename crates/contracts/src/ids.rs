//! Identifiers as they travel: JSON strings, each its own type so that an
//! order id cannot be passed where a user id is expected.
//!
//! Ids are UUIDv7 text when the services mint them, but the contract does
//! not insist: they are opaque to every reader, and the original API's
//! clients and the tests use other texts (`"o-1"`). An id absent from a
//! payload reads as the empty id ([`UserId::is_empty`] and friends).
//!
//! ```
//! use marimo_contracts::ids::{OrderId, UserId};
//! fn cancel(order: &OrderId, by: &UserId) -> String {
//!     format!("{order} by {by}")
//! }
//! let (order, user) = (OrderId::new("o-1"), UserId::new("u-1"));
//! assert_eq!(cancel(&order, &user), "o-1 by u-1");
//! ```
//!
//! Swapped, the same call does not compile:
//!
//! ```compile_fail
//! use marimo_contracts::ids::{OrderId, UserId};
//! fn cancel(order: &OrderId, by: &UserId) {}
//! let (order, user) = (OrderId::new("o-1"), UserId::new("u-1"));
//! cancel(&user, &order);
//! ```

use std::fmt;

use serde::{Deserialize, Serialize};

macro_rules! string_id {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Clone, Debug, Default, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, utoipa::ToSchema)]
        #[serde(transparent)]
        #[schema(value_type = String)]
        pub struct $name(String);

        impl $name {
            pub fn new(id: impl Into<String>) -> Self {
                Self(id.into())
            }

            pub fn as_str(&self) -> &str {
                &self.0
            }

            pub fn into_string(self) -> String {
                self.0
            }

            /// Absent on the wire (read as empty).
            pub fn is_empty(&self) -> bool {
                self.0.is_empty()
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl AsRef<str> for $name {
            fn as_ref(&self) -> &str {
                &self.0
            }
        }

        impl PartialEq<str> for $name {
            fn eq(&self, other: &str) -> bool {
                self.0 == other
            }
        }

        impl PartialEq<&str> for $name {
            fn eq(&self, other: &&str) -> bool {
                self.0 == *other
            }
        }
    };
}

string_id! {
    /// A user of the users service.
    UserId
}
string_id! {
    /// A shop order.
    OrderId
}
string_id! {
    /// A product of the shop's catalog.
    ProductId
}
string_id! {
    /// A factory work order.
    WorkOrderId
}
string_id! {
    /// A journal entry of the ledger.
    EntryId
}
string_id! {
    /// A stock move of the factory.
    MoveId
}
string_id! {
    /// An event (the envelope's `id`).
    EventId
}
string_id! {
    /// A stock-keeping unit: the code that names an item in the factory
    /// and the product made of it in the shop (`"WIDGET-PREMIUM"`).
    Sku
}
string_id! {
    /// A factory warehouse's code (`"MAIN"`).
    WarehouseCode
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn transparent_strings() {
        let id: OrderId = serde_json::from_str("\"o-1\"").unwrap();
        assert_eq!(id, "o-1");
        assert_eq!(serde_json::to_string(&id).unwrap(), "\"o-1\"");
        assert_eq!(Sku::new("BIKE").to_string(), "BIKE");
        assert!(UserId::default().is_empty());
    }
}

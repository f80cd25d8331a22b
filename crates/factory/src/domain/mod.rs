//! Pure business rules of the factory: no I/O, unit- and property-tested.
//!
//! - [`qty`]: exact quantities (thousandths) and their text.
//! - [`money`]: the base currency and amounts in its minor units.
//! - [`valuation`]: stock balances and the moving-average cost.
//! - [`bom`]: bills of materials — cycle detection and multi-level
//!   explosion with exact fractions.
//! - [`work_order`]: the work-order state machine and cost roll-up.
//! - [`items`]: SKUs, warehouse codes, names, item kinds, product statuses.

pub mod bom;
pub mod items;
pub mod money;
pub mod qty;
pub mod valuation;
pub mod work_order;

/// A rejected input: which field, and why (answered as 400).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct Invalid {
    pub field: &'static str,
    pub message: String,
}

impl Invalid {
    pub fn new(field: &'static str, message: impl Into<String>) -> Self {
        Self {
            field,
            message: message.into(),
        }
    }
}

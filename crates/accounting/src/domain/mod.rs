//! Pure ledger rules, no I/O: everything here is unit- and property-tested.
//!
//! - [`money`]: the base currency and amounts in its minor units.
//! - [`calendar`]: dates (`YYYY-MM-DD`), periods (`YYYY-MM`) and how a date
//!   range splits into whole months and partial months.
//! - [`accounts`]: account types, normal balances, the chart's rules and the
//!   default chart.
//! - [`entry`]: validation and balancing of a journal entry, reversals,
//!   entry numbers.
//! - [`period`]: the period state machine (open → closed → locked).
//! - [`reports`]: trial balance, income statement, balance sheet and ledger
//!   computed from per-account totals.
//! - [`csv`]: CSV rendering of the reports.
//! - [`compat`]: the original API's transactions mapped onto the ledger.
//! - [`inventory`]: perpetual inventory: the inventory-account mapping,
//!   the entry of a stock transaction, the reconciliation.

pub mod accounts;
pub mod calendar;
pub mod compat;
pub mod csv;
pub mod entry;
pub mod inventory;
pub mod money;
pub mod period;
pub mod reports;

#[cfg(test)]
mod model;

use marimo_platform::Invalid;
use serde_json::Value;

/// A rule a request broke, with a machine-readable code and details. The
/// API maps `kind` to a status; events dead-letter it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct Rejection {
    pub kind: RejectionKind,
    pub code: &'static str,
    pub message: String,
    pub details: Option<Value>,
}

/// How a rejection maps to HTTP: malformed input (400), a well-formed
/// request the ledger refuses (422), or a state conflict (409), or a
/// missing thing (404).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RejectionKind {
    Invalid,
    Unprocessable,
    Conflict,
    NotFound,
}

/// A field error ([`marimo_platform::Invalid`]) is the ledger's 400.
impl From<Invalid> for Rejection {
    fn from(i: Invalid) -> Self {
        Self {
            kind: RejectionKind::Invalid,
            code: "VALIDATION_ERROR",
            details: Some(serde_json::json!({ "field": i.field })),
            message: i.message,
        }
    }
}

impl Rejection {
    /// A field error: the one [`Invalid`] shape, as a rejection.
    pub fn invalid(field: &str, message: impl Into<String>) -> Self {
        Invalid::new(field.to_owned(), message).into()
    }

    pub fn new(kind: RejectionKind, code: &'static str, message: impl Into<String>) -> Self {
        Self {
            kind,
            code,
            message: message.into(),
            details: None,
        }
    }

    pub fn with_details(mut self, details: Value) -> Self {
        self.details = Some(details);
        self
    }
}

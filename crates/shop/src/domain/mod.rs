//! The shop's business rules, free of I/O: the order state machine and who
//! may move an order ([`order`]), money, tax and totals ([`pricing`]),
//! catalog fields, search and sort ([`catalog`]), order requests
//! ([`request`]), who may mark an order paid and with what proof
//! ([`payment`]) and the shop's settings ([`settings`]).

pub mod catalog;
pub mod order;
pub mod payment;
pub mod pricing;
pub mod request;
pub mod settings;

/// A value a client sent that breaks a rule: 400, naming the field.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct Invalid {
    pub field: String,
    pub message: String,
}

impl Invalid {
    pub fn new(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            field: field.into(),
            message: message.into(),
        }
    }
}

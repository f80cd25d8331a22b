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

/// A value a client sent that breaks a rule: 400, naming the field (the
/// one platform type, so every service answers it alike).
pub use marimo_platform::Invalid;

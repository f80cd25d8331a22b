//! One module per screen. Handlers are thin: check the role, call the API,
//! turn its JSON into a view, render the template.

pub mod accounting;
pub mod auth;
pub mod dashboard;
pub mod errors;
pub mod orders;
pub mod shop;
pub mod users;

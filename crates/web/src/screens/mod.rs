//! One module per screen. Handlers are thin: check the role, call the API,
//! turn its JSON into a view, render the template.

pub mod accounting;
pub mod audit;
pub mod auth;
pub mod config;
pub mod dashboard;
pub mod dead_letters;
pub mod errors;
pub mod factory;
pub mod notifications;
pub mod orders;
pub mod shop;
pub mod users;

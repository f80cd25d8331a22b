//! Worker integration tests: the real service on SQLite (and PostgreSQL
//! when MARIMO_TEST_DATABASE_URL is set), fed through a publisher's outbox
//! and the embedded bus, driven over HTTP.

mod audit;
mod db_metrics;
mod dead_letters;
mod mail;
mod notifications;
mod openapi;
mod smtp;
mod support;
mod tenancy;
mod webhooks;

//! The users service's integration tests: one binary, run against every
//! backend of `marimo_testkit::backends()` (SQLite always, PostgreSQL when
//! `MARIMO_TEST_DATABASE_URL` is set), driven over HTTP.

mod admin;
mod auth;
mod db_metrics;
mod openapi;
mod outage;
mod sessions;
mod support;
mod tenancy;

//! The config service's integration tests: one binary, each test run
//! against every backend of `marimo_testkit::backends()` (SQLite always,
//! PostgreSQL when `MARIMO_TEST_DATABASE_URL` is set), driven over HTTP.

mod consul_mirror;
mod db_metrics;
mod openapi;
mod reference;
mod settings;
mod support;
mod tenancy;

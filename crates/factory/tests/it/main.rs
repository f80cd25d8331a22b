//! Factory service integration tests, on every backend of
//! `testkit::backends()` (SQLite; PostgreSQL when MARIMO_TEST_DATABASE_URL
//! is set), driven over HTTP.

mod boms;
mod compat;
mod concurrency;
mod db_metrics;
mod events;
mod holds;
mod immutability;
mod items;
mod openapi;
mod rbac;
mod stock;
mod support;
mod tenancy;
mod valuation;
mod work_orders;

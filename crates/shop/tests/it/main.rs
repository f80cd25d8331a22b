//! The shop service's integration tests: one binary, run against every
//! backend of `marimo_testkit::backends()` (SQLite always, PostgreSQL when
//! `MARIMO_TEST_DATABASE_URL` is set), driven over HTTP like a client.

mod admin;
mod catalog;
mod concurrency;
mod db_metrics;
mod events;
mod jobs;
mod lifecycle;
mod openapi;
mod orders;
mod payments;
mod support;
mod tenancy;
mod upgrade;

//! Accounting service integration tests, on every backend of
//! `testkit::backends()` (SQLite; PostgreSQL when MARIMO_TEST_DATABASE_URL
//! is set).

mod accounts;
mod compat;
mod currency;
mod db_metrics;
mod events;
mod immutability;
mod inventory;
mod journal;
mod openapi;
mod periods;
mod rbac;
mod reports;
mod stress;
mod support;
mod tenancy;
mod upgrade;

//! System tests: the whole ERP started in-process on ephemeral ports, driven
//! through the gateway like a client would.

mod auth_walk;
mod cli;
mod config_reach;
mod crash;
mod dashboards;
mod edge;
mod erp_flow;
mod faults;
mod furniture;
mod idempotency;
mod migrations;
mod observability;
mod prometheus;
mod replicas;
mod security;
mod stock_authority;
mod support;
mod tenancy;
mod web_pages;
mod web_ui;
mod webdriver;

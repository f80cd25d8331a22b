//! System tests: the whole ERP started in-process on ephemeral ports, driven
//! through the gateway like a client would.

mod auth_walk;
mod cli;
mod config_reach;
mod dashboards;
mod edge;
mod erp_flow;
mod prometheus;
mod support;

//! The gateway against fake upstream services on ephemeral ports: one echo
//! server per service, which answers with what it received.

mod auth;
mod cache;
mod config;
mod docs;
mod edge;
mod fakes;
mod forwarding;
mod health;
mod keepalive;
mod limits;
mod redis;
mod resilience;
mod support;

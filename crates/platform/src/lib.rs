//! Shared building blocks of every Marimo ERP service.
//!
//! One module per concern, so a service crate reads as "its own routes and
//! rules" on top of these pieces:
//!
//! - [`config`]: settings from the environment (the seed's variable names).
//! - [`error`]: the one error type and its JSON shape, mapped to HTTP once.
//! - [`http`]: the service app (health, readiness, metrics, middleware),
//!   extractors, graceful serving.
//! - [`auth`]: JWT access tokens, passwords, roles, the signed-in caller.
//! - [`db`]: one SQL text for SQLite and PostgreSQL through sqlx `Any`;
//!   [`append_only`]: tables of facts the database refuses to rewrite.
//! - [`telemetry`]: logs and per-service Prometheus metrics.
//! - [`service`]: the context a service is started with.
//! - [`idempotency`]: the `Idempotency-Key` header and its records.
//! - [`invalid`]: a field a client got wrong ([`Invalid`], answered 400).
//! - [`tenant`]: the tenant a request or event acts in, and the
//!   PostgreSQL Row-Level Security policy that keeps tenants apart.
//! - [`time_range`]: the one `from`/`to` rule for lists ([`TimeRange`]).
//! - [`money`]: exact decimals and currencies ([`money::Currency`]).
//! - [`client`]: calls to another service through discovery, with a
//!   breaker per instance and a timeout.
//! - [`redis`]: the shared Redis connection (cache store, rate limits,
//!   locks) that fails fast when Redis is away.
//! - [`lock`]: leases so scheduled jobs run on one replica at a time.
//! - [`openapi`]: the OpenAPI 3.1 documents' shared parts (error shape,
//!   security, pagination, headers) and the refusal of unknown query
//!   parameters.

pub mod append_only;
pub mod auth;
pub mod bus;
pub mod cache;
pub mod client;
pub mod clock;
pub mod config;
pub mod db;
pub mod discovery;
pub mod error;
pub mod http;
pub mod idempotency;
pub mod ids;
pub mod invalid;
pub mod lock;
pub mod money;
pub mod openapi;
pub mod redis;
pub mod resilience;
pub mod service;
pub mod telemetry;
pub mod tenant;
pub mod time_range;

pub use error::{ApiError, ApiResult, ErrorCode};
pub use invalid::Invalid;
pub use time_range::TimeRange;

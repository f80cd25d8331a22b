//! HTTP plumbing shared by every service: the service app with health,
//! readiness and metrics ([`app`]; their bodies in [`health`]), request ids ([`request_id`]), JSON and
//! query extractors that answer in the one error shape ([`extract`]), the
//! canonical request path ([`path`]) and the API versions on it
//! ([`version`]), cache policy of answers
//! ([`cache_control`]), the gateway's signature that services require
//! when `MARIMO_EDGE_SECRET` is set ([`edge`]), and serving with graceful
//! shutdown and read timeouts ([`serve()`]).

pub mod app;
pub mod cache_control;
pub mod edge;
pub mod extract;
pub mod health;
pub mod path;
pub mod request_id;
pub mod serve;
pub mod version;

pub use app::{HealthCheck, ServiceApp};
pub use extract::{Json, OptionalJson, Page, Query};
pub use serve::serve;

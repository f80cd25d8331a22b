//! HTTP plumbing shared by every service: the service app with health,
//! readiness and metrics ([`app`]), request ids ([`request_id`]), JSON and
//! query extractors that answer in the one error shape ([`extract`]), and
//! graceful serving ([`serve()`]).

pub mod app;
pub mod extract;
pub mod request_id;
pub mod serve;

pub use app::{HealthCheck, ServiceApp};
pub use extract::{Json, Query};
pub use serve::serve;

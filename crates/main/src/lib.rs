//! The main service: the dashboard and statistics of Marimo ERP, composed
//! from the other services' `/summary` endpoints. It has no database: no
//! `store/`, no `migrations/` (the one exception to the service skeleton).
//!
//! - `app` ([`fanout`]): the only client of other services (parallel calls
//!   with the caller's token through discovery, with a breaker per
//!   instance and a per-call timeout, and a short cache per service, tenant and
//!   role).
//! - [`domain`]: modules per role, the upstream services and the
//!   composition of figures.
//! - `api`: `GET /api/main/dashboard`, `GET /api/main/stats` and their
//!   response views.
//! - [`error`]: [`MainError`], the crate's one error type.

use std::{sync::Arc, time::Duration};

use axum::Router;
use marimo_platform::{
    discovery,
    http::ServiceApp,
    resilience::BreakerConfig,
    service::{ServiceContext, StartError},
};

// utoipa's macros expand to fully qualified paths of the types named in
// them, which the workspace's `unused_qualifications` lint would flag.
#[allow(unused_qualifications)]
mod api;
mod app;
pub mod domain;
pub mod error;

pub use app::fanout;
pub use error::MainError;

/// Knobs of the fan-out (tests shorten or lengthen them).
#[derive(Debug, Clone)]
pub struct MainTuning {
    /// Bound of each summary call: a slow service must not make the
    /// dashboard slow.
    pub call_timeout: Duration,
    /// How long a summary is reused for callers of the same role.
    pub cache_ttl: Duration,
}

impl Default for MainTuning {
    fn default() -> Self {
        Self {
            call_timeout: Duration::from_millis(500),
            cache_ttl: Duration::from_secs(5),
        }
    }
}

/// Builds the service's router with the default [`MainTuning`].
pub async fn router(ctx: ServiceContext) -> Result<Router, StartError> {
    router_with(ctx, MainTuning::default()).await
}

/// Builds the service's router (main has no migrations or seeds).
pub async fn router_with(ctx: ServiceContext, tuning: MainTuning) -> Result<Router, StartError> {
    let breaker = match ctx.settings.breaker.as_deref() {
        Some(spec) => BreakerConfig::parse(spec).map_err(|e| format!("MARIMO_BREAKER: {e}"))?,
        None => BreakerConfig::default(),
    };
    let services = domain::Upstream::ALL.map(domain::Upstream::service);
    let discovery = discovery::from_settings(&ctx.settings, &services, ctx.shutdown.clone())?;
    let fanout = fanout::Fanout::new(
        discovery,
        tuning.call_timeout,
        breaker,
        tuning.cache_ttl,
        marimo_platform::http::edge::EdgeKey::from_settings(&ctx.settings),
    )
    .map_err(MainError::from)?;
    let api = api::routes(api::AppState {
        fanout: Arc::new(fanout),
    });
    Ok(ServiceApp::new(&ctx).api(api))
}

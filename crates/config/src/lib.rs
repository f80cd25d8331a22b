//! The config service: typed settings with history and optimistic
//! concurrency, and reference data (currencies, units, tax rates).
//!
//! - [`domain`]: pure rules (key syntax, scopes, value types and the check
//!   of a value against its type, reference codes, installation-only
//!   keys), unit-tested.
//!
//! Settings, their history, units and tax rates are per tenant, falling
//! back to the default tenant's rows (the installation defaults);
//! currencies are shared (docs/TENANCY.md).
//! - `store`: the SQL for this service's tables (`migrations/`), and the
//!   triggers that make `config_history` append-only in the database.
//! - `app`: the use cases — the writes, each changing the row, appending
//!   history and publishing its event in one transaction; and
//!   [`consul_mirror`]: with `CONSUL_ADDR`, the settings mirrored into
//!   Consul KV under `marimo/config/` (another tenant's under
//!   `marimo/tenants/<id>/config/`; the database stays the source of
//!   truth).
//! - `api`: the HTTP handlers under `/api/config/...` and their response
//!   views.
//! - [`events`]: `config.setting.changed`, `config.reference.changed`.
//! - [`error`]: [`ConfigError`], the crate's one error type, mapped to the
//!   platform's error shape once.

use axum::Router;
use marimo_platform::{
    discovery::consul::ConsulClient,
    http::ServiceApp,
    service::{ServiceContext, StartError},
};

// utoipa's macros expand to fully qualified paths of the types named in
// them, which the workspace's `unused_qualifications` lint would flag.
#[allow(unused_qualifications)]
mod api;
mod app;
pub mod domain;
pub mod error;
pub mod events;
mod store;

pub use app::consul_mirror;
pub use error::ConfigError;

/// Runs migrations (and the history triggers), seeds the default settings
/// and reference data, starts the Consul KV mirror when `CONSUL_ADDR` is
/// set, and returns the service's router.
pub async fn router(ctx: ServiceContext) -> Result<Router, StartError> {
    let db = ctx.db.clone().ok_or(ConfigError::NoDatabase)?;
    store::prepare(&db).await?;
    app::seed(&db, &ctx.outbox).await?;
    if let Some(client) = ConsulClient::from_settings(&ctx.settings) {
        let client = client.map_err(|e| format!("CONSUL_ADDR: {e}"))?;
        consul_mirror::start(db.clone(), &ctx, client).await?;
    }
    let idempotency = marimo_platform::idempotency::Layer::prepare(&ctx).await?;
    marimo_platform::idempotency::spawn_purge(&ctx, db.clone(), IDEMPOTENCY_TTL);
    let api = api::routes(api::AppState {
        db,
        outbox: ctx.outbox.clone(),
    });
    Ok(ServiceApp::new(&ctx).idempotency(idempotency).api(api))
}

/// How long an `Idempotency-Key` is remembered (the platform's layer
/// covers every mutating endpoint of a signed-in caller).
const IDEMPOTENCY_TTL: std::time::Duration = std::time::Duration::from_secs(24 * 3600);

//! The worker service. Its domain arrives with its own issue; until then it
//! answers the platform routes (`/health`, `/ready`, `/metrics`) and a JSON
//! 404 elsewhere, so `marimo up` and the gateway already see it.

use axum::Router;
use marimo_platform::{
    http::ServiceApp,
    service::{ServiceContext, StartError},
};

/// Builds the service's router (migrations and seeds run here).
pub async fn router(ctx: ServiceContext) -> Result<Router, StartError> {
    Ok(ServiceApp::new(&ctx).router(Router::new()))
}

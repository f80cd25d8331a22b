//! HTTP handlers under `/api/v1/main/...` (the platform's `SignedIn` policy:
//! every role): the dashboard and the statistics, composed from the other
//! services' summaries through `app::fanout`. Main never reads another
//! service's tables. A service that is down or slow makes the answer
//! degraded, never failed.

use std::sync::Arc;

use axum::{
    extract::{FromRequestParts, State},
    http::request::Parts,
};
use marimo_contracts::{
    Success,
    dashboard::{Dashboard, DashboardUser, StatsAnswer},
    ids::UserId,
};
use marimo_platform::{
    ApiError, ApiResult,
    auth::{
        Caller,
        caller::bearer,
        policy::{Authorized, SignedIn},
    },
    http::Json,
    openapi,
};
use utoipa_axum::{router::OpenApiRouter, routes};

use crate::{MainError, app::fanout::Fanout, domain};

mod views;

#[derive(Clone)]
pub(crate) struct AppState {
    pub fanout: Arc<Fanout>,
}

/// The service's routes with their OpenAPI document (`utoipa-axum`: a
/// route and its spec entry are registered together).
pub(crate) fn routes(state: AppState) -> OpenApiRouter {
    OpenApiRouter::with_openapi(openapi::document(
        "main",
        "The dashboard and the original API's statistics, composed from the users, accounting, shop and factory services' summaries. Every signed-in role; each figure the caller's role may not read, or whose service is down or slow, is `null`, and `degraded` names the services that did not answer.",
    ))
    .routes(routes!(dashboard))
    .routes(routes!(stats))
    .with_state(state)
}

/// The caller, admitted by the platform's `SignedIn` policy, with their
/// bearer token, which is forwarded to the services so each applies its
/// own role rules.
struct Forwarded {
    caller: Caller,
    token: String,
}

impl<S: Send + Sync> FromRequestParts<S> for Forwarded {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        let caller = Authorized::<SignedIn>::from_request_parts(parts, state)
            .await?
            .into_caller();
        let token = bearer(parts).ok_or(MainError::MissingBearer)?.to_owned();
        Ok(Self { caller, token })
    }
}

/// The caller's dashboard: a greeting, the UI modules their role may
/// open, and the key figures of the services.
#[utoipa::path(
    get,
    path = "/api/v1/main/dashboard",
    responses((status = 200, description = "The dashboard (figures `null` when unknown).", body = Success<Dashboard>)),
)]
async fn dashboard(
    State(st): State<AppState>,
    who: Forwarded,
) -> ApiResult<Json<Success<Dashboard>>> {
    let known = st
        .fanout
        .figures(&who.caller.tenant, who.caller.role, &who.token)
        .await;
    let c = &who.caller;
    Ok(Json(Success::new(Dashboard {
        welcome: format!("Welcome, {}", c.email),
        user: DashboardUser {
            id: UserId::new(&c.user_id),
            email: c.email.clone(),
            role: c.role.as_str().to_owned(),
        },
        modules: views::modules(domain::modules_for(c.role)),
        kpis: known.kpis(),
        degraded: degraded(&known),
    })))
}

/// The original API's statistics: users, orders, paid revenue, products
/// on the catalog (real figures, `null` when unknown).
#[utoipa::path(
    get,
    path = "/api/v1/main/stats",
    responses((status = 200, description = "The statistics.", body = Success<StatsAnswer>)),
)]
async fn stats(
    State(st): State<AppState>,
    who: Forwarded,
) -> ApiResult<Json<Success<StatsAnswer>>> {
    let known = st
        .fanout
        .figures(&who.caller.tenant, who.caller.role, &who.token)
        .await;
    Ok(Json(Success::new(StatsAnswer {
        stats: known.stats(),
        degraded: degraded(&known),
    })))
}

fn degraded(known: &domain::Known) -> Vec<String> {
    known.degraded.iter().map(|s| (*s).to_owned()).collect()
}

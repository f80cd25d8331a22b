//! HTTP handlers under `/api/v1/users/...`: parse, authorize, call the use
//! case (`app`), respond (`views`). Every error is an [`ApiError`] (the one
//! JSON shape); no handler panics on any input.
//!
//! - [`session`]: register, login, refresh, logout, change-password.
//! - [`accounts`]: profile, list, summary and the admin actions.
//! - [`tenants`]: sign-up, my tenants, switching, the current tenant,
//!   adding members.

use std::net::{IpAddr, SocketAddr};

use axum::{
    extract::{ConnectInfo, FromRequestParts, Path},
    http::request::Parts,
    routing::get,
};
use marimo_platform::{
    ApiError, ApiResult,
    auth::{Caller, Policy},
    http::cache_control,
    ids, openapi,
};
use utoipa_axum::{
    router::{OpenApiRouter, UtoipaMethodRouter},
    routes,
};

use crate::{app::Users, store::UserRecord};

mod accounts;
mod session;
mod tenants;
mod views;

pub(crate) type AppState = Users;

/// Token answers are never kept by any cache.
fn no_store(r: UtoipaMethodRouter<AppState>) -> UtoipaMethodRouter<AppState> {
    let (schemas, paths, method_router) = r;
    (
        schemas,
        paths,
        method_router.layer(cache_control::no_store()),
    )
}

/// The service's routes with their OpenAPI document (`utoipa-axum`: a
/// route and its spec entry are registered together).
pub(crate) fn routes(state: AppState) -> OpenApiRouter {
    OpenApiRouter::with_openapi(openapi::document(
        "users",
        "Accounts, credentials, sessions and roles: registration, sign-in (access token + rotating refresh token), sign-out, the caller's profile, and account administration. Roles: `admin`, `manager` (production), `accountant`, `shop_manager`, `user` (a customer, the default at registration).",
    ))
    .routes(no_store(routes!(session::register)))
    .routes(no_store(routes!(session::login)))
    .routes(no_store(routes!(session::refresh)))
    .routes(routes!(session::logout))
    // Not under /api (the gateway never forwards it); services read it
    // directly at start (`platform::auth::revocation`): outside the API document.
    .route(
        marimo_platform::auth::revocation::MARKS_PATH,
        get(session::revocation_marks),
    )
    .routes(routes!(session::change_password))
    .routes(routes!(accounts::profile))
    .routes(routes!(accounts::list))
    .routes(routes!(accounts::summary))
    .routes(routes!(accounts::assign_role))
    .routes(routes!(accounts::deactivate))
    .routes(routes!(accounts::reactivate))
    .routes(no_store(routes!(tenants::signup)))
    .routes(routes!(tenants::my_tenants))
    .routes(no_store(routes!(tenants::switch)))
    .routes(routes!(tenants::current, tenants::update))
    .routes(routes!(tenants::add_member))
    .with_state(state)
}

// ------------------------------------------------------------- errors

fn no_such_user() -> ApiError {
    crate::UsersError::NoSuchUser.into()
}

// --------------------------------------------------------- extractors

/// The `{id}` of `/admin/users/{id}/...`: anything that is not a UUID is a
/// user that does not exist (404 without a database round-trip).
struct UserId(String);

impl<S: Send + Sync> FromRequestParts<S> for UserId {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        let Path(id) = Path::<String>::from_request_parts(parts, state)
            .await
            .map_err(|_| no_such_user())?;
        if ids::is_uuid(&id) {
            Ok(Self(id))
        } else {
            Err(no_such_user())
        }
    }
}

/// The client's address, for audit events and the sign-in delays: the
/// socket peer, or, when the peer is an internal hop (loopback or private,
/// i.e. the gateway), the client the gateway believed
/// (`X-Marimo-Client-IP`), else the address that hop appended to
/// `X-Forwarded-For`.
struct ClientIp(Option<String>);

impl ClientIp {
    fn get(&self) -> Option<&str> {
        self.0.as_deref()
    }
}

impl<S: Send + Sync> FromRequestParts<S> for ClientIp {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, ApiError> {
        let peer = parts
            .extensions
            .get::<ConnectInfo<SocketAddr>>()
            .map(|ConnectInfo(addr)| addr.ip());
        let internal = |ip: IpAddr| match ip {
            IpAddr::V4(v4) => v4.is_loopback() || v4.is_private(),
            IpAddr::V6(v6) => v6.is_loopback() || v6.is_unique_local(),
        };
        let forwarded = || {
            parts
                .headers
                .get_all("x-forwarded-for")
                .iter()
                .filter_map(|v| v.to_str().ok())
                .flat_map(|v| v.split(','))
                .filter_map(|s| s.trim().parse::<IpAddr>().ok())
                .next_back()
        };
        // The gateway says which client it believed (after its trusted
        // proxies); an older hop only appends to X-Forwarded-For.
        let edge_client = || {
            parts
                .headers
                .get(marimo_platform::http::edge::CLIENT_IP_HEADER)
                .and_then(|v| v.to_str().ok())
                .and_then(|s| s.trim().parse::<IpAddr>().ok())
        };
        let ip = match peer {
            Some(p) if internal(p) => edge_client().or_else(forwarded).or(Some(p)),
            other => other,
        };
        Ok(Self(ip.map(|ip| ip.to_string())))
    }
}

// ------------------------------------------------------------ helpers

/// The bearer's current account: policy `P` must admit the token's role
/// (checked first, without the database), and the account's role as
/// stored now (see `Users::account_of`): a demoted account loses access
/// before its token expires.
async fn signed_in<P: Policy>(st: &AppState, caller: &Caller) -> ApiResult<UserRecord> {
    caller.require_policy::<P>()?;
    Ok(st.account_of(caller, P::ROLES).await?)
}

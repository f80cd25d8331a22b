//! HTTP handlers under `/api/users/...`: parse, authorize, call the use
//! case (`app`), respond (`views`). Every error is an [`ApiError`] (the one
//! JSON shape); no handler panics on any input.
//!
//! - [`session`]: register, login, refresh, logout, change-password.
//! - [`accounts`]: profile, list, summary and the admin actions.

use std::net::{IpAddr, SocketAddr};

use axum::{
    Router,
    extract::{ConnectInfo, FromRequestParts, Path},
    http::request::Parts,
    routing::{get, post},
};
use marimo_platform::{
    ApiError, ApiResult,
    auth::{Caller, Policy},
    http::cache_control,
    ids,
};
use serde_json::{Value, json};

use crate::{
    app::{Users, sessions::Tokens},
    store::UserRecord,
};

mod accounts;
mod session;
mod views;

pub(crate) type AppState = Users;

pub(crate) fn routes(state: AppState) -> Router {
    Router::new()
        // Token answers are never kept by any cache.
        .route(
            "/api/users/register",
            post(session::register).layer(cache_control::no_store()),
        )
        .route(
            "/api/users/login",
            post(session::login).layer(cache_control::no_store()),
        )
        .route(
            "/api/users/refresh",
            post(session::refresh).layer(cache_control::no_store()),
        )
        .route("/api/users/logout", post(session::logout))
        // Outside `/api`: the gateway never forwards it; services read it
        // directly at start (`platform::auth::revocation`).
        .route(
            marimo_platform::auth::revocation::MARKS_PATH,
            get(session::revocation_marks),
        )
        .route("/api/users/change-password", post(session::change_password))
        .route("/api/users/profile", get(accounts::profile))
        .route("/api/users/list", get(accounts::list))
        .route("/api/users/summary", get(accounts::summary))
        .route("/api/users/admin/assign-role", post(accounts::assign_role))
        .route(
            "/api/users/admin/users/{id}/deactivate",
            post(accounts::deactivate),
        )
        .route(
            "/api/users/admin/users/{id}/reactivate",
            post(accounts::reactivate),
        )
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

/// The body of every answer that hands out tokens.
fn token_body(message: &str, tokens: Tokens) -> Value {
    json!({
        "success": true,
        "message": message,
        "access_token": tokens.access_token,
        "refresh_token": tokens.refresh_token,
        "expires_in": tokens.expires_in,
        "token_type": "Bearer",
    })
}

//! Credentials and sessions: register, login, refresh, logout and
//! change-password.

use axum::{extract::State, http::StatusCode};
use marimo_platform::{
    ApiError, ApiResult,
    auth::{Caller, MaybeCaller, policy::SignedIn},
    http::{Json, OptionalJson},
};
use serde::Deserialize;
use serde_json::{Value, json};

use super::{AppState, ClientIp, signed_in, token_body, views};
use crate::domain;

#[derive(Deserialize)]
pub(super) struct RegisterBody {
    email: String,
    password: String,
    name: String,
}

pub(super) async fn register(
    State(st): State<AppState>,
    Json(body): Json<RegisterBody>,
) -> ApiResult<(StatusCode, Json<Value>)> {
    let user = st.register(&body.email, &body.name, &body.password).await?;
    Ok((
        StatusCode::CREATED,
        Json(json!({
            "success": true,
            "message": "registration successful",
            "user": views::user(&user),
        })),
    ))
}

#[derive(Deserialize)]
pub(super) struct LoginBody {
    email: String,
    password: String,
}

pub(super) async fn login(
    State(st): State<AppState>,
    ip: ClientIp,
    Json(body): Json<LoginBody>,
) -> ApiResult<Json<Value>> {
    let email = domain::normalise_email(&body.email);
    if email.is_empty() || body.password.is_empty() {
        return Err(ApiError::validation("email and password are required"));
    }
    let (user, tokens) = st.login(&email, &body.password, ip.get()).await?;
    let mut body = token_body("login successful", tokens);
    body["user"] = views::user(&user);
    Ok(Json(body))
}

#[derive(Deserialize)]
pub(super) struct RefreshBody {
    refresh_token: String,
}

pub(super) async fn refresh(
    State(st): State<AppState>,
    Json(body): Json<RefreshBody>,
) -> ApiResult<Json<Value>> {
    let tokens = st.refresh(&body.refresh_token).await?;
    Ok(Json(token_body("token refreshed", tokens)))
}

#[derive(Deserialize, Default)]
pub(super) struct LogoutBody {
    #[serde(default)]
    refresh_token: Option<String>,
    /// Sign out of every session of the account.
    #[serde(default)]
    all: bool,
}

/// Always 200 for what it can do, and idempotent: unknown, used or revoked
/// tokens are fine. `all` needs to know whose sessions to end: a valid
/// bearer, or else a live refresh token; without either it is 401 rather
/// than a silent no-op.
pub(super) async fn logout(
    State(st): State<AppState>,
    MaybeCaller(caller): MaybeCaller,
    OptionalJson(body): OptionalJson<LogoutBody>,
) -> ApiResult<Json<Value>> {
    st.logout(
        caller.as_ref().map(|c| c.user_id.as_str()),
        body.refresh_token.as_deref(),
        body.all,
    )
    .await?;
    Ok(Json(json!({
        "success": true,
        "message": if body.all { "logged out of all sessions" } else { "logged out" },
    })))
}

#[derive(Deserialize)]
pub(super) struct ChangePasswordBody {
    current_password: String,
    new_password: String,
}

/// Changes the caller's password; every other session is signed out and
/// this client gets a new one.
pub(super) async fn change_password(
    State(st): State<AppState>,
    caller: Caller,
    ip: ClientIp,
    Json(body): Json<ChangePasswordBody>,
) -> ApiResult<Json<Value>> {
    let record = signed_in::<SignedIn>(&st, &caller).await?;
    let tokens = st
        .change_password(
            &record,
            &body.current_password,
            &body.new_password,
            ip.get(),
        )
        .await?;
    Ok(Json(token_body(
        "password changed; other sessions have been signed out",
        tokens,
    )))
}

/// `GET /internal/revocations`: the revocation marks of the last day (a
/// service starting up reads them; see `platform::auth::revocation`).
/// Only account ids and times: nothing a caller could sign in with.
pub(super) async fn revocation_marks(State(st): State<AppState>) -> ApiResult<Json<Value>> {
    use marimo_platform::auth::revocation::MARKS_WINDOW;
    let since = marimo_platform::clock::unix_now_ms() - MARKS_WINDOW.as_millis() as i64;
    let marks = crate::store::revocations_since(st.db.pool(), since)
        .await
        .map_err(crate::UsersError::from)?;
    Ok(Json(json!({
        "success": true,
        "marks": marks
            .into_iter()
            .map(|(user_id, ms)| json!({"user_id": user_id, "not_before_ms": ms}))
            .collect::<Vec<_>>(),
    })))
}

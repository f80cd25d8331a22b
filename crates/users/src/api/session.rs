//! Credentials and sessions: register, login, refresh, logout and
//! change-password.

use axum::{extract::State, http::StatusCode};
use marimo_platform::{
    ApiError, ApiResult,
    auth::{Caller, MaybeCaller, policy::SignedIn},
    http::{Json, OptionalJson},
    openapi::{Done, ErrorBody},
    tenant::Tenant,
};
use serde::Deserialize;
use utoipa::ToSchema;

use super::{
    AppState, ClientIp, signed_in,
    views::{self, LoginAnswer, Registered, RevocationMark, RevocationMarks, TokenAnswer},
};
use crate::domain;

/// A new account (role `user`). Unknown fields are refused.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"email": "ann@example.com", "password": "Customer-1", "name": "Ann"}))]
pub(super) struct RegisterBody {
    /// Unique, case-insensitive; stored trimmed and lower-cased. At most
    /// 254 characters (`domain::account::EMAIL_MAX_CHARS`).
    #[schema(example = "ann@example.com", format = Email, max_length = 254)]
    email: String,
    /// The password policy (`domain::account::check_password`): 8 to 128
    /// characters with at least one upper-case letter, one lower-case
    /// letter and one digit (any script).
    #[schema(example = "Customer-1", min_length = 8, max_length = 128)]
    password: String,
    /// 1 to 100 characters after trimming, no control characters.
    #[schema(example = "Ann", min_length = 1, max_length = 100)]
    name: String,
}

/// Registers a customer account in the request's tenant (`X-Marimo-Tenant`,
/// else the default tenant).
#[utoipa::path(
    post,
    path = "/api/v1/users/register",
    security(()),
    params(("X-Marimo-Tenant" = Option<String>, Header, description = "The tenant's id (default: `default`).")),
    request_body = RegisterBody,
    responses(
        (status = 201, description = "Registered.", body = Registered),
        (status = 404, description = "No such tenant.", body = ErrorBody),
        (status = 409, description = "The email is taken.", body = ErrorBody),
    ),
)]
pub(super) async fn register(
    State(st): State<AppState>,
    Tenant(tenant): Tenant,
    Json(body): Json<RegisterBody>,
) -> ApiResult<(StatusCode, Json<Registered>)> {
    let user = st
        .register(&tenant, &body.email, &body.name, &body.password)
        .await?;
    Ok((
        StatusCode::CREATED,
        Json(Registered {
            success: true,
            message: "registration successful".to_owned(),
            user: views::user(&user),
        }),
    ))
}

/// Credentials. Unknown fields are refused; only a JSON object is
/// accepted (serde would otherwise take an array of three strings as the
/// three fields).
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields, try_from = "LoginObject")]
#[schema(example = json!({"email": "admin@example.com", "password": "Admin-Passw0rd"}))]
pub(super) struct LoginBody {
    email: String,
    password: String,
    /// The tenant to act in, by slug or id. Absent: the account's
    /// default-tenant membership, else its oldest. Not a member: the same
    /// 401 as a wrong password.
    #[serde(default)]
    #[schema(example = "acme")]
    tenant: Option<String>,
}

/// The login body as a JSON object, before its fields are read.
#[derive(Deserialize)]
#[serde(transparent)]
pub(super) struct LoginObject(serde_json::Map<String, serde_json::Value>);

impl TryFrom<LoginObject> for LoginBody {
    type Error = serde_json::Error;

    fn try_from(LoginObject(map): LoginObject) -> Result<Self, Self::Error> {
        #[derive(Deserialize)]
        #[serde(deny_unknown_fields)]
        struct Fields {
            email: String,
            password: String,
            #[serde(default)]
            tenant: Option<String>,
        }
        let f: Fields = serde_json::from_value(serde_json::Value::Object(map))?;
        Ok(Self {
            email: f.email,
            password: f.password,
            tenant: f.tenant,
        })
    }
}

/// Signs in: an access token and a refresh token (a new session). Repeated
/// failures slow down per account and client address.
#[utoipa::path(
    post,
    path = "/api/v1/users/login",
    security(()),
    request_body = LoginBody,
    responses((status = 200, description = "Signed in.", body = LoginAnswer)),
)]
pub(super) async fn login(
    State(st): State<AppState>,
    ip: ClientIp,
    Json(body): Json<LoginBody>,
) -> ApiResult<Json<LoginAnswer>> {
    let email = domain::normalise_email(&body.email);
    if email.is_empty() || body.password.is_empty() {
        return Err(ApiError::validation("email and password are required"));
    }
    let (user, tenant, tokens) = st
        .login(&email, &body.password, body.tenant.as_deref(), ip.get())
        .await?;
    Ok(Json(LoginAnswer {
        tokens: views::tokens("login successful", tokens),
        user: views::user(&user),
        tenant: views::tenant(&tenant),
    }))
}

/// A refresh token to rotate. Unknown fields are refused.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(super) struct RefreshBody {
    refresh_token: String,
}

/// Rotates a refresh token: a new pair. A used token presented again
/// revokes its whole session (401).
#[utoipa::path(
    post,
    path = "/api/v1/users/refresh",
    security(()),
    request_body = RefreshBody,
    responses((status = 200, description = "Refreshed.", body = TokenAnswer)),
)]
pub(super) async fn refresh(
    State(st): State<AppState>,
    Json(body): Json<RefreshBody>,
) -> ApiResult<Json<TokenAnswer>> {
    let tokens = st.refresh(&body.refresh_token).await?;
    Ok(Json(views::tokens("token refreshed", tokens)))
}

/// What to sign out of. Unknown fields are refused.
#[derive(Deserialize, Default, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"refresh_token": "r1…", "all": false}))]
pub(super) struct LogoutBody {
    /// The session to end.
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
#[utoipa::path(
    post,
    path = "/api/v1/users/logout",
    security((), ("bearer" = [])),
    request_body(content = Option<LogoutBody>, description = "Optional."),
    responses((status = 200, description = "Signed out.", body = Done)),
)]
pub(super) async fn logout(
    State(st): State<AppState>,
    MaybeCaller(caller): MaybeCaller,
    OptionalJson(body): OptionalJson<LogoutBody>,
) -> ApiResult<Json<Done>> {
    st.logout(
        caller.as_ref().map(|c| c.user_id.as_str()),
        body.refresh_token.as_deref(),
        body.all,
    )
    .await?;
    Ok(Json(Done::new(if body.all {
        "logged out of all sessions"
    } else {
        "logged out"
    })))
}

/// The current and the new password. Unknown fields are refused.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(super) struct ChangePasswordBody {
    current_password: String,
    /// The password policy of registration: 8 to 128 characters with an
    /// upper-case letter, a lower-case letter and a digit.
    #[schema(min_length = 8, max_length = 128)]
    new_password: String,
}

/// Changes the caller's password; every other session is signed out and
/// this client gets a new one.
#[utoipa::path(
    post,
    path = "/api/v1/users/change-password",
    request_body = ChangePasswordBody,
    responses((status = 200, description = "Changed; new tokens.", body = TokenAnswer)),
)]
pub(super) async fn change_password(
    State(st): State<AppState>,
    caller: Caller,
    ip: ClientIp,
    Json(body): Json<ChangePasswordBody>,
) -> ApiResult<Json<TokenAnswer>> {
    let record = signed_in::<SignedIn>(&st, &caller).await?;
    let tokens = st
        .change_password(
            &record,
            &caller.tenant,
            &body.current_password,
            &body.new_password,
            ip.get(),
        )
        .await?;
    Ok(Json(views::tokens(
        "password changed; other sessions have been signed out",
        tokens,
    )))
}

/// `GET /internal/revocations`: the revocation marks of the last day (a
/// service starting up reads them; see `platform::auth::revocation`).
/// Only account ids and times: nothing a caller could sign in with.
pub(super) async fn revocation_marks(
    State(st): State<AppState>,
) -> ApiResult<Json<RevocationMarks>> {
    use marimo_platform::auth::revocation::MARKS_WINDOW;
    let since = marimo_platform::clock::unix_now_ms() - MARKS_WINDOW.as_millis() as i64;
    let marks = crate::store::revocations_since(st.db.pool(), since)
        .await
        .map_err(crate::UsersError::from)?;
    Ok(Json(RevocationMarks {
        success: true,
        marks: marks
            .into_iter()
            .map(|(user_id, not_before_ms)| RevocationMark {
                user_id,
                not_before_ms,
            })
            .collect(),
    }))
}

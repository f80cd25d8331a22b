//! HTTP handlers under `/api/users/...`: parse, authorize, call the domain
//! rules and the store, respond. Every error is an [`ApiError`] (the one
//! JSON shape); no handler panics on any input.
//!
//! - [`session`]: register, login, refresh, logout, change-password.
//! - [`accounts`]: profile, list, summary and the admin actions.

use std::{
    net::{IpAddr, SocketAddr},
    sync::Arc,
};

use axum::{
    Router,
    body::Bytes,
    extract::{ConnectInfo, FromRequest, FromRequestParts, Path, Request},
    http::{StatusCode, request::Parts},
    routing::{get, post},
};
use marimo_platform::{
    ApiError, ApiResult, ErrorCode,
    auth::{Caller, JwtKeys, Role, jwt::Identity, password},
    bus::{Envelope, Outbox},
    clock,
    db::Db,
    http::{Json, cache_control},
    ids,
    telemetry::Metrics,
};
use serde::de::DeserializeOwned;
use serde_json::{Value, json};

use crate::{
    UsersError,
    domain::{self, User},
    events, lifetimes,
    observe::{self, TokenType},
    store::{self, UserRecord},
};

mod accounts;
mod session;

#[derive(Clone)]
pub(crate) struct AppState {
    pub db: Db,
    pub jwt: Arc<JwtKeys>,
    pub outbox: Outbox,
    pub metrics: Metrics,
}

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
    ApiError::not_found("no such user")
}

fn hashing(e: password::PasswordError) -> ApiError {
    UsersError::from(e).into()
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

/// The client's address, for audit events: the socket peer, or, when the
/// peer is an internal hop (loopback or private, i.e. the gateway), the
/// address that hop appended to `X-Forwarded-For`.
struct ClientIp(Option<String>);

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
        let ip = match peer {
            Some(p) if internal(p) => forwarded().or(Some(p)),
            other => other,
        };
        Ok(Self(ip.map(|ip| ip.to_string())))
    }
}

/// A JSON body that may also be absent: an empty body is `T::default()`;
/// a non-empty one follows the platform's JSON rules (415 without a JSON
/// content type, 400 when malformed, 413 when too large).
async fn optional_json<T: DeserializeOwned + Default>(req: Request) -> ApiResult<T> {
    let (parts, body) = req.into_parts();
    let bytes = Bytes::from_request(Request::from_parts(parts.clone(), body), &())
        .await
        .map_err(|r| {
            if r.status() == StatusCode::PAYLOAD_TOO_LARGE {
                ApiError::of(ErrorCode::PayloadTooLarge, "the request body is too large")
            } else {
                ApiError::validation(r.body_text())
            }
        })?;
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Ok(T::default());
    }
    let Json(value) =
        Json::<T>::from_request(Request::from_parts(parts, bytes.into()), &()).await?;
    Ok(value)
}

// ------------------------------------------------------------ helpers

/// Stamps an event with the client's address.
fn with_ip(event: Envelope, ip: &ClientIp) -> Envelope {
    match &ip.0 {
        Some(ip) => event.client_ip(ip.clone()),
        None => event,
    }
}

impl AppState {
    /// An access token for `user`, valid for the configured lifetime.
    async fn access_token(&self, user: &User) -> ApiResult<(String, u64)> {
        let ttl = lifetimes::current(&self.db).await?.access;
        observe::count_token(&self.metrics, TokenType::Access);
        Ok(self.jwt.issue_for(
            &Identity {
                user_id: user.id.clone(),
                email: user.email.clone(),
                role: user.role,
            },
            ttl,
        ))
    }

    /// The caller's current account, which must still exist, be active and
    /// hold one of `roles` both in the token and in the database (so a
    /// deactivated or demoted account loses access here at once, not when
    /// its access token expires).
    async fn signed_in(&self, caller: &Caller, roles: &[Role]) -> ApiResult<UserRecord> {
        caller.require(roles)?;
        let record = if ids::is_uuid(&caller.user_id) {
            store::find_by_id(self.db.pool(), &caller.user_id).await?
        } else {
            None
        };
        let Some(record) = record else {
            return Err(ApiError::unauthorized("this account no longer exists"));
        };
        if !record.user.active {
            return Err(ApiError::unauthorized("this account is deactivated"));
        }
        if !roles.contains(&record.user.role) {
            return Err(ApiError::forbidden("your role does not allow this action"));
        }
        Ok(record)
    }

    /// Starts a session (a new refresh-token family) and returns its first
    /// refresh token, publishing `event` in the same transaction. Sessions
    /// of the user that can no longer be used are pruned first.
    async fn start_session(&self, user: &User, event: Option<Envelope>) -> ApiResult<String> {
        let refresh_ttl = lifetimes::current(&self.db).await?.refresh;
        let now = clock::now();
        let now_text = clock::format(now);
        let token = domain::new_refresh_token();
        let family = ids::new_id();
        let mut tx = self.db.begin().await?;
        store::prune_sessions(&mut tx, &user.id, &now_text).await?;
        store::create_family(&mut *tx, &family, &user.id, &now_text).await?;
        store::insert_token(
            &mut *tx,
            &domain::hash_refresh_token(&token),
            &family,
            &now_text,
            &clock::format(now + refresh_ttl),
        )
        .await?;
        if let Some(event) = &event {
            self.outbox.publish(&mut tx, event).await?;
        }
        tx.commit().await?;
        self.outbox.wake();
        observe::count_token(&self.metrics, TokenType::Refresh);
        Ok(token)
    }

    /// Records a failed sign-in: restarts the delay from now and publishes
    /// `users.user.login_failed`, in one transaction.
    async fn login_failed(
        &self,
        email: &str,
        failures: i64,
        reason: events::FailReason,
        ip: &ClientIp,
    ) -> ApiResult<()> {
        let mut tx = self.db.begin().await?;
        store::throttle_failed(&mut *tx, email, failures, clock::now()).await?;
        self.outbox
            .publish(&mut tx, &with_ip(events::login_failed(email, reason), ip))
            .await?;
        tx.commit().await?;
        self.outbox.wake();
        Ok(())
    }

    /// Upgrades a legacy or weaker hash after a successful sign-in; a
    /// failure only costs the upgrade, never the sign-in.
    async fn rehash(&self, record: &UserRecord, password: &str) {
        let result = async {
            let new = password::hash(password).await.map_err(|e| e.to_string())?;
            store::replace_password_hash(
                self.db.pool(),
                &record.user.id,
                &record.password_hash,
                &new,
            )
            .await
            .map_err(|e| e.to_string())
        }
        .await;
        match result {
            Ok(_) => tracing::info!(user_id = %record.user.id, "password hash upgraded"),
            Err(error) => {
                tracing::warn!(user_id = %record.user.id, %error, "password rehash failed")
            }
        }
    }
}

/// The body of every answer that hands out tokens.
fn token_body(message: &str, access: (String, u64), refresh_token: String) -> Value {
    json!({
        "success": true,
        "message": message,
        "access_token": access.0,
        "refresh_token": refresh_token,
        "expires_in": access.1,
        "token_type": "Bearer",
    })
}

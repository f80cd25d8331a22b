//! Credentials and sessions: register, login, refresh, logout and
//! change-password.

use axum::{
    extract::{Request, State},
    http::StatusCode,
};
use marimo_platform::{
    ApiError, ApiResult,
    auth::{Caller, MaybeCaller, Role, password},
    clock,
    http::Json,
};
use serde::Deserialize;
use serde_json::{Value, json};

use super::{AppState, ClientIp, hashing, optional_json, token_body, with_ip};
use crate::{
    NewAccount, UsersError,
    domain::{self, Admission},
    events::{self, FailReason},
    lifetimes,
    observe::{self, Attempt, TokenType},
    store,
};

fn bad_credentials() -> ApiError {
    ApiError::unauthorized("invalid email or password")
}

fn too_many_attempts(retry_after_secs: u64) -> ApiError {
    let mut err = ApiError::rate_limited(retry_after_secs);
    err.message = format!("too many failed sign-in attempts; try again in {retry_after_secs} s");
    err
}

fn account_deactivated() -> ApiError {
    ApiError::new(
        StatusCode::FORBIDDEN,
        "ACCOUNT_DEACTIVATED",
        "this account is deactivated; contact an administrator",
    )
}

fn invalid_refresh_token() -> ApiError {
    ApiError::unauthorized("the refresh token is invalid or expired; sign in again")
}

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
    let account = NewAccount {
        email: &body.email,
        name: &body.name,
        password: &body.password,
        role: Role::User,
    };
    let user = crate::create_account(&st.db, &st.outbox, account).await?;
    tracing::info!(user_id = %user.id, "user registered");
    Ok((
        StatusCode::CREATED,
        Json(json!({
            "success": true,
            "message": "registration successful",
            "user": user,
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
    // No account can have such inputs; refuse before hashing them.
    if email.chars().count() > domain::EMAIL_MAX_CHARS
        || body.password.len() > domain::LOGIN_PASSWORD_MAX_BYTES
    {
        return Err(bad_credentials());
    }
    let pool = st.db.pool();
    let failures = match store::throttle_admit(pool, &email, clock::now()).await? {
        Admission::Blocked { retry_after_secs } => {
            observe::count_attempt(&st.metrics, Attempt::Locked);
            return Err(too_many_attempts(retry_after_secs));
        }
        Admission::Admit { failures, .. } => failures,
    };

    // Unknown accounts spend the time of a real check, so the answer and
    // its timing are the same whether or not the email exists.
    let record = store::find_by_email(pool, &email).await?;
    let verdict = match &record {
        Some(r) => password::verify(&body.password, &r.password_hash).await,
        None => password::verify_nothing(&body.password).await,
    }
    .map_err(hashing)?;
    let reason = match &record {
        Some(_) => FailReason::WrongPassword,
        None => FailReason::UnknownEmail,
    };
    let Some(record) = record.filter(|_| verdict.ok) else {
        observe::count_attempt(&st.metrics, Attempt::Failure);
        st.login_failed(&email, failures, reason, &ip).await?;
        return Err(bad_credentials());
    };
    store::throttle_clear(pool, &email).await?;

    // Only the account's owner (right password) learns it is deactivated.
    if !record.user.active {
        observe::count_attempt(&st.metrics, Attempt::Inactive);
        let event = with_ip(events::login_failed(&email, FailReason::Deactivated), &ip);
        let mut tx = st.db.begin().await?;
        st.outbox.publish(&mut tx, &event).await?;
        tx.commit().await?;
        st.outbox.wake();
        return Err(account_deactivated());
    }
    if verdict.needs_rehash {
        st.rehash(&record, &body.password).await;
    }
    let event = with_ip(events::logged_in(&record.user), &ip);
    let refresh_token = st.start_session(&record.user, Some(event)).await?;
    observe::count_attempt(&st.metrics, Attempt::Success);
    let mut body = token_body(
        "login successful",
        st.access_token(&record.user).await?,
        refresh_token,
    );
    body["user"] = json!(record.user);
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
    if !domain::plausible_refresh_token(&body.refresh_token) {
        return Err(invalid_refresh_token());
    }
    let hash = domain::hash_refresh_token(&body.refresh_token);
    // Read before the transaction: it must not wait for a second
    // connection while holding the write lock.
    let refresh_ttl = lifetimes::current(&st.db).await?.refresh;
    let now = clock::now();
    let now_text = clock::format(now);

    let mut tx = st.db.begin().await?;
    let Some(token) = store::find_token(&mut *tx, &hash).await? else {
        return Err(invalid_refresh_token());
    };
    if token.family_revoked {
        return Err(ApiError::unauthorized(
            "this session has been revoked; sign in again",
        ));
    }
    if token.used {
        return Err(reuse_detected(tx, &token, &now_text).await);
    }
    if token.expires_at <= now {
        return Err(invalid_refresh_token());
    }
    if !token.user.active {
        return Err(ApiError::unauthorized("this account is deactivated"));
    }
    // The one guard against concurrent refreshes of the same token: only
    // the request whose conditional UPDATE marks it gets a new one; the
    // others were racing a rotation and are treated as reuse.
    if !store::mark_token_used(&mut *tx, &hash, &now_text).await? {
        return Err(reuse_detected(tx, &token, &now_text).await);
    }
    let next = domain::new_refresh_token();
    store::insert_token(
        &mut *tx,
        &domain::hash_refresh_token(&next),
        &token.family_id,
        &now_text,
        &clock::format(now + refresh_ttl),
    )
    .await?;
    tx.commit().await?;
    observe::count_token(&st.metrics, TokenType::Refresh);
    Ok(Json(token_body(
        "token refreshed",
        st.access_token(&token.user).await?,
        next,
    )))
}

/// A used refresh token presented again means it leaked (or a client raced
/// itself): the whole family is revoked, so the thief's copy and the
/// owner's newer token both stop working.
async fn reuse_detected(
    mut tx: marimo_platform::db::Tx,
    token: &store::TokenRecord,
    now: &str,
) -> ApiError {
    let revoked = async {
        store::revoke_family(&mut *tx, &token.family_id, now).await?;
        tx.commit().await
    }
    .await;
    if let Err(e) = revoked {
        return e.into();
    }
    tracing::warn!(
        user_id = %token.user.id,
        family_id = %token.family_id,
        "refresh token reused; session family revoked"
    );
    ApiError::unauthorized(
        "this refresh token was already used; the session has been revoked, sign in again",
    )
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
    req: Request,
) -> ApiResult<Json<Value>> {
    let body: LogoutBody = optional_json(req).await?;
    let now = clock::now();
    let now_text = clock::format(now);

    let token = match body
        .refresh_token
        .as_deref()
        .filter(|t| domain::plausible_refresh_token(t))
    {
        Some(t) => store::find_token(st.db.pool(), &domain::hash_refresh_token(t)).await?,
        None => None,
    };

    if body.all {
        let owner = match (&caller, &token) {
            (Some(c), _) => Some(c.user_id.clone()),
            (None, Some(t)) if !t.used && !t.family_revoked && t.expires_at > now => {
                Some(t.user.id.clone())
            }
            _ => None,
        };
        let Some(user_id) = owner else {
            return Err(ApiError::unauthorized(
                "signing out everywhere needs a valid bearer token",
            ));
        };
        let mut tx = st.db.begin().await?;
        if let Some(t) = &token {
            store::revoke_family(&mut *tx, &t.family_id, &now_text).await?;
        }
        let n = store::revoke_user_families(&mut *tx, &user_id, &now_text).await?;
        tx.commit().await?;
        tracing::info!(%user_id, sessions = n, "signed out everywhere");
        return Ok(Json(json!({
            "success": true,
            "message": "logged out of all sessions",
        })));
    }

    if let Some(t) = &token {
        store::revoke_family(st.db.pool(), &t.family_id, &now_text).await?;
    }
    Ok(Json(json!({ "success": true, "message": "logged out" })))
}

#[derive(Deserialize)]
pub(super) struct ChangePasswordBody {
    current_password: String,
    new_password: String,
}

/// Changes the caller's password. The current password is checked under
/// the same brute-force protection as sign-in (a stolen access token must
/// not become a password oracle); on success every session is revoked and
/// a new one is started for this client.
pub(super) async fn change_password(
    State(st): State<AppState>,
    caller: Caller,
    ip: ClientIp,
    Json(body): Json<ChangePasswordBody>,
) -> ApiResult<Json<Value>> {
    let record = st.signed_in(&caller, &Role::ALL).await?;
    domain::check_password(&body.new_password).map_err(|mut e| {
        e.field = "new_password";
        UsersError::from(e)
    })?;
    if body.new_password == body.current_password {
        return Err(
            ApiError::validation("the new password must differ from the current one")
                .with_details(json!({"field": "new_password", "rule": "unchanged"})),
        );
    }
    if body.current_password.len() > domain::LOGIN_PASSWORD_MAX_BYTES {
        return Err(wrong_current_password());
    }
    let email = &record.user.email;
    let pool = st.db.pool();
    let failures = match store::throttle_admit(pool, email, clock::now()).await? {
        Admission::Blocked { retry_after_secs } => return Err(too_many_attempts(retry_after_secs)),
        Admission::Admit { failures, .. } => failures,
    };
    let verdict = password::verify(&body.current_password, &record.password_hash)
        .await
        .map_err(hashing)?;
    if !verdict.ok {
        st.login_failed(email, failures, FailReason::WrongCurrentPassword, &ip)
            .await?;
        return Err(wrong_current_password());
    }
    store::throttle_clear(pool, email).await?;

    let new_hash = password::hash(&body.new_password).await.map_err(hashing)?;
    let now = clock::now_text();
    let mut tx = st.db.begin().await?;
    if !store::change_password(
        &mut *tx,
        &record.user.id,
        &record.password_hash,
        &new_hash,
        &now,
    )
    .await?
    {
        return Err(ApiError::conflict(
            "the password was changed meanwhile; sign in again",
        ));
    }
    store::revoke_user_families(&mut *tx, &record.user.id, &now).await?;
    let event = with_ip(events::password_changed(&record.user), &ip);
    st.outbox.publish(&mut tx, &event).await?;
    tx.commit().await?;
    st.outbox.wake();
    tracing::info!(user_id = %record.user.id, "password changed");

    let refresh_token = st.start_session(&record.user, None).await?;
    Ok(Json(token_body(
        "password changed; other sessions have been signed out",
        st.access_token(&record.user).await?,
        refresh_token,
    )))
}

fn wrong_current_password() -> ApiError {
    ApiError::forbidden("the current password is incorrect")
        .with_details(json!({"field": "current_password"}))
}

//! Accounts: the caller's profile, the user list and summary, and the admin
//! actions (assign a role, deactivate, reactivate).

use axum::extract::State;
use marimo_contracts::{Success, users as contract};
use marimo_platform::{
    ApiError, ApiResult,
    auth::{
        Caller, Role,
        policy::{AccountReaders, Admins, SignedIn, Staff},
    },
    http::{Json, Page, Query},
};
use serde::Deserialize;
use serde_json::{Value, json};

use super::{AppState, ClientIp, UserId, signed_in, views};

/// The signed-in user, at the top level of the body (as the original API).
pub(super) async fn profile(State(st): State<AppState>, caller: Caller) -> ApiResult<Json<Value>> {
    let record = signed_in::<SignedIn>(&st, &caller).await?;
    let mut body = views::user(&record.user);
    body["success"] = Value::Bool(true);
    Ok(Json(body))
}

#[derive(Deserialize)]
pub(super) struct ListQuery {
    /// Case-insensitive substring of the email or the name.
    q: Option<String>,
}

const SEARCH_MAX_CHARS: usize = 200;

pub(super) async fn list(
    State(st): State<AppState>,
    caller: Caller,
    Query(page): Query<Page>,
    Query(query): Query<ListQuery>,
) -> ApiResult<Json<Value>> {
    signed_in::<AccountReaders>(&st, &caller).await?;
    let (page, limit, offset) = page.resolve()?;
    let q = query.q.as_deref().map(str::trim).filter(|q| !q.is_empty());
    if q.is_some_and(|q| q.chars().count() > SEARCH_MAX_CHARS) {
        return Err(ApiError::validation(format!(
            "q must be at most {SEARCH_MAX_CHARS} characters"
        ))
        .with_details(json!({"field": "q"})));
    }
    let (users, total) = st.list(q, limit, offset).await?;
    Ok(Json(json!({
        "success": true,
        "users": users.iter().map(views::user).collect::<Vec<_>>(),
        "total": total,
        "page": page,
        "limit": limit,
    })))
}

/// Counts for the dashboard; every role appears in `by_role`, zero or not.
pub(super) async fn summary(
    State(st): State<AppState>,
    caller: Caller,
) -> ApiResult<Json<Success<contract::Summary>>> {
    signed_in::<Staff>(&st, &caller).await?;
    let sum = st.summary().await?;
    let by_role = sum
        .by_role
        .iter()
        .map(|(role, n)| (role.as_str().to_owned(), *n))
        .collect();
    Ok(Json(Success::new(contract::Summary {
        total_users: sum.total_users,
        active_users: sum.active_users,
        by_role,
    })))
}

#[derive(Deserialize)]
pub(super) struct AssignRoleBody {
    user_id: String,
    role: String,
}

pub(super) async fn assign_role(
    State(st): State<AppState>,
    caller: Caller,
    ip: ClientIp,
    Json(body): Json<AssignRoleBody>,
) -> ApiResult<Json<Value>> {
    let admin = signed_in::<Admins>(&st, &caller).await?.user;
    let role: Role = body.role.parse().map_err(|msg: String| {
        let allowed: Vec<&str> = Role::ALL.iter().map(|r| r.as_str()).collect();
        ApiError::validation(msg).with_details(json!({"field": "role", "allowed": allowed}))
    })?;
    let target = st
        .assign_role(&admin, &body.user_id, role, ip.get())
        .await?;
    Ok(Json(json!({
        "success": true,
        "message": format!("role of {} is now {role}", target.email),
    })))
}

pub(super) async fn deactivate(
    State(st): State<AppState>,
    caller: Caller,
    ip: ClientIp,
    UserId(id): UserId,
) -> ApiResult<Json<Value>> {
    let admin = signed_in::<Admins>(&st, &caller).await?.user;
    st.deactivate(&admin, &id, ip.get()).await?;
    Ok(Json(json!({
        "success": true,
        "message": "user deactivated; their sessions have been revoked",
    })))
}

pub(super) async fn reactivate(
    State(st): State<AppState>,
    caller: Caller,
    ip: ClientIp,
    UserId(id): UserId,
) -> ApiResult<Json<Value>> {
    let admin = signed_in::<Admins>(&st, &caller).await?.user;
    st.reactivate(&admin, &id, ip.get()).await?;
    Ok(Json(
        json!({ "success": true, "message": "user reactivated" }),
    ))
}

//! Accounts: the caller's profile, the user list and summary, and the admin
//! actions (assign a role, deactivate, reactivate).

use axum::extract::State;
use marimo_contracts::{Success, users as contract};
use marimo_platform::{
    ApiError, ApiResult,
    auth::{Caller, Role},
    clock,
    http::{Json, Query, extract::Page},
    ids,
};
use serde::Deserialize;
use serde_json::{Value, json};

use super::{AppState, ClientIp, UserId, no_such_user, with_ip};
use crate::{domain, events, store};

/// The signed-in user, at the top level of the body (as the original API).
pub(super) async fn profile(State(st): State<AppState>, caller: Caller) -> ApiResult<Json<Value>> {
    let record = st.signed_in(&caller, &Role::ALL).await?;
    let mut body = json!(record.user);
    body["success"] = Value::Bool(true);
    Ok(Json(body))
}

#[derive(Deserialize)]
pub(super) struct ListQuery {
    page: Option<u32>,
    limit: Option<u32>,
    /// Case-insensitive substring of the email or the name.
    q: Option<String>,
}

const SEARCH_MAX_CHARS: usize = 200;

pub(super) async fn list(
    State(st): State<AppState>,
    caller: Caller,
    Query(query): Query<ListQuery>,
) -> ApiResult<Json<Value>> {
    st.signed_in(&caller, &[Role::Admin, Role::Manager]).await?;
    let (page, limit, offset) = Page {
        page: query.page,
        limit: query.limit,
    }
    .resolve()?;
    let q = query.q.as_deref().map(str::trim).filter(|q| !q.is_empty());
    if q.is_some_and(|q| q.chars().count() > SEARCH_MAX_CHARS) {
        return Err(ApiError::validation(format!(
            "q must be at most {SEARCH_MAX_CHARS} characters"
        ))
        .with_details(json!({"field": "q"})));
    }
    let pattern = q.map(domain::contains_pattern);
    let (users, total) = store::list_users(st.db.pool(), pattern.as_deref(), limit, offset).await?;
    Ok(Json(json!({
        "success": true,
        "users": users,
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
    st.signed_in(
        &caller,
        &[
            Role::Admin,
            Role::Manager,
            Role::Accountant,
            Role::ShopManager,
        ],
    )
    .await?;
    let counts = store::role_counts(st.db.pool()).await?;
    let by_role = Role::ALL
        .iter()
        .map(|role| {
            let n: i64 = counts
                .iter()
                .filter(|(r, _, _)| r == role)
                .map(|(_, _, n)| n)
                .sum();
            (role.as_str().to_owned(), n)
        })
        .collect();
    let total_users: i64 = counts.iter().map(|(_, _, n)| n).sum();
    let active_users: i64 = counts
        .iter()
        .filter(|(_, a, _)| *a)
        .map(|(_, _, n)| n)
        .sum();
    Ok(Json(Success::new(contract::Summary {
        total_users,
        active_users,
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
    let admin = st.signed_in(&caller, &[Role::Admin]).await?.user;
    let role: Role = body.role.parse().map_err(|msg: String| {
        let allowed: Vec<&str> = Role::ALL.iter().map(|r| r.as_str()).collect();
        ApiError::validation(msg).with_details(json!({"field": "role", "allowed": allowed}))
    })?;
    if !ids::is_uuid(&body.user_id) {
        return Err(no_such_user());
    }
    // The last admin could otherwise demote themself and leave nobody able
    // to administer the system.
    if body.user_id == admin.id && role != Role::Admin {
        return Err(ApiError::conflict("you cannot change your own role"));
    }
    let now = clock::now_text();
    let mut tx = st.db.begin().await?;
    let Some(target) = store::find_by_id(&mut *tx, &body.user_id).await? else {
        return Err(no_such_user());
    };
    let old = target.user.role;
    if old != role {
        store::set_role(&mut *tx, &target.user.id, role, &now).await?;
        let event = with_ip(
            events::role_changed(&target.user, old, role, &admin.id),
            &ip,
        );
        st.outbox.publish(&mut tx, &event).await?;
        tx.commit().await?;
        st.outbox.wake();
        tracing::info!(by = %admin.id, user_id = %target.user.id, %old, new = %role, "role assigned");
    }
    Ok(Json(json!({
        "success": true,
        "message": format!("role of {} is now {role}", target.user.email),
    })))
}

pub(super) async fn deactivate(
    State(st): State<AppState>,
    caller: Caller,
    ip: ClientIp,
    UserId(id): UserId,
) -> ApiResult<Json<Value>> {
    let admin = st.signed_in(&caller, &[Role::Admin]).await?.user;
    if id == admin.id {
        return Err(ApiError::conflict("you cannot deactivate your own account"));
    }
    let now = clock::now_text();
    let mut tx = st.db.begin().await?;
    let Some(target) = store::find_by_id(&mut *tx, &id).await? else {
        return Err(no_such_user());
    };
    // Idempotent: sessions are revoked every time, the event only on change.
    if target.user.active {
        store::set_active(&mut *tx, &id, false, &now).await?;
        let event = with_ip(events::deactivated(&target.user, &admin.id), &ip);
        st.outbox.publish(&mut tx, &event).await?;
    }
    let sessions = store::revoke_user_families(&mut *tx, &id, &now).await?;
    tx.commit().await?;
    st.outbox.wake();
    tracing::info!(by = %admin.id, user_id = %id, sessions, "user deactivated");
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
    let admin = st.signed_in(&caller, &[Role::Admin]).await?.user;
    let mut tx = st.db.begin().await?;
    let Some(target) = store::find_by_id(&mut *tx, &id).await? else {
        return Err(no_such_user());
    };
    if !target.user.active {
        store::set_active(&mut *tx, &id, true, &clock::now_text()).await?;
        let event = with_ip(events::reactivated(&target.user, &admin.id), &ip);
        st.outbox.publish(&mut tx, &event).await?;
        tx.commit().await?;
        st.outbox.wake();
        tracing::info!(by = %admin.id, user_id = %id, "user reactivated");
    }
    Ok(Json(
        json!({ "success": true, "message": "user reactivated" }),
    ))
}

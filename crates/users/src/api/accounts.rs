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
    openapi::{Done, ErrorBody, PageFields},
};
use serde::Deserialize;
use serde_json::json;
use utoipa::{IntoParams, ToSchema};

use super::{
    AppState, ClientIp, UserId, signed_in,
    views::{self, Profile, UserList},
};

/// The signed-in user, at the top level of the body (as the original API).
#[utoipa::path(
    get,
    path = "/api/v1/users/profile",
    responses((status = 200, description = "The caller's account.", body = Profile)),
)]
pub(super) async fn profile(
    State(st): State<AppState>,
    caller: Caller,
) -> ApiResult<Json<Profile>> {
    let record = signed_in::<SignedIn>(&st, &caller).await?;
    Ok(Json(Profile {
        success: true,
        user: views::user(&record.user),
    }))
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub(super) struct ListQuery {
    /// Case-insensitive substring of the email or the name (at most 200
    /// characters).
    #[param(example = "ann")]
    q: Option<String>,
}

const SEARCH_MAX_CHARS: usize = 200;

/// The members of the caller's tenant (with their role there), searched
/// and paged. Admins and managers.
#[utoipa::path(
    get,
    path = "/api/v1/users/list",
    params(Page, ListQuery),
    responses((status = 200, description = "A page of accounts.", body = UserList)),
)]
pub(super) async fn list(
    State(st): State<AppState>,
    caller: Caller,
    Query(page): Query<Page>,
    Query(query): Query<ListQuery>,
) -> ApiResult<Json<UserList>> {
    signed_in::<AccountReaders>(&st, &caller).await?;
    let (page, limit, offset) = page.resolve()?;
    let q = query.q.as_deref().map(str::trim).filter(|q| !q.is_empty());
    if q.is_some_and(|q| q.chars().count() > SEARCH_MAX_CHARS) {
        return Err(ApiError::validation(format!(
            "q must be at most {SEARCH_MAX_CHARS} characters"
        ))
        .with_details(json!({"field": "q"})));
    }
    let (users, total) = st.list(&caller.tenant, q, limit, offset).await?;
    Ok(Json(UserList {
        success: true,
        users: users.iter().map(views::user).collect(),
        page: PageFields { total, page, limit },
    }))
}

/// Counts for the dashboard; every role appears in `by_role`, zero or not.
/// Staff.
#[utoipa::path(
    get,
    path = "/api/v1/users/summary",
    responses((status = 200, description = "The counts.", body = Success<contract::Summary>)),
)]
pub(super) async fn summary(
    State(st): State<AppState>,
    caller: Caller,
) -> ApiResult<Json<Success<contract::Summary>>> {
    signed_in::<Staff>(&st, &caller).await?;
    let sum = st.summary(&caller.tenant).await?;
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

/// Whose role, and which. Unknown fields are refused.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"user_id": "0192f1c4-0000-7000-8000-000000000001", "role": "accountant"}))]
pub(super) struct AssignRoleBody {
    user_id: String,
    #[schema(value_type = Role)]
    role: String,
}

/// Gives a member of the caller's tenant a role there; their sessions are
/// revoked. Admins only; a user of another tenant is 404.
#[utoipa::path(
    post,
    path = "/api/v1/users/admin/assign-role",
    request_body = AssignRoleBody,
    responses(
        (status = 200, description = "Assigned.", body = Done),
        (status = 409, description = "The last active admin cannot lose the role.", body = ErrorBody),
    ),
)]
pub(super) async fn assign_role(
    State(st): State<AppState>,
    caller: Caller,
    ip: ClientIp,
    Json(body): Json<AssignRoleBody>,
) -> ApiResult<Json<Done>> {
    let admin = signed_in::<Admins>(&st, &caller).await?.user;
    let role: Role = body.role.parse().map_err(|msg: String| {
        let allowed: Vec<&str> = Role::ALL.iter().map(|r| r.as_str()).collect();
        ApiError::validation(msg).with_details(json!({"field": "role", "allowed": allowed}))
    })?;
    let target = st
        .assign_role(&admin, &caller.tenant, &body.user_id, role, ip.get())
        .await?;
    Ok(Json(Done::new(format!(
        "role of {} is now {role}",
        target.email
    ))))
}

/// Deactivates a member of the caller's tenant: they cannot sign in to it
/// and their sessions there are revoked. Admins only.
#[utoipa::path(
    post,
    path = "/api/v1/users/admin/users/{id}/deactivate",
    params(("id" = String, Path, description = "The account's id.")),
    responses(
        (status = 200, description = "Deactivated.", body = Done),
        (status = 409, description = "The last active admin cannot be deactivated.", body = ErrorBody),
    ),
)]
pub(super) async fn deactivate(
    State(st): State<AppState>,
    caller: Caller,
    ip: ClientIp,
    UserId(id): UserId,
) -> ApiResult<Json<Done>> {
    let admin = signed_in::<Admins>(&st, &caller).await?.user;
    st.deactivate(&admin, &caller.tenant, &id, ip.get()).await?;
    Ok(Json(Done::new(
        "user deactivated; their sessions have been revoked",
    )))
}

/// Reactivates a member of the caller's tenant. Admins only.
#[utoipa::path(
    post,
    path = "/api/v1/users/admin/users/{id}/reactivate",
    params(("id" = String, Path, description = "The account's id.")),
    responses((status = 200, description = "Reactivated.", body = Done)),
)]
pub(super) async fn reactivate(
    State(st): State<AppState>,
    caller: Caller,
    ip: ClientIp,
    UserId(id): UserId,
) -> ApiResult<Json<Done>> {
    let admin = signed_in::<Admins>(&st, &caller).await?.user;
    st.reactivate(&admin, &caller.tenant, &id, ip.get()).await?;
    Ok(Json(Done::new("user reactivated")))
}

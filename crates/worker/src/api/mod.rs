//! HTTP handlers: parse, authorize, call the store, respond (`views`).
//! Under `/api/v1` (the unversioned `/api/...` paths are deprecated
//! aliases, as for every service):
//!
//! - `GET  /api/v1/audit` (admin): the audit log, filtered and paged.
//! - `GET  /api/v1/notifications` (signed in): own and role notifications.
//! - `POST /api/v1/notifications/{id}/read`, `POST /api/v1/notifications/read-all`.
//! - `/api/v1/notifications/webhooks...` (admin): see [`webhooks`].
//! - `GET  /api/v1/worker/summary` (admin): backlog and failure counts.
//! - `GET  /api/v1/worker/dead-letters` (operators: admins of the default
//!   tenant, see `operator`): every queue with its number
//!   of dead letters; `GET /api/v1/worker/dead-letters/{queue}`: its dead
//!   letters (event, reason, error, first failure, attempts);
//!   `POST /api/v1/worker/dead-letters/{queue}/replay` (`{"ids": [...]}` or
//!   no body for all): sends them back to be consumed again.
//!
//! The routes are registered with their OpenAPI entries (`utoipa-axum`),
//! served at `/api/v1/worker/openapi.json`.

mod views;
mod webhooks;

use axum::extract::{Path, State};
use marimo_platform::{
    ApiError, ApiResult, TimeRange,
    auth::{
        Authorized, Caller,
        policy::{Admins, Operators},
    },
    clock,
    db::Db,
    http::{Json, OptionalJson, Page, Query},
    ids,
    openapi::{self, PageFields},
};
use serde::Deserialize;
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::{router::OpenApiRouter, routes};

use crate::{WorkerError, domain::audit::action_prefix_pattern, store};
use views::{
    AuditPage, DeadLettersAnswer, MarkedAllRead, MarkedRead, NotificationPage, QueuesAnswer,
    ReplayedAnswer, SummaryAnswer,
};

#[derive(Clone)]
pub struct AppState {
    pub db: Db,
    pub dead_letters: crate::app::dead_letters::Tool,
    /// Networks webhooks may go to although they are not public.
    pub webhook_allow: crate::domain::destination::Allowlist,
}

/// The service's routes with their OpenAPI document (`utoipa-axum`: a
/// route and its spec entry are registered together).
pub fn routes(state: AppState) -> OpenApiRouter {
    OpenApiRouter::with_openapi(openapi::document(
        "worker",
        "The audit log (admins), notifications for users and roles, webhooks that receive the system's events (admins), and the worker's backlog. Its paths are `/api/v1/audit`, `/api/v1/notifications/...` and `/api/v1/worker/...`.",
    ))
    .routes(routes!(audit_log))
    .routes(routes!(notifications))
    .routes(routes!(read_all))
    .routes(routes!(read_one))
    .routes(routes!(webhooks::create, webhooks::list))
    .routes(routes!(webhooks::remove))
    .routes(routes!(webhooks::deliveries))
    .routes(routes!(summary))
    .routes(routes!(dead_letter_queues))
    .routes(routes!(dead_letters))
    .routes(routes!(replay_dead_letters))
    .with_state(state)
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
struct AuditQuery {
    /// Only what this user did (their id).
    actor: Option<String>,
    /// Only this action and every action below it: `shop.order` (also
    /// written `shop.order.` or `shop.order.*`) matches
    /// `shop.order.placed`.
    #[param(example = "shop.order")]
    action: Option<String>,
    /// Only what was done to this (an id).
    target: Option<String>,
    /// Occurred at or after: RFC 3339, or a date (`YYYY-MM-DD`, from its
    /// start).
    #[param(example = "2026-12-01")]
    from: Option<String>,
    /// Occurred at or before: RFC 3339, or a date (that whole day).
    #[param(example = "2026-12-31")]
    to: Option<String>,
}

fn text_filter(v: Option<String>) -> String {
    v.map(|s| s.trim().to_owned()).unwrap_or_default()
}

/// The audit log, newest first, a page at a time. Admins only.
#[utoipa::path(
    get,
    path = "/api/v1/audit",
    tag = "worker",
    params(AuditQuery, Page),
    responses((status = 200, description = "A page of entries.", body = AuditPage)),
)]
async fn audit_log(
    State(st): State<AppState>,
    caller: Authorized<Admins>,
    Query(page): Query<Page>,
    Query(q): Query<AuditQuery>,
) -> ApiResult<Json<AuditPage>> {
    let (page, limit, offset) = page.resolve()?;
    // `shop.order`, `shop.order.` and `shop.order.*` all mean "this action
    // and every action below it".
    let action = text_filter(q.action);
    let action = action
        .strip_suffix(".*")
        .or_else(|| action.strip_suffix(".#"))
        .unwrap_or(&action)
        .trim_end_matches('.')
        .to_owned();
    let range = TimeRange::parse(q.from.as_deref(), q.to.as_deref())?;
    let filter = store::audit::Filter {
        actor: text_filter(q.actor),
        action_prefix: if action.is_empty() {
            String::new()
        } else {
            action_prefix_pattern(&action)
        },
        action,
        target: text_filter(q.target),
        from: range.start_text().unwrap_or_default(),
        until: range.end_text().unwrap_or_default(),
    };
    let (entries, total) =
        store::audit::list(&st.db, &caller.tenant, &filter, i64::from(limit), offset).await?;
    Ok(Json(AuditPage {
        success: true,
        entries: entries.iter().map(views::audit_entry).collect(),
        page: PageFields { total, page, limit },
    }))
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
struct NotificationQuery {
    /// Only unread ones (default false).
    #[serde(default)]
    unread_only: bool,
}

/// The caller's notifications and their role's, newest first.
#[utoipa::path(
    get,
    path = "/api/v1/notifications",
    tag = "worker",
    params(NotificationQuery, Page),
    responses((status = 200, description = "A page of notifications.", body = NotificationPage)),
)]
async fn notifications(
    State(st): State<AppState>,
    caller: Caller,
    Query(page): Query<Page>,
    Query(q): Query<NotificationQuery>,
) -> ApiResult<Json<NotificationPage>> {
    let (page, limit, offset) = page.resolve()?;
    let listing = store::notifications::list(
        &st.db,
        &caller.tenant,
        &caller.user_id,
        caller.role.as_str(),
        q.unread_only,
        i64::from(limit),
        offset,
    )
    .await?;
    Ok(Json(NotificationPage {
        success: true,
        notifications: listing.items.iter().map(views::notification).collect(),
        unread_count: listing.unread,
        page: PageFields {
            total: listing.total,
            page,
            limit,
        },
    }))
}

/// Marks one of the caller's (or their role's) notifications read.
#[utoipa::path(
    post,
    path = "/api/v1/notifications/{id}/read",
    tag = "worker",
    params(("id" = String, Path, description = "The notification's id.")),
    responses((status = 200, description = "Read.", body = MarkedRead)),
)]
async fn read_one(
    State(st): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> ApiResult<Json<MarkedRead>> {
    let not_found = || ApiError::from(WorkerError::NotFound("no such notification"));
    if !ids::is_uuid(&id) {
        return Err(not_found());
    }
    let found = store::notifications::mark_read(
        &st.db,
        &caller.tenant,
        &id,
        &caller.user_id,
        caller.role.as_str(),
        &clock::now_text(),
    )
    .await?;
    if !found {
        // Someone else's notification answers like a missing one.
        return Err(not_found());
    }
    Ok(Json(MarkedRead {
        success: true,
        id,
        read: true,
    }))
}

/// Marks every notification of the caller (and their role's) read.
#[utoipa::path(
    post,
    path = "/api/v1/notifications/read-all",
    tag = "worker",
    responses((status = 200, description = "Read.", body = MarkedAllRead)),
)]
async fn read_all(State(st): State<AppState>, caller: Caller) -> ApiResult<Json<MarkedAllRead>> {
    let marked = store::notifications::mark_all_read(
        &st.db,
        &caller.tenant,
        &caller.user_id,
        caller.role.as_str(),
        &clock::now_text(),
    )
    .await?;
    Ok(Json(MarkedAllRead {
        success: true,
        marked,
    }))
}

/// The worker's backlog and failures. Admins only.
#[utoipa::path(
    get,
    path = "/api/v1/worker/summary",
    tag = "worker",
    responses((status = 200, description = "The counts.", body = SummaryAnswer)),
)]
async fn summary(
    State(st): State<AppState>,
    caller: Authorized<Admins>,
) -> ApiResult<Json<SummaryAnswer>> {
    let s = store::summary::summary(&st.db, &caller.tenant).await?;
    Ok(Json(SummaryAnswer {
        success: true,
        summary: views::summary(&s),
    }))
}

// Dead letters are operator-level (`Operators`: admins of the default
// tenant, the installation's first business, whose admins run it). The
// bus's dead letters are a system table of every tenant's events (one
// queue per consuming service, not per tenant), and a replay re-runs
// another service's consumer: operating the installation, not a business.

/// Every queue with the number of dead letters it holds. Operators only.
#[utoipa::path(
    get,
    path = "/api/v1/worker/dead-letters",
    tag = "worker",
    responses((status = 200, description = "The queues.", body = QueuesAnswer)),
)]
async fn dead_letter_queues(
    State(st): State<AppState>,
    _: Authorized<Operators>,
) -> ApiResult<Json<QueuesAnswer>> {
    let queues = st.dead_letters.queues().await?;
    Ok(Json(QueuesAnswer {
        success: true,
        total: queues.iter().map(|q| q.depth).sum(),
        queues: queues.iter().map(views::queue_depth).collect(),
    }))
}

/// The dead letters of one queue, with why each was given up on. Admins
/// only.
#[utoipa::path(
    get,
    path = "/api/v1/worker/dead-letters/{queue}",
    tag = "worker",
    params(("queue" = String, Path, description = "A consuming service's queue, e.g. `accounting`.")),
    responses(
        (status = 200, description = "Its dead letters.", body = DeadLettersAnswer),
        (status = 404, description = "No such queue.", body = openapi::ErrorBody),
    ),
)]
async fn dead_letters(
    State(st): State<AppState>,
    _: Authorized<Operators>,
    Path(queue): Path<String>,
) -> ApiResult<Json<DeadLettersAnswer>> {
    let letters = st.dead_letters.list(&queue).await?;
    Ok(Json(DeadLettersAnswer {
        success: true,
        total: letters.len(),
        dead_letters: letters.iter().map(views::dead_letter).collect(),
        queue,
    }))
}

/// `{"ids": [...]}` replays those events; no body (or no `ids`) replays
/// every dead letter of the queue. Unknown fields are refused.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct ReplayRequest {
    /// The event ids to replay (at least one); absent: all of them.
    ids: Option<Vec<String>>,
}

/// Sends dead letters back to their queue to be consumed again. Admins
/// only.
#[utoipa::path(
    post,
    path = "/api/v1/worker/dead-letters/{queue}/replay",
    tag = "worker",
    params(("queue" = String, Path, description = "A consuming service's queue, e.g. `accounting`.")),
    request_body(content = Option<ReplayRequest>, description = "Which events; no body replays all."),
    responses(
        (status = 200, description = "Replayed.", body = ReplayedAnswer),
        (status = 404, description = "No such queue.", body = openapi::ErrorBody),
    ),
)]
async fn replay_dead_letters(
    State(st): State<AppState>,
    _: Authorized<Operators>,
    Path(queue): Path<String>,
    OptionalJson(req): OptionalJson<ReplayRequest>,
) -> ApiResult<Json<ReplayedAnswer>> {
    if req.ids.as_ref().is_some_and(Vec::is_empty) {
        return Err(ApiError::validation("ids must name at least one event")
            .with_details(serde_json::json!({"field": "ids"})));
    }
    let replayed = st.dead_letters.replay(&queue, req.ids.as_deref()).await?;
    Ok(Json(ReplayedAnswer {
        success: true,
        queue,
        replayed,
    }))
}

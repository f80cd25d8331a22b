//! HTTP handlers: parse, authorize, call the store, respond (`views`).
//!
//! - `GET  /api/audit` (admin): the audit log, filtered and paged.
//! - `GET  /api/notifications` (signed in): own and role notifications.
//! - `POST /api/notifications/{id}/read`, `POST /api/notifications/read-all`.
//! - `/api/notifications/webhooks...` (admin): see [`webhooks`].
//! - `GET  /api/worker/summary` (admin): backlog and failure counts.
//! - `GET  /api/worker/dead-letters` (admin): every queue with its number
//!   of dead letters; `GET /api/worker/dead-letters/{queue}`: its dead
//!   letters (event, reason, error, first failure, attempts);
//!   `POST /api/worker/dead-letters/{queue}/replay` (`{"ids": [...]}` or
//!   no body for all): sends them back to be consumed again.

mod views;
mod webhooks;

use axum::{
    Router,
    extract::{Path, State},
    routing::{delete, get, post},
};
use marimo_platform::{
    ApiError, ApiResult, TimeRange,
    auth::{Authorized, Caller, policy::Admins},
    clock,
    db::Db,
    http::{Json, OptionalJson, Page, Query},
    ids,
};
use serde::Deserialize;
use serde_json::{Value, json};

use crate::{WorkerError, domain::audit::action_prefix_pattern, store};

#[derive(Clone)]
pub struct AppState {
    pub db: Db,
    pub dead_letters: crate::app::dead_letters::Tool,
    /// Networks webhooks may go to although they are not public.
    pub webhook_allow: crate::domain::destination::Allowlist,
}

pub fn routes(state: AppState) -> Router {
    Router::new()
        .route("/api/audit", get(audit_log))
        .route("/api/notifications", get(notifications))
        .route("/api/notifications/read-all", post(read_all))
        .route("/api/notifications/{id}/read", post(read_one))
        .route(
            "/api/notifications/webhooks",
            post(webhooks::create).get(webhooks::list),
        )
        .route("/api/notifications/webhooks/{id}", delete(webhooks::remove))
        .route(
            "/api/notifications/webhooks/{id}/deliveries",
            get(webhooks::deliveries),
        )
        .route("/api/worker/summary", get(summary))
        .route("/api/worker/dead-letters", get(dead_letter_queues))
        .route("/api/worker/dead-letters/{queue}", get(dead_letters))
        .route(
            "/api/worker/dead-letters/{queue}/replay",
            post(replay_dead_letters),
        )
        .with_state(state)
}

#[derive(Debug, Deserialize)]
struct AuditQuery {
    actor: Option<String>,
    action: Option<String>,
    target: Option<String>,
    from: Option<String>,
    to: Option<String>,
}

fn text_filter(v: Option<String>) -> String {
    v.map(|s| s.trim().to_owned()).unwrap_or_default()
}

async fn audit_log(
    State(st): State<AppState>,
    _: Authorized<Admins>,
    Query(page): Query<Page>,
    Query(q): Query<AuditQuery>,
) -> ApiResult<Json<Value>> {
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
        store::audit::list(st.db.pool(), &filter, i64::from(limit), offset).await?;
    Ok(Json(json!({
        "success": true,
        "entries": entries.iter().map(views::audit_entry).collect::<Vec<_>>(),
        "total": total,
        "page": page,
        "limit": limit,
    })))
}

#[derive(Debug, Deserialize)]
struct NotificationQuery {
    #[serde(default)]
    unread_only: bool,
}

async fn notifications(
    State(st): State<AppState>,
    caller: Caller,
    Query(page): Query<Page>,
    Query(q): Query<NotificationQuery>,
) -> ApiResult<Json<Value>> {
    let (page, limit, offset) = page.resolve()?;
    let listing = store::notifications::list(
        st.db.pool(),
        &caller.user_id,
        caller.role.as_str(),
        q.unread_only,
        i64::from(limit),
        offset,
    )
    .await?;
    Ok(Json(json!({
        "success": true,
        "notifications": listing.items.iter().map(views::notification).collect::<Vec<_>>(),
        "unread_count": listing.unread,
        "total": listing.total,
        "page": page,
        "limit": limit,
    })))
}

async fn read_one(
    State(st): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> ApiResult<Json<Value>> {
    let not_found = || ApiError::from(WorkerError::NotFound("no such notification"));
    if !ids::is_uuid(&id) {
        return Err(not_found());
    }
    let found = store::notifications::mark_read(
        st.db.pool(),
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
    Ok(Json(json!({"success": true, "id": id, "read": true})))
}

async fn read_all(State(st): State<AppState>, caller: Caller) -> ApiResult<Json<Value>> {
    let marked = store::notifications::mark_all_read(
        &st.db,
        &caller.user_id,
        caller.role.as_str(),
        &clock::now_text(),
    )
    .await?;
    Ok(Json(json!({"success": true, "marked": marked})))
}

async fn summary(State(st): State<AppState>, _: Authorized<Admins>) -> ApiResult<Json<Value>> {
    let s = store::summary::summary(st.db.pool()).await?;
    Ok(Json(
        json!({"success": true, "summary": views::summary(&s)}),
    ))
}

async fn dead_letter_queues(
    State(st): State<AppState>,
    _: Authorized<Admins>,
) -> ApiResult<Json<Value>> {
    let queues = st.dead_letters.queues().await?;
    let total: u64 = queues.iter().map(|q| q.depth).sum();
    Ok(Json(json!({
        "success": true,
        "queues": queues.iter().map(views::queue_depth).collect::<Vec<_>>(),
        "total": total,
    })))
}

async fn dead_letters(
    State(st): State<AppState>,
    _: Authorized<Admins>,
    Path(queue): Path<String>,
) -> ApiResult<Json<Value>> {
    let letters = st.dead_letters.list(&queue).await?;
    Ok(Json(json!({
        "success": true,
        "queue": queue,
        "dead_letters": letters.iter().map(views::dead_letter).collect::<Vec<_>>(),
        "total": letters.len(),
    })))
}

/// `{"ids": [...]}` replays those events; no body (or no `ids`) replays
/// every dead letter of the queue.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct ReplayRequest {
    ids: Option<Vec<String>>,
}

async fn replay_dead_letters(
    State(st): State<AppState>,
    _: Authorized<Admins>,
    Path(queue): Path<String>,
    OptionalJson(req): OptionalJson<ReplayRequest>,
) -> ApiResult<Json<Value>> {
    if req.ids.as_ref().is_some_and(Vec::is_empty) {
        return Err(ApiError::validation("ids must name at least one event")
            .with_details(json!({"field": "ids"})));
    }
    let replayed = st.dead_letters.replay(&queue, req.ids.as_deref()).await?;
    Ok(Json(json!({
        "success": true,
        "queue": queue,
        "replayed": replayed,
    })))
}

//! `/api/notifications/webhooks...` (admin only). A webhook's secret is
//! accepted at registration and never shown again.

use axum::{
    extract::{Path, State},
    http::StatusCode,
};
use marimo_platform::{
    ApiError, ApiResult,
    auth::{Authorized, policy::Admins},
    clock,
    http::{Json, Query, extract::Page},
    ids,
};
use serde::Deserialize;
use serde_json::{Value, json};

use super::{AppState, views};
use crate::{WorkerError, domain::webhook, store};

#[derive(Debug, Deserialize)]
pub struct CreateWebhook {
    #[serde(default)]
    url: String,
    #[serde(default)]
    event_types: Vec<String>,
    #[serde(default)]
    secret: String,
}

pub async fn create(
    State(st): State<AppState>,
    caller: Authorized<Admins>,
    Json(body): Json<CreateWebhook>,
) -> ApiResult<(StatusCode, Json<Value>)> {
    let new = webhook::validate(
        &body.url,
        &body.event_types,
        &body.secret,
        &st.webhook_allow,
    )
    .map_err(WorkerError::from)?;
    let hook = store::webhooks::insert(
        st.db.pool(),
        &ids::new_id(),
        &new,
        &caller.user_id,
        &clock::now_text(),
    )
    .await?;
    // The URL is not logged: some receivers carry a token in it.
    tracing::info!(webhook = %hook.id, by = %caller.user_id, "webhook registered");
    Ok((
        StatusCode::CREATED,
        Json(json!({"success": true, "webhook": views::webhook(&hook)})),
    ))
}

pub async fn list(State(st): State<AppState>, _: Authorized<Admins>) -> ApiResult<Json<Value>> {
    let hooks = store::webhooks::list(st.db.pool()).await?;
    Ok(Json(json!({
        "success": true,
        "webhooks": hooks.iter().map(views::webhook).collect::<Vec<_>>(),
    })))
}

fn no_such_webhook() -> ApiError {
    WorkerError::NotFound("no such webhook").into()
}

pub async fn remove(
    State(st): State<AppState>,
    caller: Authorized<Admins>,
    Path(id): Path<String>,
) -> ApiResult<Json<Value>> {
    if !ids::is_uuid(&id) {
        return Err(no_such_webhook());
    }
    if !store::webhooks::delete(&st.db, &id, &clock::now_text()).await? {
        return Err(no_such_webhook());
    }
    tracing::info!(webhook = %id, by = %caller.user_id, "webhook deleted");
    Ok(Json(json!({"success": true, "message": "webhook deleted"})))
}

pub async fn deliveries(
    State(st): State<AppState>,
    _: Authorized<Admins>,
    Path(id): Path<String>,
    Query(page): Query<Page>,
) -> ApiResult<Json<Value>> {
    let (page, limit, offset) = page.resolve()?;
    if !ids::is_uuid(&id) || !store::webhooks::exists(st.db.pool(), &id).await? {
        return Err(no_such_webhook());
    }
    let (deliveries, total) =
        store::webhooks::deliveries(st.db.pool(), &id, i64::from(limit), offset).await?;
    Ok(Json(json!({
        "success": true,
        "deliveries": deliveries.iter().map(views::delivery).collect::<Vec<_>>(),
        "total": total,
        "page": page,
        "limit": limit,
    })))
}

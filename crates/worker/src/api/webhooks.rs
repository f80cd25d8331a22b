//! `/api/v1/notifications/webhooks...` (admin only). A webhook's secret is
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
    openapi::{Done, PageFields},
};
use serde::Deserialize;
use utoipa::ToSchema;

use super::{
    AppState,
    views::{self, DeliveryPage, WebhookAnswer, WebhookList},
};
use crate::{WorkerError, domain::webhook, store};

/// A new webhook.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"url": "https://hooks.example.com/marimo", "event_types": ["shop.order.*"], "secret": "a-long-random-shared-secret"}))]
pub struct CreateWebhook {
    /// An `https` (or `http`) URL of a public address (or of an allowed
    /// network). Required.
    #[serde(default)]
    url: String,
    /// Event types or patterns (`shop.order.*`) it receives; at least
    /// one.
    #[serde(default)]
    event_types: Vec<String>,
    /// The key of each delivery's signature; never shown again. Required.
    #[serde(default)]
    secret: String,
}

/// Registers a webhook: the events it names are POSTed to it, signed
/// with its secret, retried with backoff. Admins only.
#[utoipa::path(
    post,
    path = "/api/v1/notifications/webhooks",
    tag = "worker",
    request_body = CreateWebhook,
    responses((status = 201, description = "Registered (without its secret).", body = WebhookAnswer)),
)]
pub async fn create(
    State(st): State<AppState>,
    caller: Authorized<Admins>,
    Json(body): Json<CreateWebhook>,
) -> ApiResult<(StatusCode, Json<WebhookAnswer>)> {
    let new = webhook::validate(
        &body.url,
        &body.event_types,
        &body.secret,
        &st.webhook_allow,
    )
    .map_err(WorkerError::from)?;
    let hook = store::webhooks::insert(
        &st.db,
        &caller.tenant,
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
        Json(WebhookAnswer {
            success: true,
            webhook: views::webhook(&hook),
        }),
    ))
}

/// Every webhook (without secrets). Admins only.
#[utoipa::path(
    get,
    path = "/api/v1/notifications/webhooks",
    tag = "worker",
    responses((status = 200, description = "The webhooks.", body = WebhookList)),
)]
pub async fn list(
    State(st): State<AppState>,
    caller: Authorized<Admins>,
) -> ApiResult<Json<WebhookList>> {
    let hooks = store::webhooks::list(&st.db, &caller.tenant).await?;
    Ok(Json(WebhookList {
        success: true,
        webhooks: hooks.iter().map(views::webhook).collect(),
    }))
}

fn no_such_webhook() -> ApiError {
    WorkerError::NotFound("no such webhook").into()
}

/// Deletes a webhook and cancels its pending deliveries. Admins only.
#[utoipa::path(
    delete,
    path = "/api/v1/notifications/webhooks/{id}",
    tag = "worker",
    params(("id" = String, Path, description = "The webhook's id.")),
    responses((status = 200, description = "Deleted.", body = Done)),
)]
pub async fn remove(
    State(st): State<AppState>,
    caller: Authorized<Admins>,
    Path(id): Path<String>,
) -> ApiResult<Json<Done>> {
    if !ids::is_uuid(&id) {
        return Err(no_such_webhook());
    }
    if !store::webhooks::delete(&st.db, &caller.tenant, &id, &clock::now_text()).await? {
        return Err(no_such_webhook());
    }
    tracing::info!(webhook = %id, by = %caller.user_id, "webhook deleted");
    Ok(Json(Done::new("webhook deleted")))
}

/// A webhook's deliveries with their attempts, newest first. Admins only.
#[utoipa::path(
    get,
    path = "/api/v1/notifications/webhooks/{id}/deliveries",
    tag = "worker",
    params(("id" = String, Path, description = "The webhook's id."), Page),
    responses((status = 200, description = "A page of deliveries.", body = DeliveryPage)),
)]
pub async fn deliveries(
    State(st): State<AppState>,
    caller: Authorized<Admins>,
    Path(id): Path<String>,
    Query(page): Query<Page>,
) -> ApiResult<Json<DeliveryPage>> {
    let (page, limit, offset) = page.resolve()?;
    if !ids::is_uuid(&id) {
        return Err(no_such_webhook());
    }
    // Another tenant's webhook answers like a missing one.
    let (deliveries, total) =
        store::webhooks::deliveries(&st.db, &caller.tenant, &id, i64::from(limit), offset)
            .await?
            .ok_or_else(no_such_webhook)?;
    Ok(Json(DeliveryPage {
        success: true,
        deliveries: deliveries.iter().map(views::delivery).collect(),
        page: PageFields { total, page, limit },
    }))
}

//! Work orders and their state machine.

use axum::{extract::State, http::StatusCode};
use marimo_platform::{
    ApiError, ApiResult,
    auth::policy::{Authorized, ProductionManagers},
    http::{Json, OptionalJson, Page, Query},
    invalid::required,
    money::Decimal,
    openapi::{ErrorBody, PageFields},
    tenant::TenantId,
};
use serde::Deserialize;
use serde_json::json;
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::{router::OpenApiRouter, routes};

use super::{
    AppState, IdPath, positive_qty,
    views::{
        self, WorkOrderAnswer, WorkOrderCompleted, WorkOrderDetail, WorkOrderDetailAnswer,
        WorkOrderPage,
    },
    warehouse_or_default,
};
use crate::{
    Completion,
    domain::{items, qty, work_order::Status},
    store::{stock as stock_store, work_orders as store},
};

pub(super) fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list, create))
        .routes(routes!(show))
        .routes(routes!(release))
        .routes(routes!(start))
        .routes(routes!(complete))
        .routes(routes!(cancel))
}

async fn one(
    f: &AppState,
    t: &TenantId,
    wo: &crate::WorkOrderRecord,
) -> ApiResult<Json<WorkOrderAnswer>> {
    Ok(Json(WorkOrderAnswer {
        success: true,
        work_order: views::work_order(wo, &f.currency(t).await?),
    }))
}

/// A new work order.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"product_sku": "WIDGET-1", "qty": "5", "warehouse": "MAIN"}))]
pub(super) struct WorkOrderBody {
    /// The product to make (it needs an active BOM). Required.
    product_sku: Option<String>,
    /// Positive, up to three places (decimal string or number). Required.
    #[schema(example = "5")]
    qty: Option<Decimal>,
    /// Where components are taken from and the product goes; default
    /// the default warehouse (`MAIN`).
    warehouse: Option<String>,
}

/// Plans a work order with the product's active BOM (status `planned`).
#[utoipa::path(
    post,
    path = "/api/v1/factory/work-orders",
    request_body = WorkOrderBody,
    responses(
        (status = 201, description = "Planned.", body = WorkOrderAnswer),
        (status = 404, description = "No such product or warehouse.", body = ErrorBody),
        (status = 422, description = "The product is inactive (`ITEM_INACTIVE`) or has no BOM (`NO_ACTIVE_BOM`).", body = ErrorBody),
    ),
)]
async fn create(
    State(f): State<AppState>,
    Authorized(caller, _): Authorized<ProductionManagers>,
    Json(b): Json<WorkOrderBody>,
) -> ApiResult<(StatusCode, Json<WorkOrderAnswer>)> {
    let sku = items::parse_sku("product_sku", &required("product_sku", b.product_sku)?)?;
    let qty = positive_qty("qty", b.qty)?;
    let warehouse = warehouse_or_default("warehouse", b.warehouse.as_deref())?;
    let wo = f
        .create_work_order(
            &caller.tenant,
            &caller.user_id,
            &sku,
            qty,
            &warehouse,
            false,
        )
        .await?;
    Ok((StatusCode::CREATED, one(&f, &caller.tenant, &wo).await?))
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub(super) struct ListQuery {
    /// Only this status: `planned`, `released`, `started`, `completed` or
    /// `cancelled` (empty: every status).
    #[param(example = "released")]
    status: Option<String>,
}

/// Work orders, newest first, a page at a time.
#[utoipa::path(
    get,
    path = "/api/v1/factory/work-orders",
    params(ListQuery, Page),
    responses((status = 200, description = "A page of work orders.", body = WorkOrderPage)),
)]
async fn list(
    State(f): State<AppState>,
    Authorized(caller, _): Authorized<ProductionManagers>,
    Query(q): Query<ListQuery>,
    Query(page): Query<Page>,
) -> ApiResult<Json<WorkOrderPage>> {
    let (page, limit, offset) = page.resolve()?;
    let status = match q.status.as_deref().map(str::trim).filter(|s| !s.is_empty()) {
        Some(s) => Some(s.parse::<Status>().map_err(|msg| {
            let allowed: Vec<&str> = Status::ALL.iter().map(|s| s.as_str()).collect();
            ApiError::validation(msg).with_details(json!({"field": "status", "allowed": allowed}))
        })?),
        None => None,
    };
    let currency = f.currency(&caller.tenant).await?;
    let mut tx = f.db.tenant(&caller.tenant).snapshot().await?;
    let (list, total) = store::list(&mut tx, &caller.tenant, status, limit, offset).await?;
    Ok(Json(WorkOrderPage {
        success: true,
        work_orders: list
            .iter()
            .map(|w| views::work_order(w, &currency))
            .collect(),
        page: PageFields { total, page, limit },
    }))
}

/// The order with what it reserved and every move it made.
#[utoipa::path(
    get,
    path = "/api/v1/factory/work-orders/{id}",
    params(("id" = String, Path, description = "The work order's id.")),
    responses((status = 200, description = "The work order.", body = WorkOrderDetailAnswer)),
)]
async fn show(
    State(f): State<AppState>,
    Authorized(caller, _): Authorized<ProductionManagers>,
    IdPath(id): IdPath,
) -> ApiResult<Json<WorkOrderDetailAnswer>> {
    let wo = f.work_order(&caller.tenant, &id).await?;
    let currency = f.currency(&caller.tenant).await?;
    let mut tx = f.db.tenant(&caller.tenant).snapshot().await?;
    let reservations = store::reservations(&mut *tx, &caller.tenant, &id)
        .await?
        .iter()
        .map(views::reservation)
        .collect();
    let moves = stock_store::moves_of_work_order(&mut *tx, &caller.tenant, &id)
        .await?
        .iter()
        .map(|m| views::stock_move(m, &currency))
        .collect();
    Ok(Json(WorkOrderDetailAnswer {
        success: true,
        work_order: WorkOrderDetail {
            work_order: views::work_order(&wo, &currency),
            reservations,
            moves,
        },
    }))
}

/// Releases a planned order: reserves its components (all or nothing).
#[utoipa::path(
    post,
    path = "/api/v1/factory/work-orders/{id}/release",
    params(("id" = String, Path, description = "The work order's id.")),
    responses(
        (status = 200, description = "Released.", body = WorkOrderAnswer),
        (status = 409, description = "Not `planned` (`INVALID_TRANSITION`), or not enough components available (`INSUFFICIENT_STOCK`, `details.shortages`).", body = ErrorBody),
        (status = 422, description = "A requirement is too large (`TOO_LARGE`).", body = ErrorBody),
    ),
)]
async fn release(
    State(f): State<AppState>,
    Authorized(caller, _): Authorized<ProductionManagers>,
    IdPath(id): IdPath,
) -> ApiResult<Json<WorkOrderAnswer>> {
    let wo = f.release(&caller.tenant, &caller.user_id, &id).await?;
    one(&f, &caller.tenant, &wo).await
}

/// Starts a released order.
#[utoipa::path(
    post,
    path = "/api/v1/factory/work-orders/{id}/start",
    params(("id" = String, Path, description = "The work order's id.")),
    responses(
        (status = 200, description = "Started.", body = WorkOrderAnswer),
        (status = 409, description = "Not `released` (`INVALID_TRANSITION`).", body = ErrorBody),
    ),
)]
async fn start(
    State(f): State<AppState>,
    Authorized(caller, _): Authorized<ProductionManagers>,
    IdPath(id): IdPath,
) -> ApiResult<Json<WorkOrderAnswer>> {
    let wo = f.start(&caller.tenant, &caller.user_id, &id).await?;
    one(&f, &caller.tenant, &wo).await
}

/// Cancels a planned, released or started order; its reservations are
/// freed.
#[utoipa::path(
    post,
    path = "/api/v1/factory/work-orders/{id}/cancel",
    params(("id" = String, Path, description = "The work order's id.")),
    responses(
        (status = 200, description = "Cancelled.", body = WorkOrderAnswer),
        (status = 409, description = "Already completed or cancelled (`INVALID_TRANSITION`).", body = ErrorBody),
    ),
)]
async fn cancel(
    State(f): State<AppState>,
    Authorized(caller, _): Authorized<ProductionManagers>,
    IdPath(id): IdPath,
) -> ApiResult<Json<WorkOrderAnswer>> {
    let wo = f.cancel(&caller.tenant, &caller.user_id, &id).await?;
    one(&f, &caller.tenant, &wo).await
}

/// What a completion produced; the body may be left out (all planned,
/// no scrap).
#[derive(Deserialize, Default, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"produced_qty": "4", "scrap_qty": "1"}))]
pub(super) struct CompleteBody {
    /// Positive, up to three places (decimal string or number); default
    /// the planned quantity.
    #[schema(example = "4")]
    produced_qty: Option<Decimal>,
    /// Not negative (decimal string or number); default 0.
    #[schema(example = "1")]
    scrap_qty: Option<Decimal>,
}

/// Completes a started order: issues the reserved components, receives
/// the product at their cost, and answers the moves made.
#[utoipa::path(
    post,
    path = "/api/v1/factory/work-orders/{id}/complete",
    params(("id" = String, Path, description = "The work order's id.")),
    request_body(content = Option<CompleteBody>, description = "Optional: no body, or `null`, is all planned and no scrap."),
    responses(
        (status = 200, description = "Completed.", body = WorkOrderCompleted),
        (status = 409, description = "Not `started` (`INVALID_TRANSITION`), or the components are no longer there (`INSUFFICIENT_STOCK`).", body = ErrorBody),
        (status = 422, description = "A figure is too large (`TOO_LARGE`).", body = ErrorBody),
    ),
)]
async fn complete(
    State(f): State<AppState>,
    Authorized(caller, _): Authorized<ProductionManagers>,
    IdPath(id): IdPath,
    // `null` is the same as no body, as the document says (`Option`).
    OptionalJson(b): OptionalJson<Option<CompleteBody>>,
) -> ApiResult<Json<WorkOrderCompleted>> {
    let b = b.unwrap_or_default();
    let completion = Completion {
        produced_qty: b
            .produced_qty
            .map(|d| qty::positive("produced_qty", &d))
            .transpose()?,
        scrap_qty: b
            .scrap_qty
            .map(|d| qty::non_negative("scrap_qty", &d))
            .transpose()?,
    };
    let (wo, moves) = f
        .complete(&caller.tenant, &caller.user_id, &id, completion)
        .await?;
    let currency = f.currency(&caller.tenant).await?;
    Ok(Json(WorkOrderCompleted {
        success: true,
        work_order: views::work_order(&wo, &currency),
        moves: moves
            .iter()
            .map(|m| views::stock_move(m, &currency))
            .collect(),
    }))
}

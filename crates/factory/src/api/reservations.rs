//! Holds of stock for shop orders: placed by the shop while it places an
//! order (with the customer's token, in the customer's tenant), read by
//! staff. Confirming, releasing and shipping a hold are the order's
//! events' business (`events`), never a request's.

use axum::{extract::State, http::StatusCode};
use marimo_platform::{
    ApiError, ApiResult, Invalid,
    auth::policy::{Authorized, SignedIn, Staff},
    http::Json,
    ids,
    invalid::required,
    money::Decimal,
    openapi::ErrorBody,
};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::{router::OpenApiRouter, routes};

use super::{AppState, IdPath, positive_qty, views::HoldList, warehouse_or_default};
use crate::domain::items;

pub(super) fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(place))
        .routes(routes!(of_order))
}

/// One line of a hold.
#[derive(Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(super) struct HoldLine {
    /// The item's SKU. Required.
    #[schema(pattern = r"^\s*[A-Za-z0-9._-]{1,64}\s*$", example = "TABLE")]
    sku: Option<String>,
    /// Positive, up to three places (decimal string or number). Required.
    #[schema(example = "2")]
    qty: Option<Decimal>,
}

/// An order's lines to hold.
#[derive(Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"order_id": "0192f1c4-7c3e-7d2a-9c1e-2b9d2b7e4a11", "warehouse": "MAIN", "lines": [{"sku": "TABLE", "qty": "2"}]}))]
pub(super) struct HoldBody {
    /// The shop order's id (a UUID): the hold's key. Required.
    #[schema(example = "0192f1c4-7c3e-7d2a-9c1e-2b9d2b7e4a11")]
    order_id: Option<String>,
    /// A warehouse code; default the default warehouse (`MAIN`).
    #[schema(pattern = r"^\s*[A-Za-z0-9._-]{1,32}\s*$", example = "MAIN")]
    warehouse: Option<String>,
    /// 1 to 100 lines; lines of one SKU are added up. Required.
    #[schema(min_items = 1, max_items = 100)]
    lines: Option<Vec<HoldLine>>,
}

fn order_id(raw: Option<String>) -> Result<String, Invalid> {
    let id = required("order_id", raw)?;
    if ids::is_uuid(&id) {
        Ok(id.to_ascii_lowercase())
    } else {
        Err(Invalid::new("order_id", "order_id must be a UUID"))
    }
}

/// Holds stock for a shop order: every line's quantity is reserved in
/// the warehouse, all or nothing, by a conditional update that never
/// promises more than is on hand. Held again with the same order and
/// lines, the same holds answer (201 again). An unconfirmed hold expires
/// after five minutes; the order's `shop.order.placed` event confirms it.
#[utoipa::path(
    post,
    path = "/api/v1/factory/holds",
    request_body = HoldBody,
    responses(
        (status = 201, description = "Held.", body = HoldList),
        (status = 400, description = "Invalid body.", body = ErrorBody),
        (status = 404, description = "No such item or warehouse.", body = ErrorBody),
        (status = 409, description = "Not enough stock available (`INSUFFICIENT_STOCK`, each short line in the details), or the order holds other lines (`HOLD_MISMATCH`).", body = ErrorBody),
        (status = 422, description = "An item is inactive (`ITEM_INACTIVE`).", body = ErrorBody),
    ),
)]
async fn place(
    State(f): State<AppState>,
    Authorized(caller, _): Authorized<SignedIn>,
    Json(b): Json<HoldBody>,
) -> ApiResult<(StatusCode, Json<HoldList>)> {
    let order = order_id(b.order_id)?;
    let warehouse = warehouse_or_default("warehouse", b.warehouse.as_deref())?;
    let mut lines = Vec::new();
    for line in required("lines", b.lines)? {
        let sku = items::parse_sku("lines.sku", &required("lines.sku", line.sku)?)?;
        lines.push((sku, positive_qty("lines.qty", line.qty)?));
    }
    let holds = f
        .hold(&caller.tenant, &caller.user_id, &order, &warehouse, &lines)
        .await?;
    Ok((StatusCode::CREATED, Json(HoldList::of(&holds))))
}

/// An order's holds (an empty list when it has none).
#[utoipa::path(
    get,
    path = "/api/v1/factory/holds/{id}",
    params(("id" = String, Path, description = "The shop order's id.")),
    responses(
        (status = 200, description = "The order's holds.", body = HoldList),
        (status = 404, description = "Not a UUID.", body = ErrorBody),
    ),
)]
async fn of_order(
    State(f): State<AppState>,
    Authorized(caller, _): Authorized<Staff>,
    IdPath(id): IdPath,
) -> Result<Json<HoldList>, ApiError> {
    let holds = f.holds(&caller.tenant, &id).await?;
    Ok(Json(HoldList::of(&holds)))
}

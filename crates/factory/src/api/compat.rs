//! The original API's `/products` and `/orders`, on top of items and work
//! orders (API-COMPAT.md, Factory).
//!
//! - A product is a finished-good item: `id` is the item's UUIDv7 id,
//!   `quantity` its on hand over every warehouse (a JSON number), `status`
//!   one of planned, in_production, completed, discontinued.
//! - `POST /products {name, sku, quantity?, status?}` creates the item
//!   (unit pcs, standard cost 0); a quantity is booked into the default
//!   warehouse as an opening-balance adjustment in the same transaction.
//! - An order is a work order: `POST /orders {product_id, quantity}` plans
//!   one for the product in the default warehouse, with the product's
//!   active BOM if it has one (the original orders had none, so a product
//!   without a BOM still gets its order). An unknown product is a 404 and
//!   creates nothing.

use axum::{extract::State, http::StatusCode};
use marimo_platform::{
    ApiError, ApiResult, Invalid,
    auth::policy::{Authorized, ProductionManagers},
    http::Json,
    ids,
    invalid::required,
    money::Decimal,
    openapi::ErrorBody,
};
use serde::Deserialize;
use serde_json::{Value, json};
use utoipa::ToSchema;
use utoipa_axum::{router::OpenApiRouter, routes};

use super::{
    AppState, IdPath, positive_qty,
    views::{
        self, OrderAnswer, OrderCreated, OrderList, ProductAnswer, ProductCreated, ProductList,
    },
};
use crate::{
    domain::{
        items::{self, Category, Item, Kind, ProductStatus},
        qty,
    },
    store::{items as item_store, work_orders as wo_store},
};

pub(super) fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_products, create_product))
        .routes(routes!(show_product))
        .routes(routes!(set_status))
        .routes(routes!(list_orders, create_order))
        .routes(routes!(show_order))
}

fn no_such_product() -> ApiError {
    ApiError::not_found("no such product")
}

fn parse_status(raw: &str) -> ApiResult<ProductStatus> {
    raw.parse::<ProductStatus>().map_err(|msg| {
        ApiError::validation(msg)
            .with_details(json!({"field": "status", "allowed": ProductStatus::names()}))
    })
}

/// The original API's products: every finished-good item, with its on
/// hand as `quantity`.
#[utoipa::path(
    get,
    path = "/api/v1/factory/products",
    responses((status = 200, description = "The products.", body = ProductList)),
)]
async fn list_products(
    State(f): State<AppState>,
    Authorized(caller, _): Authorized<ProductionManagers>,
) -> ApiResult<Json<ProductList>> {
    let mut tx = f.db.tenant(&caller.tenant).read().await?;
    let products: Vec<_> = item_store::list_products(&mut *tx, &caller.tenant)
        .await?
        .iter()
        .map(|(item, on_hand)| views::product(item, *on_hand))
        .collect();
    Ok(Json(ProductList {
        success: true,
        total: products.len(),
        products,
    }))
}

/// The original API's new product.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"name": "Widget", "sku": "WIDGET-1", "quantity": 10, "status": "planned"}))]
pub(super) struct ProductBody {
    /// 1 to 200 characters. Required.
    name: Option<String>,
    /// 1 to 64 of `A-Z 0-9 . _ -` (upper-cased first). Required.
    sku: Option<String>,
    /// Opening stock in the default warehouse, not negative (a number or
    /// a decimal string). Default 0.
    #[schema(value_type = Option<f64>, example = 10)]
    quantity: Option<Decimal>,
    /// `planned` (default), `in_production`, `completed` or
    /// `discontinued`.
    status: Option<String>,
}

/// Creates a product: a finished-good item (unit pcs, cost 0) and, when
/// `quantity` is given, its opening stock in the default warehouse.
#[utoipa::path(
    post,
    path = "/api/v1/factory/products",
    request_body = ProductBody,
    responses(
        (status = 201, description = "Created.", body = ProductCreated),
        (status = 409, description = "The SKU is taken.", body = ErrorBody),
        (status = 422, description = "The opening value is too large (`TOO_LARGE`).", body = ErrorBody),
    ),
)]
async fn create_product(
    State(f): State<AppState>,
    Authorized(caller, _): Authorized<ProductionManagers>,
    Json(b): Json<ProductBody>,
) -> ApiResult<(StatusCode, Json<ProductCreated>)> {
    let name = items::parse_name("name", &required("name", b.name)?)?;
    let sku = items::parse_sku("sku", &required("sku", b.sku)?)?;
    let opening = match b.quantity {
        Some(d) => qty::non_negative("quantity", &d)?,
        None => 0,
    };
    let status = match b.status.as_deref().map(str::trim).filter(|s| !s.is_empty()) {
        Some(s) => parse_status(s)?,
        None => ProductStatus::Planned,
    };
    let new = Item {
        sku,
        name,
        kind: Kind::FinishedGood,
        category: Category::FinishedGood,
        uom: "pcs".to_owned(),
        standard_cost: 0,
        reorder_point: 0,
        active: true,
        status,
    };
    let item = f
        .create_item_with_stock(&caller.tenant, &caller.user_id, new, opening)
        .await?;
    Ok((
        StatusCode::CREATED,
        Json(ProductCreated {
            success: true,
            message: "product created".to_owned(),
            product: views::product(&item, opening),
        }),
    ))
}

/// The product itself at the top level, as the original answered.
#[utoipa::path(
    get,
    path = "/api/v1/factory/products/{id}",
    params(("id" = String, Path, description = "The product's (item's) id.")),
    responses((status = 200, description = "The product.", body = ProductAnswer)),
)]
async fn show_product(
    State(f): State<AppState>,
    Authorized(caller, _): Authorized<ProductionManagers>,
    IdPath(id): IdPath,
) -> ApiResult<Json<ProductAnswer>> {
    let (product, on_hand) = f.product(&caller.tenant, &id).await?;
    Ok(Json(ProductAnswer {
        success: true,
        product: views::product(&product, on_hand),
    }))
}

/// A product's new status.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"status": "in_production"}))]
pub(super) struct StatusBody {
    /// `planned`, `in_production`, `completed` or `discontinued`.
    /// Required.
    status: Option<String>,
}

/// Sets a product's status (`completed` stamps `completed_at`).
#[utoipa::path(
    put,
    path = "/api/v1/factory/products/{id}/status",
    params(("id" = String, Path, description = "The product's (item's) id.")),
    request_body = StatusBody,
    responses((status = 200, description = "Set.", body = marimo_platform::openapi::Done)),
)]
async fn set_status(
    State(f): State<AppState>,
    Authorized(caller, _): Authorized<ProductionManagers>,
    IdPath(id): IdPath,
    Json(b): Json<StatusBody>,
) -> ApiResult<Json<marimo_platform::openapi::Done>> {
    let status = parse_status(&required("status", b.status)?)?;
    let item = f
        .set_product_status(&caller.tenant, &caller.user_id, &id, status)
        .await?;
    Ok(Json(marimo_platform::openapi::Done::new(format!(
        "status of {} is now {}",
        item.item.sku, status
    ))))
}

/// The original API's production orders: every work order.
#[utoipa::path(
    get,
    path = "/api/v1/factory/orders",
    responses((status = 200, description = "The orders.", body = OrderList)),
)]
async fn list_orders(
    State(f): State<AppState>,
    Authorized(caller, _): Authorized<ProductionManagers>,
) -> ApiResult<Json<OrderList>> {
    let mut tx = f.db.tenant(&caller.tenant).read().await?;
    let orders: Vec<_> = wo_store::list_all(&mut *tx, &caller.tenant)
        .await?
        .iter()
        .map(views::order)
        .collect();
    Ok(Json(OrderList {
        success: true,
        total: orders.len(),
        orders,
    }))
}

/// The original API's new production order.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"product_id": "0192f1c4-7c3e-7d2a-9c1e-2b9d2b7e4a10", "quantity": 5}))]
pub(super) struct OrderBody {
    /// The product's id. Required. (The original's numeric ids are
    /// accepted and name no product here: 404.)
    #[schema(value_type = Option<String>)]
    product_id: Option<Value>,
    /// Positive, up to three places (a number or a decimal string).
    /// Required.
    #[schema(value_type = Option<f64>, example = 5)]
    quantity: Option<Decimal>,
}

/// Plans a work order for the product in the default warehouse, with its
/// active BOM if it has one.
#[utoipa::path(
    post,
    path = "/api/v1/factory/orders",
    request_body = OrderBody,
    responses(
        (status = 201, description = "Created.", body = OrderCreated),
        (status = 404, description = "No such product.", body = ErrorBody),
        (status = 422, description = "The product is inactive (`ITEM_INACTIVE`).", body = ErrorBody),
    ),
)]
async fn create_order(
    State(f): State<AppState>,
    Authorized(caller, _): Authorized<ProductionManagers>,
    Json(b): Json<OrderBody>,
) -> ApiResult<(StatusCode, Json<OrderCreated>)> {
    let product_id = match required("product_id", b.product_id)? {
        Value::String(s) => s,
        // The original's ids were numbers; none of those exist here.
        Value::Number(_) => return Err(no_such_product()),
        _ => {
            return Err(Invalid::new("product_id", "product_id must be a product id").into());
        }
    };
    let quantity = positive_qty("quantity", b.quantity)?;
    if !ids::is_uuid(&product_id) {
        return Err(no_such_product());
    }
    let wo = f
        .create_product_order(
            &caller.tenant,
            &caller.user_id,
            &product_id.to_ascii_lowercase(),
            quantity,
        )
        .await?;
    Ok((
        StatusCode::CREATED,
        Json(OrderCreated {
            success: true,
            message: "order created".to_owned(),
            order: views::order(&wo),
        }),
    ))
}

/// The order itself at the top level, as the original answered.
#[utoipa::path(
    get,
    path = "/api/v1/factory/orders/{id}",
    params(("id" = String, Path, description = "The order's (work order's) id.")),
    responses((status = 200, description = "The order.", body = OrderAnswer)),
)]
async fn show_order(
    State(f): State<AppState>,
    Authorized(caller, _): Authorized<ProductionManagers>,
    IdPath(id): IdPath,
) -> ApiResult<Json<OrderAnswer>> {
    let mut tx = f.db.tenant(&caller.tenant).read().await?;
    let wo = wo_store::find(&mut *tx, &caller.tenant, &id)
        .await?
        .ok_or_else(|| ApiError::not_found("no such order"))?;
    Ok(Json(OrderAnswer {
        success: true,
        order: views::order(&wo),
    }))
}

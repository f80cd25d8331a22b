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

use axum::{
    Router,
    extract::State,
    http::StatusCode,
    routing::{get, put},
};
use marimo_platform::{
    ApiError, ApiResult, Invalid,
    auth::policy::{Authorized, ProductionManagers},
    http::Json,
    ids,
    invalid::required,
    money::Decimal,
};
use serde::Deserialize;
use serde_json::{Value, json};

use super::{AppState, IdPath, positive_qty, views};
use crate::{
    domain::{
        items::{self, Item, Kind, ProductStatus},
        qty,
    },
    store::{items as item_store, work_orders as wo_store},
};

pub(super) fn routes() -> Router<AppState> {
    Router::new()
        .route(
            "/api/factory/products",
            get(list_products).post(create_product),
        )
        .route("/api/factory/products/{id}", get(show_product))
        .route("/api/factory/products/{id}/status", put(set_status))
        .route("/api/factory/orders", get(list_orders).post(create_order))
        .route("/api/factory/orders/{id}", get(show_order))
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

async fn list_products(
    State(f): State<AppState>,
    _: Authorized<ProductionManagers>,
) -> ApiResult<Json<Value>> {
    let products: Vec<Value> = item_store::list_products(f.db.pool())
        .await?
        .iter()
        .map(|(item, on_hand)| views::product(item, *on_hand))
        .collect();
    Ok(Json(json!({
        "success": true,
        "total": products.len(),
        "products": products,
    })))
}

#[derive(Deserialize)]
pub(super) struct ProductBody {
    name: Option<String>,
    sku: Option<String>,
    quantity: Option<Decimal>,
    status: Option<String>,
}

async fn create_product(
    State(f): State<AppState>,
    Authorized(caller, _): Authorized<ProductionManagers>,
    Json(b): Json<ProductBody>,
) -> ApiResult<(StatusCode, Json<Value>)> {
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
        uom: "pcs".to_owned(),
        standard_cost: 0,
        reorder_point: 0,
        active: true,
        status,
    };
    let item = f
        .create_item_with_stock(&caller.user_id, new, opening)
        .await?;
    Ok((
        StatusCode::CREATED,
        Json(json!({
            "success": true,
            "message": "product created",
            "product": views::product(&item, opening),
        })),
    ))
}

async fn show_product(
    State(f): State<AppState>,
    _: Authorized<ProductionManagers>,
    IdPath(id): IdPath,
) -> ApiResult<Json<Value>> {
    let (product, on_hand) = f.product(&id).await?;
    let mut body = views::product(&product, on_hand);
    body["success"] = Value::Bool(true);
    Ok(Json(body))
}

#[derive(Deserialize)]
pub(super) struct StatusBody {
    status: Option<String>,
}

async fn set_status(
    State(f): State<AppState>,
    Authorized(caller, _): Authorized<ProductionManagers>,
    IdPath(id): IdPath,
    Json(b): Json<StatusBody>,
) -> ApiResult<Json<Value>> {
    let status = parse_status(&required("status", b.status)?)?;
    let item = f.set_product_status(&caller.user_id, &id, status).await?;
    Ok(Json(json!({
        "success": true,
        "message": format!("status of {} is now {}", item.item.sku, status),
    })))
}

async fn list_orders(
    State(f): State<AppState>,
    _: Authorized<ProductionManagers>,
) -> ApiResult<Json<Value>> {
    let orders: Vec<Value> = wo_store::list_all(f.db.pool())
        .await?
        .iter()
        .map(views::order)
        .collect();
    Ok(Json(json!({
        "success": true,
        "total": orders.len(),
        "orders": orders,
    })))
}

#[derive(Deserialize)]
pub(super) struct OrderBody {
    product_id: Option<Value>,
    quantity: Option<Decimal>,
}

async fn create_order(
    State(f): State<AppState>,
    Authorized(caller, _): Authorized<ProductionManagers>,
    Json(b): Json<OrderBody>,
) -> ApiResult<(StatusCode, Json<Value>)> {
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
        .create_product_order(&caller.user_id, &product_id.to_ascii_lowercase(), quantity)
        .await?;
    Ok((
        StatusCode::CREATED,
        Json(json!({
            "success": true,
            "message": "order created",
            "order": views::order(&wo),
        })),
    ))
}

async fn show_order(
    State(f): State<AppState>,
    _: Authorized<ProductionManagers>,
    IdPath(id): IdPath,
) -> ApiResult<Json<Value>> {
    let wo = wo_store::find(f.db.pool(), &id)
        .await?
        .ok_or_else(|| ApiError::not_found("no such order"))?;
    let mut body = views::order(&wo);
    body["success"] = Value::Bool(true);
    Ok(Json(body))
}

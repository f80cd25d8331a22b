//! For shop managers and admins: products (including inactive ones), every
//! order, the shop's settings; and the dashboard summary (also for
//! managers and accountants).

use axum::{extract::State, http::StatusCode};
use marimo_contracts::{Success, shop as contract, values::Currency};
use marimo_platform::{
    ApiResult, TimeRange,
    auth::{
        Authorized,
        policy::{ShopStaff, Staff},
    },
    http::{Json, Page, Query},
    money::{Decimal, format_scaled},
};
use serde::Deserialize;
use serde_json::{Value, json};

use super::{AppState, IdParam, catalog, orders::parse_status, views};
use crate::{
    domain::{
        catalog::{ProductFields, parse_units},
        pricing::wire_money,
    },
    store::{
        self,
        orders::{self, Filter},
    },
};

/// `GET /admin/products`: the catalog listing with inactive products.
pub(super) async fn products(
    State(st): State<AppState>,
    _: Authorized<ShopStaff>,
    Query(q): Query<catalog::ListQuery>,
) -> ApiResult<Json<Value>> {
    catalog::listing(&st, &q, true).await
}

/// `POST /admin/products`: 201 `{success, message, product}`.
pub(super) async fn create_product(
    State(st): State<AppState>,
    caller: Authorized<ShopStaff>,
    Json(fields): Json<ProductFields>,
) -> ApiResult<(StatusCode, Json<Value>)> {
    let product = st.create_product(&fields).await?;
    tracing::info!(by = %caller.user_id, id = %product.id, name = %product.name, "product created");
    Ok((
        StatusCode::CREATED,
        Json(json!({
            "success": true,
            "message": "product created",
            "product": views::product(&product),
        })),
    ))
}

/// `PUT /admin/products/{id}`: a partial change.
pub(super) async fn update_product(
    State(st): State<AppState>,
    caller: Authorized<ShopStaff>,
    IdParam(id): IdParam,
    Json(fields): Json<ProductFields>,
) -> ApiResult<Json<Value>> {
    let product = st.update_product(&id, &fields).await?;
    tracing::info!(by = %caller.user_id, %id, "product changed");
    Ok(Json(json!({
        "success": true,
        "message": "product updated",
        "product": views::product(&product),
    })))
}

/// `DELETE /admin/products/{id}`: deleted, or deactivated when it was
/// ever ordered.
pub(super) async fn delete_product(
    State(st): State<AppState>,
    caller: Authorized<ShopStaff>,
    IdParam(id): IdParam,
) -> ApiResult<Json<Value>> {
    let deactivated = st.delete_product(&id).await?;
    tracing::info!(by = %caller.user_id, %id, deactivated, "product removed");
    Ok(Json(json!({
        "success": true,
        "message": if deactivated {
            "the product was ordered before, so it was deactivated instead of deleted"
        } else {
            "product deleted"
        },
        "deactivated": deactivated,
    })))
}

#[derive(Debug, Deserialize)]
pub(super) struct RestockBody {
    quantity: Option<Value>,
}

/// `POST /admin/products/{id}/restock {quantity}`: adds to the stock.
pub(super) async fn restock(
    State(st): State<AppState>,
    caller: Authorized<ShopStaff>,
    IdParam(id): IdParam,
    Json(body): Json<RestockBody>,
) -> ApiResult<Json<Value>> {
    let quantity = parse_units(
        "quantity",
        body.quantity.as_ref().unwrap_or(&Value::Null),
        1,
    )
    .map_err(crate::ShopError::from)?;
    let product = st.restock(&id, quantity).await?;
    tracing::info!(by = %caller.user_id, %id, quantity, stock = product.stock, "product restocked");
    Ok(Json(json!({
        "success": true,
        "message": format!("{quantity} units added"),
        "product": views::product(&product),
    })))
}

#[derive(Debug, Deserialize)]
pub(super) struct OrdersQuery {
    status: Option<String>,
    user_id: Option<String>,
    /// RFC 3339 time or `YYYY-MM-DD`, inclusive.
    from: Option<String>,
    /// RFC 3339 time or `YYYY-MM-DD` (the whole day), inclusive.
    to: Option<String>,
}

/// `GET /admin/orders`: every order, newest first, with filters.
pub(super) async fn orders(
    State(st): State<AppState>,
    _: Authorized<ShopStaff>,
    Query(page): Query<Page>,
    Query(q): Query<OrdersQuery>,
) -> ApiResult<Json<Value>> {
    let (page, limit, offset) = page.resolve()?;
    let range = TimeRange::parse(q.from.as_deref(), q.to.as_deref())?;
    let filter = Filter {
        user_id: q
            .user_id
            .as_deref()
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(str::to_owned),
        status: parse_status(q.status.as_deref())?,
        from: range.start_text(),
        until: range.end_text(),
    };
    let (list, total) = orders::list(st.db.pool(), &filter, limit, offset).await?;
    Ok(Json(views::order_page(&list, total, page, limit)))
}

/// `GET /admin/settings`: the values new orders use.
pub(super) async fn settings(
    State(st): State<AppState>,
    _: Authorized<ShopStaff>,
) -> ApiResult<Json<Value>> {
    let s = store::settings::load(st.db.pool()).await?;
    // Milliseconds are whole milli-minutes × 60 (see the domain).
    let milli_minutes = i64::try_from(s.order_ttl.as_millis() / 60).unwrap_or(i64::MAX);
    let text = format_scaled(milli_minutes, 3);
    let minutes = Decimal::parse(&text).map_or(text, |d| d.to_string());
    Ok(Json(json!({
        "success": true,
        "settings": {
            "tax_rate": s.tax_rate.percent(),
            "order_ttl_minutes": minutes,
        },
    })))
}

/// `GET /summary`: figures for the dashboard.
pub(super) async fn summary(
    State(st): State<AppState>,
    _: Authorized<Staff>,
) -> ApiResult<Json<Success<contract::Summary>>> {
    let sum = st.summary().await?;
    let orders_by_status = sum
        .by_status
        .iter()
        .map(|(s, n)| (s.as_str().to_owned(), *n))
        .collect();
    let revenue = sum
        .revenue
        .into_iter()
        .map(|(currency, amount)| {
            let money = wire_money(amount, &currency);
            (Currency::new(currency), money)
        })
        .collect();
    Ok(Json(Success::new(contract::Summary {
        total_orders: sum.total_orders,
        open_orders: sum.open_orders,
        pending_orders: sum.pending_orders,
        orders_by_status,
        revenue,
        active_products: sum.active_products,
        low_stock_products: sum.low_stock_products,
        low_stock_threshold: sum.low_stock_threshold,
    })))
}

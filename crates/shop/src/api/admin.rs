//! For shop managers and admins: products (including inactive ones), every
//! order, the shop's settings; and the dashboard summary (also for
//! managers and accountants). Always the caller's tenant's.

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
use serde_json::Value;
use utoipa::{IntoParams, ToSchema};

use super::{
    AppState, IdParam, catalog,
    orders::parse_status,
    views::{
        self, OrderPage, ProductPage, ProductRemoved, ProductSaved, SettingsAnswer, SettingsView,
    },
};
use crate::{
    ShopError,
    domain::{
        catalog::{ProductFields, parse_units},
        pricing::wire_money,
    },
    store::{
        self,
        orders::{self, Filter},
    },
};

/// The catalog listing with inactive products. Shop managers and admins.
#[utoipa::path(
    get,
    path = "/api/v1/shop/admin/products",
    params(catalog::ListQuery),
    responses((status = 200, description = "A page of products.", body = ProductPage)),
)]
pub(super) async fn products(
    State(st): State<AppState>,
    caller: Authorized<ShopStaff>,
    Query(q): Query<catalog::ListQuery>,
) -> ApiResult<Json<ProductPage>> {
    catalog::listing(&st, &caller.tenant, &q, true).await
}

/// Adds a product: name and price are required. Shop managers and admins.
#[utoipa::path(
    post,
    path = "/api/v1/shop/admin/products",
    request_body = ProductFields,
    responses(
        (status = 201, description = "Created.", body = ProductSaved),
        (status = 409, description = "The SKU is taken.", body = marimo_platform::openapi::ErrorBody),
    ),
)]
pub(super) async fn create_product(
    State(st): State<AppState>,
    caller: Authorized<ShopStaff>,
    Json(fields): Json<ProductFields>,
) -> ApiResult<(StatusCode, Json<ProductSaved>)> {
    let product = st.create_product(&caller.tenant, &fields).await?;
    tracing::info!(by = %caller.user_id, id = %product.id, name = %product.name, "product created");
    Ok((
        StatusCode::CREATED,
        Json(ProductSaved {
            success: true,
            message: "product created".to_owned(),
            product: views::product(&product),
        }),
    ))
}

/// Changes the fields sent (a partial change). Shop managers and admins.
#[utoipa::path(
    put,
    path = "/api/v1/shop/admin/products/{id}",
    params(("id" = String, Path, description = "The product's id.")),
    request_body = ProductFields,
    responses(
        (status = 200, description = "Updated.", body = ProductSaved),
        (status = 409, description = "The SKU is taken.", body = marimo_platform::openapi::ErrorBody),
    ),
)]
pub(super) async fn update_product(
    State(st): State<AppState>,
    caller: Authorized<ShopStaff>,
    IdParam(id): IdParam,
    Json(fields): Json<ProductFields>,
) -> ApiResult<Json<ProductSaved>> {
    let product = st.update_product(&caller.tenant, &id, &fields).await?;
    tracing::info!(by = %caller.user_id, %id, "product changed");
    Ok(Json(ProductSaved {
        success: true,
        message: "product updated".to_owned(),
        product: views::product(&product),
    }))
}

/// Deletes a product, or deactivates it when it was ever ordered. Shop
/// managers and admins.
#[utoipa::path(
    delete,
    path = "/api/v1/shop/admin/products/{id}",
    params(("id" = String, Path, description = "The product's id.")),
    responses((status = 200, description = "Deleted or deactivated.", body = ProductRemoved)),
)]
pub(super) async fn delete_product(
    State(st): State<AppState>,
    caller: Authorized<ShopStaff>,
    IdParam(id): IdParam,
) -> ApiResult<Json<ProductRemoved>> {
    let deactivated = st.delete_product(&caller.tenant, &id).await?;
    tracing::info!(by = %caller.user_id, %id, deactivated, "product removed");
    Ok(Json(ProductRemoved {
        success: true,
        message: if deactivated {
            "the product was ordered before, so it was deactivated instead of deleted"
        } else {
            "product deleted"
        }
        .to_owned(),
        deactivated,
    }))
}

/// Units to add. Unknown fields are refused.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"quantity": 25}))]
pub(super) struct RestockBody {
    /// A whole number from 1 (or its digits as a string).
    #[schema(value_type = i64, minimum = 1)]
    quantity: Option<Value>,
}

/// Adds to a product's stock. Shop managers and admins.
#[utoipa::path(
    post,
    path = "/api/v1/shop/admin/products/{id}/restock",
    params(("id" = String, Path, description = "The product's id.")),
    request_body = RestockBody,
    responses((status = 200, description = "Restocked.", body = ProductSaved)),
)]
pub(super) async fn restock(
    State(st): State<AppState>,
    caller: Authorized<ShopStaff>,
    IdParam(id): IdParam,
    Json(body): Json<RestockBody>,
) -> ApiResult<Json<ProductSaved>> {
    let quantity = parse_units(
        "quantity",
        body.quantity.as_ref().unwrap_or(&Value::Null),
        1,
    )
    .map_err(crate::ShopError::from)?;
    let product = st.restock(&caller.tenant, &id, quantity).await?;
    tracing::info!(by = %caller.user_id, %id, quantity, stock = product.stock, "product restocked");
    Ok(Json(ProductSaved {
        success: true,
        message: format!("{quantity} units added"),
        product: views::product(&product),
    }))
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub(super) struct OrdersQuery {
    /// Only orders in this status.
    #[param(value_type = Option<crate::domain::order::Status>)]
    status: Option<String>,
    /// Only this customer's orders.
    user_id: Option<String>,
    /// RFC 3339 time or `YYYY-MM-DD`, inclusive.
    #[param(example = "2026-12-01")]
    from: Option<String>,
    /// RFC 3339 time or `YYYY-MM-DD` (the whole day), inclusive.
    #[param(example = "2026-12-31")]
    to: Option<String>,
}

/// Every order, newest first, with filters. Shop managers and admins.
#[utoipa::path(
    get,
    path = "/api/v1/shop/admin/orders",
    params(Page, OrdersQuery),
    responses((status = 200, description = "A page of orders.", body = OrderPage)),
)]
pub(super) async fn orders(
    State(st): State<AppState>,
    caller: Authorized<ShopStaff>,
    Query(page): Query<Page>,
    Query(q): Query<OrdersQuery>,
) -> ApiResult<Json<OrderPage>> {
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
    let t = &caller.tenant;
    let mut tx = st.db.tenant(t).read().await.map_err(ShopError::from)?;
    let (list, total) = orders::list(&mut tx, t, &filter, limit, offset)
        .await
        .map_err(ShopError::from)?;
    Ok(Json(views::order_page(&list, total, page, limit)))
}

/// The values new orders use. Shop managers and admins.
#[utoipa::path(
    get,
    path = "/api/v1/shop/admin/settings",
    responses((status = 200, description = "The settings.", body = SettingsAnswer)),
)]
pub(super) async fn settings(
    State(st): State<AppState>,
    caller: Authorized<ShopStaff>,
) -> ApiResult<Json<SettingsAnswer>> {
    let t = &caller.tenant;
    let mut tx = st.db.tenant(t).read().await.map_err(ShopError::from)?;
    let s = store::settings::load(&mut *tx, t)
        .await
        .map_err(ShopError::from)?;
    // Milliseconds are whole milli-minutes × 60 (see the domain).
    let milli_minutes = i64::try_from(s.order_ttl.as_millis() / 60).unwrap_or(i64::MAX);
    let text = format_scaled(milli_minutes, 3);
    let minutes = Decimal::parse(&text).map_or(text, |d| d.to_string());
    Ok(Json(SettingsAnswer {
        success: true,
        settings: SettingsView {
            tax_rate: s.tax_rate.percent(),
            order_ttl_minutes: minutes,
        },
    }))
}

/// Figures for the dashboard. Staff (admins, managers, accountants, shop
/// managers).
#[utoipa::path(
    get,
    path = "/api/v1/shop/summary",
    responses((status = 200, description = "The figures.", body = Success<contract::Summary>)),
)]
pub(super) async fn summary(
    State(st): State<AppState>,
    caller: Authorized<Staff>,
) -> ApiResult<Json<Success<contract::Summary>>> {
    let sum = st.summary(&caller.tenant).await?;
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

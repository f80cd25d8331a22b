//! The dashboard's figures.

use axum::extract::State;
use marimo_contracts::{
    Success,
    factory::{LowStockItem, Summary},
    ids::Sku,
    values::{Currency, Money, Qty},
};
use marimo_platform::{
    ApiResult,
    auth::policy::{Authorized, Staff},
    http::Json,
};
use utoipa_axum::{router::OpenApiRouter, routes};

use super::AppState;
use crate::{
    domain::work_order::Status,
    store::{summary, work_orders},
};

pub(super) fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(show))
}

/// The dashboard's production figures: work orders by status, items
/// below their reorder point, the stock's value.
///
/// Every status appears in `work_orders_by_status`, zero or not;
/// `in_progress` is released + started; `low_stock` lists active items
/// whose on hand over all warehouses is below their reorder point.
#[utoipa::path(
    get,
    path = "/api/v1/factory/summary",
    responses((status = 200, description = "The figures.", body = Success<Summary>)),
)]
async fn show(
    State(f): State<AppState>,
    Authorized(caller, _): Authorized<Staff>,
) -> ApiResult<Json<Success<Summary>>> {
    let t = &caller.tenant;
    let base = f.currency(t).await?;
    let mut tx = f.db.tenant(t).snapshot().await?;
    let counts = work_orders::count_by_status(&mut *tx, t).await?;
    let count = |s: Status| -> i64 {
        counts
            .iter()
            .filter(|(st, _)| *st == s)
            .map(|(_, n)| n)
            .sum()
    };
    let work_orders_by_status = Status::ALL
        .iter()
        .map(|s| (s.as_str().to_owned(), count(*s)))
        .collect();
    let low_stock = summary::low_stock(&mut *tx, t)
        .await?
        .into_iter()
        .map(|l| LowStockItem {
            sku: Sku::new(l.sku),
            name: l.name,
            on_hand: Qty::from_thousandths(l.on_hand),
            reorder_point: Qty::from_thousandths(l.reorder_point),
        })
        .collect();
    let (items, value) = summary::totals(&mut tx, t).await?;
    Ok(Json(Success::new(Summary {
        work_orders_by_status,
        in_progress: count(Status::Released) + count(Status::Started),
        low_stock,
        items,
        stock_value: Money::from_minor(value, base.scale()),
        currency: Currency::new(base.code()),
    })))
}

//! The dashboard's figures.

use axum::{Router, extract::State, routing::get};
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

use super::AppState;
use crate::{
    domain::work_order::Status,
    store::{summary, work_orders},
};

pub(super) fn routes() -> Router<AppState> {
    Router::new().route("/api/factory/summary", get(show))
}

/// Every status appears in `work_orders_by_status`, zero or not;
/// `in_progress` is released + started; `low_stock` lists active items
/// whose on hand over all warehouses is below their reorder point.
async fn show(
    State(f): State<AppState>,
    _: Authorized<Staff>,
) -> ApiResult<Json<Success<Summary>>> {
    let pool = f.db.pool();
    let counts = work_orders::count_by_status(pool).await?;
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
    let low_stock = summary::low_stock(pool)
        .await?
        .into_iter()
        .map(|l| LowStockItem {
            sku: Sku::new(l.sku),
            name: l.name,
            on_hand: Qty::from_thousandths(l.on_hand),
            reorder_point: Qty::from_thousandths(l.reorder_point),
        })
        .collect();
    let (items, value) = summary::totals(pool).await?;
    Ok(Json(Success::new(Summary {
        work_orders_by_status,
        in_progress: count(Status::Released) + count(Status::Started),
        low_stock,
        items,
        stock_value: Money::from_minor(value, f.currency.scale()),
        currency: Currency::new(f.currency.code()),
    })))
}

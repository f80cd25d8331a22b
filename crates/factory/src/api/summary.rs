//! The dashboard's figures.

use axum::{Router, extract::State, routing::get};
use marimo_platform::{ApiResult, http::Json};
use serde_json::{Map, Value, json};

use super::{AppState, Reader};
use crate::{
    domain::{qty, work_order::Status},
    store::{summary, work_orders},
};

pub(super) fn routes() -> Router<AppState> {
    Router::new().route("/api/factory/summary", get(show))
}

/// Every status appears in `work_orders_by_status`, zero or not;
/// `in_progress` is released + started; `low_stock` lists active items
/// whose on hand over all warehouses is below their reorder point.
async fn show(State(f): State<AppState>, _: Reader) -> ApiResult<Json<Value>> {
    let pool = f.db.pool();
    let counts = work_orders::count_by_status(pool).await?;
    let count = |s: Status| -> i64 {
        counts
            .iter()
            .filter(|(st, _)| *st == s)
            .map(|(_, n)| n)
            .sum()
    };
    let mut by_status = Map::new();
    for s in Status::ALL {
        by_status.insert(s.as_str().to_owned(), count(s).into());
    }
    let low: Vec<Value> = summary::low_stock(pool)
        .await?
        .iter()
        .map(|l| {
            json!({
                "sku": l.sku,
                "name": l.name,
                "on_hand": qty::format(l.on_hand),
                "reorder_point": qty::format(l.reorder_point),
            })
        })
        .collect();
    let (items, value) = summary::totals(pool).await?;
    Ok(Json(json!({
        "success": true,
        "work_orders_by_status": by_status,
        "in_progress": count(Status::Released) + count(Status::Started),
        "low_stock": low,
        "items": items,
        "stock_value": f.currency.format(value),
        "currency": f.currency.code(),
    })))
}

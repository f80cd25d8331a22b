//! `GET /api/v1/factory/valuation`: the inventory as the ledger booked
//! it, for the reconciliation of the inventory accounts.

use std::collections::BTreeMap;

use axum::extract::State;
use marimo_platform::{
    ApiResult, TimeRange,
    auth::policy::{Authorized, StockValuers},
    http::{Json, Query},
};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::{router::OpenApiRouter, routes};

use super::{AppState, views::ItemCategory};
use crate::{domain::qty, store::stock as store};

pub(super) fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(valuation))
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub(super) struct ValuationQuery {
    /// The valuation at the end of this day (`YYYY-MM-DD`, UTC), or at
    /// this instant (RFC 3339, exclusive). Default: now.
    #[param(example = "2026-12-31")]
    as_of: Option<String>,
}

/// An item in a warehouse under a category.
#[derive(Debug, Serialize, ToSchema)]
#[schema(example = json!({"category": "raw_material", "warehouse": "MAIN", "sku": "WOOD", "qty": "20.000", "value": "105.00"}))]
pub(super) struct ValuationLineView {
    #[schema(value_type = ItemCategory)]
    category: String,
    warehouse: String,
    sku: String,
    /// On hand, decimal string, three places.
    qty: String,
    /// Booked value: the sum of the `value` of every `factory.stock.moved`
    /// move of the line, base currency.
    value: String,
}

/// A category's total in a warehouse: what its inventory account holds
/// for that warehouse.
#[derive(Debug, Serialize, ToSchema)]
#[schema(example = json!({"category": "raw_material", "warehouse": "MAIN", "value": "105.00"}))]
pub(super) struct ValuationTotalView {
    #[schema(value_type = ItemCategory)]
    category: String,
    warehouse: String,
    value: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub(super) struct ValuationView {
    success: bool,
    /// The first instant not counted (RFC 3339, UTC); null: every move.
    before: Option<String>,
    /// The base currency.
    currency: String,
    lines: Vec<ValuationLineView>,
    totals: Vec<ValuationTotalView>,
}

/// The inventory valuation as of a date: per category, warehouse and
/// item, the quantity and the booked value (Σ of the published moves up
/// to then), with totals per category and warehouse.
#[utoipa::path(
    get,
    path = "/api/v1/factory/valuation",
    params(ValuationQuery),
    responses((status = 200, description = "The valuation.", body = ValuationView)),
)]
async fn valuation(
    State(f): State<AppState>,
    Authorized(caller, _): Authorized<StockValuers>,
    Query(q): Query<ValuationQuery>,
) -> ApiResult<Json<ValuationView>> {
    let before = match q.as_of.as_deref().map(str::trim).filter(|s| !s.is_empty()) {
        Some(as_of) => TimeRange::parse(None, Some(as_of))?.end_text(),
        None => None,
    };
    let mut tx = f.db.tenant(&caller.tenant).snapshot().await?;
    let lines = store::valuation(&mut *tx, &caller.tenant, before.as_deref().unwrap_or("")).await?;
    let mut totals: BTreeMap<(&str, &str), i64> = BTreeMap::new();
    for l in &lines {
        *totals
            .entry((l.category.as_str(), &l.warehouse))
            .or_default() += l.value;
    }
    let c = &f.currency;
    Ok(Json(ValuationView {
        success: true,
        before: before.clone(),
        currency: c.code().to_owned(),
        totals: totals
            .into_iter()
            .map(|((category, warehouse), value)| ValuationTotalView {
                category: category.to_owned(),
                warehouse: warehouse.to_owned(),
                value: c.format(value),
            })
            .collect(),
        lines: lines
            .iter()
            .map(|l| ValuationLineView {
                category: l.category.as_str().to_owned(),
                warehouse: l.warehouse.clone(),
                sku: l.sku.clone(),
                qty: qty::format(l.qty),
                value: c.format(l.value),
            })
            .collect(),
    }))
}

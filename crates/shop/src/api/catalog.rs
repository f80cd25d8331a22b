//! The public catalog: anyone may read active products; shop managers and
//! admins see inactive ones too (on request in lists).

use axum::extract::State;
use marimo_platform::{
    ApiError, ApiResult,
    auth::MaybeCaller,
    http::{Json, Page, Query},
    ids,
};
use serde::Deserialize;
use serde_json::{Value, json};

use super::{AppState, IdParam, views};
use crate::{
    ShopError,
    domain::{
        catalog::{self, MAX_QUERY_CHARS, Sort},
        pricing::{self, DEFAULT_CURRENCY},
    },
    store::products::{self, Filter},
};

#[derive(Debug, Deserialize)]
pub(super) struct ListQuery {
    /// Case-insensitive substring of the name or the description.
    q: Option<String>,
    category: Option<String>,
    /// Decimal bounds in `currency` (default USD); with either, only
    /// products in that currency are listed.
    min_price: Option<String>,
    max_price: Option<String>,
    currency: Option<String>,
    /// name (default), price, -price, newest.
    sort: Option<String>,
    page: Option<u32>,
    limit: Option<u32>,
    /// Staff only (`/admin/products` always includes them).
    include_inactive: Option<bool>,
}

fn non_empty(s: &Option<String>) -> Option<&str> {
    s.as_deref().map(str::trim).filter(|s| !s.is_empty())
}

/// The store filter and the page a listing asks for; every bad parameter
/// is a 400 naming it.
fn filter_of(q: &ListQuery, include_inactive: bool) -> Result<(Filter, u32, u32, i64), ShopError> {
    let search = non_empty(&q.q);
    if search.is_some_and(|s| s.chars().count() > MAX_QUERY_CHARS) {
        return Err(crate::domain::Invalid::new(
            "q",
            format!("q must be at most {MAX_QUERY_CHARS} characters"),
        )
        .into());
    }
    let currency = non_empty(&q.currency)
        .map(|c| pricing::parse_currency("currency", c))
        .transpose()?;
    let priced = non_empty(&q.min_price).is_some() || non_empty(&q.max_price).is_some();
    let bound_currency = currency
        .clone()
        .unwrap_or_else(|| DEFAULT_CURRENCY.to_owned());
    let bound = |field: &str, v: Option<&str>| {
        v.map(|v| pricing::parse_bound(field, v, &bound_currency))
            .transpose()
    };
    let min_price = bound("min_price", non_empty(&q.min_price))?;
    let max_price = bound("max_price", non_empty(&q.max_price))?;
    if let (Some(lo), Some(hi)) = (min_price, max_price)
        && lo > hi
    {
        return Err(
            crate::domain::Invalid::new("min_price", "min_price is above max_price").into(),
        );
    }
    let sort = Sort::parse(q.sort.as_deref().unwrap_or(""))?;
    let (page, limit, offset) = Page {
        page: q.page,
        limit: q.limit,
    }
    .resolve()
    .map_err(|e| crate::domain::Invalid::new("page", e.message))?;
    let filter = Filter {
        include_inactive,
        pattern: search.map(catalog::contains_pattern),
        category: non_empty(&q.category).map(str::to_owned),
        // Price bounds only mean something within one currency.
        currency: if priced {
            Some(bound_currency.clone())
        } else {
            currency
        },
        min_price,
        max_price,
        sort,
    };
    Ok((filter, page, limit, offset))
}

/// A page of products as `{success, products, total, page, limit}`.
pub(super) async fn listing(
    st: &AppState,
    q: &ListQuery,
    include_inactive: bool,
) -> ApiResult<Json<Value>> {
    let (filter, page, limit, offset) = filter_of(q, include_inactive)?;
    let (list, total) = products::list(st.db.pool(), &filter, limit, offset).await?;
    let list: Vec<Value> = list.iter().map(views::product).collect();
    Ok(Json(json!({
        "success": true,
        "products": list,
        "total": total,
        "page": page,
        "limit": limit,
    })))
}

pub(super) async fn list(
    State(st): State<AppState>,
    MaybeCaller(caller): MaybeCaller,
    Query(q): Query<ListQuery>,
) -> ApiResult<Json<Value>> {
    let staff = caller.as_ref().is_some_and(crate::is_staff);
    listing(&st, &q, staff && q.include_inactive == Some(true)).await
}

/// The product at the top level of the body (as the original API);
/// inactive products do not exist for the public.
pub(super) async fn get(
    State(st): State<AppState>,
    MaybeCaller(caller): MaybeCaller,
    IdParam(id): IdParam,
) -> ApiResult<Json<Value>> {
    let not_found = || ApiError::not_found("no such product");
    if !ids::is_uuid(&id) {
        return Err(not_found());
    }
    let staff = caller.as_ref().is_some_and(crate::is_staff);
    match products::find(st.db.pool(), &id).await? {
        Some(p) if p.active || staff => {
            let mut body = views::product(&p);
            body["success"] = Value::Bool(true);
            Ok(Json(body))
        }
        _ => Err(not_found()),
    }
}

pub(super) async fn categories(State(st): State<AppState>) -> ApiResult<Json<Value>> {
    let list: Vec<Value> = products::categories(st.db.pool())
        .await?
        .into_iter()
        .map(|(name, count)| json!({"name": name, "count": count}))
        .collect();
    Ok(Json(json!({"success": true, "categories": list})))
}

//! The public catalog: anyone may read active products; shop managers and
//! admins see inactive ones too (on request in lists). Each shop has its
//! own catalog: a signed-in reader's tenant comes from the token, an
//! anonymous one names it in `X-Marimo-Tenant` (default: the default
//! tenant, the only one with the original demo catalog).

use axum::extract::State;
use marimo_platform::{
    ApiError, ApiResult,
    auth::MaybeCaller,
    http::{Json, Page, Query},
    ids,
    openapi::PageFields,
    tenant::{Tenant, TenantId},
};
use serde::Deserialize;
use utoipa::IntoParams;

use super::{
    AppState, IdParam,
    views::{self, CategoryList, CategoryView, ProductAnswer, ProductPage},
};
use crate::{
    ShopError,
    domain::{
        catalog::{self, MAX_QUERY_CHARS, Sort},
        pricing::{self, DEFAULT_CURRENCY},
    },
    store::products::{self, Filter},
};

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub(super) struct ListQuery {
    /// Case-insensitive substring of the name or the description (at most
    /// 200 characters).
    #[param(example = "widget")]
    q: Option<String>,
    /// Only this category (exact).
    #[param(example = "Electronics")]
    category: Option<String>,
    /// Lower price bound, a decimal in `currency` (default USD); with
    /// either bound, only products in that currency are listed.
    #[param(example = "10.00")]
    min_price: Option<String>,
    /// Upper price bound, a decimal in `currency`.
    #[param(example = "50.00")]
    max_price: Option<String>,
    /// ISO 4217: only products in this currency.
    #[param(example = "USD")]
    currency: Option<String>,
    /// `name` (default), `price`, `-price` or `newest`.
    #[param(example = "price")]
    sort: Option<String>,
    /// The page, from 1 (default 1).
    #[param(minimum = 1)]
    page: Option<u32>,
    /// Products per page, 1 to 100 (default 20).
    #[param(minimum = 1, maximum = 100)]
    limit: Option<u32>,
    /// Staff only: include inactive products (`/admin/products` always
    /// does). Ignored for everyone else.
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
    t: &TenantId,
    q: &ListQuery,
    include_inactive: bool,
) -> ApiResult<Json<ProductPage>> {
    let (filter, page, limit, offset) = filter_of(q, include_inactive)?;
    let mut tx = st.db.tenant(t).read().await.map_err(ShopError::from)?;
    let (list, total) = products::list(&mut tx, t, &filter, limit, offset)
        .await
        .map_err(ShopError::from)?;
    Ok(Json(ProductPage {
        success: true,
        products: list.iter().map(views::product).collect(),
        page: PageFields { total, page, limit },
    }))
}

/// The public catalog: active products (staff may ask for inactive ones
/// too), searched, filtered, sorted and paged.
#[utoipa::path(
    get,
    path = "/api/v1/shop/products",
    params(ListQuery, ("X-Marimo-Tenant" = Option<String>, Header, description = "The shop (tenant) an anonymous reader browses; default: the default tenant. Ignored when signed in.")),
    security((), ("bearer" = [])),
    responses((status = 200, description = "A page of products.", body = ProductPage)),
)]
pub(super) async fn list(
    State(st): State<AppState>,
    MaybeCaller(caller): MaybeCaller,
    Tenant(t): Tenant,
    Query(q): Query<ListQuery>,
) -> ApiResult<Json<ProductPage>> {
    let staff = caller.as_ref().is_some_and(crate::is_staff);
    listing(&st, &t, &q, staff && q.include_inactive == Some(true)).await
}

/// The product at the top level of the body (as the original API);
/// inactive products do not exist for the public.
#[utoipa::path(
    get,
    path = "/api/v1/shop/products/{id}",
    params(("id" = String, Path, description = "The product's id."), ("X-Marimo-Tenant" = Option<String>, Header, description = "The shop (tenant) of an anonymous reader; ignored when signed in.")),
    security((), ("bearer" = [])),
    responses((status = 200, description = "The product.", body = ProductAnswer)),
)]
pub(super) async fn get(
    State(st): State<AppState>,
    MaybeCaller(caller): MaybeCaller,
    Tenant(t): Tenant,
    IdParam(id): IdParam,
) -> ApiResult<Json<ProductAnswer>> {
    let not_found = || ApiError::not_found("no such product");
    if !ids::is_uuid(&id) {
        return Err(not_found());
    }
    let staff = caller.as_ref().is_some_and(crate::is_staff);
    let mut tx = st.db.tenant(&t).read().await.map_err(ShopError::from)?;
    match products::find(&mut *tx, &t, &id)
        .await
        .map_err(ShopError::from)?
    {
        Some(p) if p.active || staff => Ok(Json(ProductAnswer {
            success: true,
            product: views::product(&p),
        })),
        _ => Err(not_found()),
    }
}

/// The categories of active products, with how many each has.
#[utoipa::path(
    get,
    path = "/api/v1/shop/categories",
    params(("X-Marimo-Tenant" = Option<String>, Header, description = "The shop (tenant) of an anonymous reader; ignored when signed in.")),
    security((), ("bearer" = [])),
    responses((status = 200, description = "The categories.", body = CategoryList)),
)]
pub(super) async fn categories(
    State(st): State<AppState>,
    Tenant(t): Tenant,
) -> ApiResult<Json<CategoryList>> {
    let mut tx = st.db.tenant(&t).read().await.map_err(ShopError::from)?;
    let categories = products::categories(&mut *tx, &t)
        .await
        .map_err(ShopError::from)?
        .into_iter()
        .map(|(name, count)| CategoryView { name, count })
        .collect();
    Ok(Json(CategoryList {
        success: true,
        categories,
    }))
}

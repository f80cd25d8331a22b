//! Perpetual inventory: `/api/v1/accounting/inventory-accounts` (the
//! tenant's inventory-account mapping, bookkeepers) and
//! `/api/v1/accounting/reports/inventory-reconciliation` (the inventory
//! accounts against the factory's valuation; bookkeepers and managers).

use axum::{extract::State, http::request::Parts};
use marimo_platform::{
    ApiError, ApiResult,
    auth::{
        caller::bearer,
        policy::{Authorized, Bookkeepers, StockValuers},
    },
    http::{Json, Query},
};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::{router::OpenApiRouter, routes};

use super::{AppState, opt_date, parse_body};
use crate::domain::{
    calendar::{format_date, today},
    inventory::{Category, Mapping, Role},
};

pub(super) fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(show, replace))
        .routes(routes!(reconciliation))
}

/// The inventory account of each item category.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct CategoryAccounts {
    /// Bought to be made into something (default 1200).
    #[schema(example = "1200", max_length = 20)]
    raw_material: String,
    /// Made to be made into something (default 1230).
    #[schema(example = "1230", max_length = 20)]
    sub_assembly: String,
    /// Made to be sold (default 1220).
    #[schema(example = "1220", max_length = 20)]
    finished_good: String,
    /// Bought to be sold as it is (default 1240).
    #[schema(example = "1240", max_length = 20)]
    merchandise: String,
}

/// The counter-accounts of the moves' reasons.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct CounterAccounts {
    /// Goods received not invoiced, a liability: receipts (default 2050).
    #[schema(example = "2050", max_length = 20)]
    grni: String,
    /// Work in progress, an asset: production issues and output (default 1210).
    #[schema(example = "1210", max_length = 20)]
    wip: String,
    /// Cost of goods sold, an expense: shipments, returns (default 5000).
    #[schema(example = "5000", max_length = 20)]
    cogs: String,
    /// Inventory adjustments, an expense: counts, scrap, transfer
    /// rounding (default 5100).
    #[schema(example = "5100", max_length = 20)]
    adjustments: String,
    /// Opening balance equity: opening stock (default 3900).
    #[schema(example = "3900", max_length = 20)]
    opening: String,
}

/// A category's own account in one warehouse.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct Override {
    category: CategoryName,
    /// The warehouse code.
    #[schema(example = "EU", min_length = 1, max_length = 40)]
    warehouse: String,
    /// An asset account.
    #[schema(example = "1225", max_length = 20)]
    account: String,
}

/// An item category.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
enum CategoryName {
    RawMaterial,
    SubAssembly,
    FinishedGood,
    Merchandise,
}

impl From<CategoryName> for Category {
    fn from(c: CategoryName) -> Self {
        match c {
            CategoryName::RawMaterial => Self::RawMaterial,
            CategoryName::SubAssembly => Self::SubAssembly,
            CategoryName::FinishedGood => Self::FinishedGood,
            CategoryName::Merchandise => Self::Merchandise,
        }
    }
}

impl From<Category> for CategoryName {
    fn from(c: Category) -> Self {
        match c {
            Category::RawMaterial => Self::RawMaterial,
            Category::SubAssembly => Self::SubAssembly,
            Category::FinishedGood => Self::FinishedGood,
            Category::Merchandise => Self::Merchandise,
        }
    }
}

/// The mapping, as `PUT` takes it (all of it) and `GET` shows it.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct InventoryAccounts {
    categories: CategoryAccounts,
    counter: CounterAccounts,
    /// Per (category, warehouse) accounts, each pair at most once.
    #[serde(default)]
    #[schema(max_items = 200)]
    overrides: Vec<Override>,
}

/// `GET`/`PUT` answer: the mapping's fields beside `success`. Spelled out
/// rather than flattened: the request type refuses unknown fields, and a
/// flattened copy of its schema would refuse `success` too.
#[derive(Debug, Serialize, ToSchema)]
struct InventoryAccountsAnswer {
    success: bool,
    categories: CategoryAccounts,
    counter: CounterAccounts,
    overrides: Vec<Override>,
}

fn view(m: &Mapping) -> InventoryAccountsAnswer {
    let role = |r: Role| m.roles.get(&r).cloned().unwrap_or_default();
    let cat = |c: Category| role(Role::Category(c));
    InventoryAccountsAnswer {
        success: true,
        categories: CategoryAccounts {
            raw_material: cat(Category::RawMaterial),
            sub_assembly: cat(Category::SubAssembly),
            finished_good: cat(Category::FinishedGood),
            merchandise: cat(Category::Merchandise),
        },
        counter: CounterAccounts {
            grni: role(Role::Grni),
            wip: role(Role::Wip),
            cogs: role(Role::Cogs),
            adjustments: role(Role::Adjustments),
            opening: role(Role::Opening),
        },
        overrides: m
            .overrides
            .iter()
            .map(|((c, w), a)| Override {
                category: (*c).into(),
                warehouse: w.clone(),
                account: a.clone(),
            })
            .collect(),
    }
}

/// The inventory-account mapping: where `factory.stock.moved` posts.
#[utoipa::path(
    get,
    path = "/api/v1/accounting/inventory-accounts",
    responses((status = 200, description = "The mapping.", body = InventoryAccountsAnswer)),
)]
async fn show(
    Authorized(caller, _): Authorized<Bookkeepers>,
    State(s): State<AppState>,
) -> ApiResult<Json<InventoryAccountsAnswer>> {
    Ok(Json(view(
        &s.ledger.inventory_accounts(&caller.tenant).await?,
    )))
}

/// Replaces the mapping. Every account must exist, be active and have its
/// role's type (inventory, WIP: asset; GRNI: liability; COGS,
/// adjustments: expense; opening: equity), or nothing changes (422).
#[utoipa::path(
    put,
    path = "/api/v1/accounting/inventory-accounts",
    request_body = InventoryAccounts,
    responses(
        (status = 200, description = "The new mapping.", body = InventoryAccountsAnswer),
        (status = 422, description = "An account is missing, inactive or of the wrong type.", body = marimo_platform::openapi::ErrorBody),
    ),
)]
async fn replace(
    Authorized(caller, _): Authorized<Bookkeepers>,
    State(s): State<AppState>,
    Json(body): Json<Value>,
) -> ApiResult<Json<InventoryAccountsAnswer>> {
    let req: InventoryAccounts = parse_body(body)?;
    let c = &req.categories;
    let k = &req.counter;
    let roles = [
        (
            Role::Category(Category::RawMaterial),
            c.raw_material.as_str(),
        ),
        (
            Role::Category(Category::SubAssembly),
            c.sub_assembly.as_str(),
        ),
        (
            Role::Category(Category::FinishedGood),
            c.finished_good.as_str(),
        ),
        (
            Role::Category(Category::Merchandise),
            c.merchandise.as_str(),
        ),
        (Role::Grni, k.grni.as_str()),
        (Role::Wip, k.wip.as_str()),
        (Role::Cogs, k.cogs.as_str()),
        (Role::Adjustments, k.adjustments.as_str()),
        (Role::Opening, k.opening.as_str()),
    ];
    let overrides: Vec<(Category, &str, &str)> = req
        .overrides
        .iter()
        .map(|o| (o.category.into(), o.warehouse.as_str(), o.account.as_str()))
        .collect();
    let mapping = Mapping::parse(&roles, &overrides)?;
    let saved = s
        .ledger
        .set_inventory_accounts(&caller.tenant, &mapping)
        .await?;
    Ok(Json(view(&saved)))
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
struct DateQuery {
    /// The day, `YYYY-MM-DD` (default today, UTC): balances and valuation
    /// at its end.
    #[param(example = "2026-12-31")]
    date: Option<String>,
}

/// One inventory account of the reconciliation.
#[derive(Debug, Serialize, ToSchema)]
struct ReconciledAccount {
    #[schema(example = "1220")]
    account: String,
    #[schema(example = "Finished goods inventory")]
    name: String,
    /// The ledger's balance (debit − credit).
    #[schema(example = "96.10")]
    ledger: String,
    /// Σ the factory's value of the (category, warehouse) mapped here.
    #[schema(example = "96.10")]
    valuation: String,
    /// ledger − valuation.
    #[schema(example = "0.00")]
    difference: String,
}

/// The reconciliation.
#[derive(Debug, Serialize, ToSchema)]
struct ReconciliationAnswer {
    success: bool,
    report: &'static str,
    #[schema(example = "2026-12-31")]
    date: String,
    #[schema(example = "USD")]
    currency: String,
    /// Every difference is zero.
    ok: bool,
    accounts: Vec<ReconciledAccount>,
}

/// The caller's bearer token, forwarded to the factory so that it answers
/// for the caller's tenant under its own role rules.
struct Token(String);

impl<S: Send + Sync> axum::extract::FromRequestParts<S> for Token {
    type Rejection = ApiError;
    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, ApiError> {
        bearer(parts)
            .map(|t| Self(t.to_owned()))
            .ok_or_else(|| ApiError::unauthorized("a bearer token is required"))
    }
}

/// Each inventory account's ledger balance at the end of `date` against
/// the factory's valuation of the (category, warehouse) mapped to it;
/// `ok` when every difference is zero. 503 when the factory does not
/// answer.
#[utoipa::path(
    get,
    path = "/api/v1/accounting/reports/inventory-reconciliation",
    params(DateQuery),
    responses(
        (status = 200, description = "The reconciliation.", body = ReconciliationAnswer),
        (status = 503, description = "The factory's valuation is unavailable.", body = marimo_platform::openapi::ErrorBody),
    ),
)]
async fn reconciliation(
    Authorized(caller, _): Authorized<StockValuers>,
    Token(token): Token,
    State(s): State<AppState>,
    Query(q): Query<DateQuery>,
) -> ApiResult<Json<ReconciliationAnswer>> {
    let date = opt_date("date", q.date.as_deref())?.unwrap_or_else(today);
    let r = s
        .ledger
        .inventory_reconciliation(&caller.tenant, date, &s.factory, &token)
        .await?;
    let c = s.ledger.currency(&caller.tenant).await?;
    Ok(Json(ReconciliationAnswer {
        success: true,
        report: "inventory_reconciliation",
        date: format_date(r.as_of),
        currency: c.code().to_owned(),
        ok: r.ok(),
        accounts: r
            .accounts
            .iter()
            .map(|(a, name)| ReconciledAccount {
                account: a.account.clone(),
                name: name.clone(),
                ledger: c.format(a.ledger),
                valuation: c.format(a.valuation),
                difference: c.format(a.difference),
            })
            .collect(),
    }))
}

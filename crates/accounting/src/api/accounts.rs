//! `/api/v1/accounting/accounts`: the chart of accounts.

use axum::{
    extract::State,
    http::StatusCode,
    response::{IntoResponse, Response},
};
use marimo_platform::{
    ApiError, ApiResult,
    auth::policy::{Authorized, Bookkeepers},
    http::{Json, Query},
};
use serde::{Deserialize, Deserializer};
use serde_json::Value;
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::{router::OpenApiRouter, routes};

use super::{
    AccountCode, AppState, parse_body,
    views::{self, AccountAnswer, AccountList, AccountSaved},
};
use crate::{
    app::chart::AccountChanges,
    domain::accounts::{Account, AccountType, parse_code, parse_name},
};

pub(super) fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list, create))
        .routes(routes!(show, update))
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
struct ListQuery {
    /// Only accounts of this type.
    #[serde(rename = "type")]
    #[param(rename = "type", value_type = Option<AccountType>)]
    account_type: Option<String>,
    /// Only active (`true`) or inactive (`false`) accounts.
    active: Option<bool>,
}

/// The chart of accounts, by code.
#[utoipa::path(
    get,
    path = "/api/v1/accounting/accounts",
    params(ListQuery),
    responses((status = 200, description = "The accounts, by code.", body = AccountList)),
)]
async fn list(
    Authorized(caller, _): Authorized<Bookkeepers>,
    State(s): State<AppState>,
    Query(q): Query<ListQuery>,
) -> ApiResult<Json<AccountList>> {
    let wanted_type = q
        .account_type
        .as_deref()
        .map(str::parse::<AccountType>)
        .transpose()?;
    let all = s.ledger.accounts(&caller.tenant).await?;
    let list: Vec<views::AccountView> = all
        .iter()
        .filter(|r| wanted_type.is_none_or(|t| r.account.account_type == t))
        .filter(|r| q.active.is_none_or(|a| r.account.active == a))
        .map(views::account)
        .collect();
    Ok(Json(AccountList {
        success: true,
        total: list.len(),
        accounts: list,
    }))
}

/// `POST /accounts`. Unknown fields are refused.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"code": "6100", "name": "Software", "type": "expense", "parent": "6000"}))]
struct CreateRequest {
    /// 1 to 10 digits, unique.
    #[schema(example = "6100")]
    code: String,
    /// 1 to 200 characters.
    name: String,
    #[serde(rename = "type")]
    #[schema(value_type = AccountType)]
    account_type: String,
    /// The parent account's code (also accepted as `parent_code`).
    #[serde(default, alias = "parent_code")]
    parent: Option<String>,
    /// Default `true`.
    #[serde(default)]
    active: Option<bool>,
}

/// Adds an account to the chart.
#[utoipa::path(
    post,
    path = "/api/v1/accounting/accounts",
    request_body = CreateRequest,
    responses(
        (status = 201, description = "Created.", body = AccountSaved),
        (status = 409, description = "The code is taken.", body = marimo_platform::openapi::ErrorBody),
        (status = 422, description = "The parent does not exist or has another type.", body = marimo_platform::openapi::ErrorBody),
    ),
)]
async fn create(
    Authorized(caller, _): Authorized<Bookkeepers>,
    State(s): State<AppState>,
    Json(body): Json<Value>,
) -> ApiResult<Response> {
    let req: CreateRequest = parse_body(body)?;
    let parent = match req.parent.as_deref().map(str::trim) {
        None | Some("") => None,
        Some(p) => Some(parse_code("parent", p)?),
    };
    let account = Account {
        code: parse_code("code", &req.code)?,
        name: parse_name(&req.name)?,
        account_type: req.account_type.trim().parse()?,
        parent,
        active: req.active.unwrap_or(true),
    };
    let record = s.ledger.create_account(&caller.tenant, account).await?;
    Ok((
        StatusCode::CREATED,
        Json(AccountSaved {
            success: true,
            message: format!("account {} created", record.account.code),
            account: views::account(&record),
        }),
    )
        .into_response())
}

/// One account.
#[utoipa::path(
    get,
    path = "/api/v1/accounting/accounts/{code}",
    params(("code" = String, Path, description = "The account's code.")),
    responses((status = 200, description = "The account.", body = AccountAnswer)),
)]
async fn show(
    Authorized(caller, _): Authorized<Bookkeepers>,
    State(s): State<AppState>,
    AccountCode(code): AccountCode,
) -> ApiResult<Json<AccountAnswer>> {
    let record = s
        .ledger
        .account(&caller.tenant, &code)
        .await?
        .ok_or_else(|| ApiError::not_found("no such account"))?;
    Ok(Json(AccountAnswer {
        success: true,
        account: views::account(&record),
    }))
}

/// `Some(None)` for an explicit `null`, `None` when absent.
fn present<'de, D: Deserializer<'de>, T: Deserialize<'de>>(
    d: D,
) -> Result<Option<Option<T>>, D::Error> {
    Option::<T>::deserialize(d).map(Some)
}

/// `PUT /accounts/{code}`: the fields to change. Unknown fields are
/// refused.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"name": "Software subscriptions"}))]
struct UpdateRequest {
    #[serde(default)]
    name: Option<String>,
    #[serde(default, rename = "type")]
    #[schema(value_type = Option<AccountType>)]
    account_type: Option<String>,
    /// A code, or `null` / `""` for none (also accepted as `parent_code`).
    #[serde(default, alias = "parent_code", deserialize_with = "present")]
    #[schema(value_type = Option<String>)]
    parent: Option<Option<String>>,
    #[serde(default)]
    active: Option<bool>,
}

/// Changes an account.
#[utoipa::path(
    put,
    path = "/api/v1/accounting/accounts/{code}",
    params(("code" = String, Path, description = "The account's code.")),
    request_body = UpdateRequest,
    responses(
        (status = 200, description = "Updated.", body = AccountSaved),
        (status = 409, description = "The change conflicts with the account's postings or children.", body = marimo_platform::openapi::ErrorBody),
        (status = 422, description = "The parent does not exist or has another type.", body = marimo_platform::openapi::ErrorBody),
    ),
)]
async fn update(
    Authorized(caller, _): Authorized<Bookkeepers>,
    State(s): State<AppState>,
    AccountCode(code): AccountCode,
    Json(body): Json<Value>,
) -> ApiResult<Json<AccountSaved>> {
    let req: UpdateRequest = parse_body(body)?;
    let changes = AccountChanges {
        name: req.name.as_deref().map(parse_name).transpose()?,
        account_type: req
            .account_type
            .as_deref()
            .map(|t| t.trim().parse::<AccountType>())
            .transpose()?,
        parent: match req.parent {
            None => None,
            Some(None) => Some(None),
            Some(Some(p)) if p.trim().is_empty() => Some(None),
            Some(Some(p)) => Some(Some(parse_code("parent", &p)?)),
        },
        active: req.active,
    };
    let record = s
        .ledger
        .update_account(&caller.tenant, &code, changes)
        .await?;
    Ok(Json(AccountSaved {
        success: true,
        message: format!("account {code} updated"),
        account: views::account(&record),
    }))
}

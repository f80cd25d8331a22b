//! `/api/accounting/accounts`: the chart of accounts.

use axum::{
    Router,
    extract::State,
    http::StatusCode,
    response::{IntoResponse, Response},
    routing::get,
};
use marimo_platform::{
    ApiError, ApiResult,
    auth::policy::{Authorized, Bookkeepers},
    http::{Json, Query},
};
use serde::{Deserialize, Deserializer};
use serde_json::{Value, json};

use super::{AccountCode, AppState, parse_body};
use crate::{
    app::chart::AccountChanges,
    domain::accounts::{Account, AccountType, parse_code, parse_name},
    store::accounts::{self, AccountRecord},
};

pub(super) fn routes() -> Router<AppState> {
    Router::new()
        .route("/api/accounting/accounts", get(list).post(create))
        .route("/api/accounting/accounts/{code}", get(show).put(update))
}

pub(super) fn account_json(r: &AccountRecord) -> Value {
    let a = &r.account;
    json!({
        "code": a.code,
        "name": a.name,
        "type": a.account_type,
        "normal_balance": a.account_type.normal_side(),
        "parent": a.parent,
        "active": a.active,
        "created_at": r.created_at,
        "updated_at": r.updated_at,
    })
}

#[derive(Debug, Deserialize)]
struct ListQuery {
    #[serde(rename = "type")]
    account_type: Option<String>,
    active: Option<bool>,
}

async fn list(
    _: Authorized<Bookkeepers>,
    State(s): State<AppState>,
    Query(q): Query<ListQuery>,
) -> ApiResult<Json<Value>> {
    let wanted_type = q
        .account_type
        .as_deref()
        .map(str::parse::<AccountType>)
        .transpose()?;
    let all = accounts::list(s.ledger.db.pool()).await?;
    let list: Vec<Value> = all
        .iter()
        .filter(|r| wanted_type.is_none_or(|t| r.account.account_type == t))
        .filter(|r| q.active.is_none_or(|a| r.account.active == a))
        .map(account_json)
        .collect();
    Ok(Json(
        json!({"success": true, "total": list.len(), "accounts": list}),
    ))
}

#[derive(Debug, Deserialize)]
struct CreateRequest {
    code: String,
    name: String,
    #[serde(rename = "type")]
    account_type: String,
    #[serde(default, alias = "parent_code")]
    parent: Option<String>,
    #[serde(default)]
    active: Option<bool>,
}

async fn create(
    _: Authorized<Bookkeepers>,
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
    let record = s.ledger.create_account(account).await?;
    Ok((
        StatusCode::CREATED,
        axum::Json(json!({
            "success": true,
            "message": format!("account {} created", record.account.code),
            "account": account_json(&record),
        })),
    )
        .into_response())
}

async fn show(
    _: Authorized<Bookkeepers>,
    State(s): State<AppState>,
    AccountCode(code): AccountCode,
) -> ApiResult<Json<Value>> {
    let record = accounts::get(s.ledger.db.pool(), &code)
        .await?
        .ok_or_else(|| ApiError::not_found("no such account"))?;
    Ok(Json(
        json!({"success": true, "account": account_json(&record)}),
    ))
}

/// `Some(None)` for an explicit `null`, `None` when absent.
fn present<'de, D: Deserializer<'de>, T: Deserialize<'de>>(
    d: D,
) -> Result<Option<Option<T>>, D::Error> {
    Option::<T>::deserialize(d).map(Some)
}

#[derive(Debug, Deserialize)]
struct UpdateRequest {
    #[serde(default)]
    name: Option<String>,
    #[serde(default, rename = "type")]
    account_type: Option<String>,
    #[serde(default, alias = "parent_code", deserialize_with = "present")]
    parent: Option<Option<String>>,
    #[serde(default)]
    active: Option<bool>,
}

async fn update(
    _: Authorized<Bookkeepers>,
    State(s): State<AppState>,
    AccountCode(code): AccountCode,
    Json(body): Json<Value>,
) -> ApiResult<Json<Value>> {
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
    let record = s.ledger.update_account(&code, changes).await?;
    Ok(Json(json!({
        "success": true,
        "message": format!("account {code} updated"),
        "account": account_json(&record),
    })))
}

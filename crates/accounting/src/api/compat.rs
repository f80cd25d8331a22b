//! The original API's endpoints, kept on the ledger (API-COMPAT.md):
//! `/transactions` (income and expense, each a balanced entry) and
//! `/balance` (derived from the revenue and expense accounts).

use axum::{extract::State, http::HeaderMap, response::Response};
use marimo_platform::{
    ApiError, ApiResult,
    auth::policy::{Authorized, Bookkeepers},
    http::{Json, Page, Query},
    openapi::{ErrorBody, IdempotencyKeyHeader, PageFields},
};
use serde::Deserialize;
use serde_json::Value;
use utoipa::IntoParams;
use utoipa_axum::{router::OpenApiRouter, routes};

use super::{
    AppState, EntryId, answer, created, idempotency_key, parse_body,
    views::{self, Balance, TransactionAnswer, TransactionPage, TransactionRecorded},
};
use crate::{
    app::Origin,
    domain::compat::{self, TransactionRequest},
};

pub(super) fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list, create))
        .routes(routes!(show))
        .routes(routes!(balance))
}

/// The original returned every transaction, so a page is large by default.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
struct ListQuery {
    /// The page, from 1 (default 1).
    #[param(minimum = 1)]
    page: Option<u32>,
    /// Transactions per page, 1 to 1000 (default 500).
    #[param(minimum = 1, maximum = 1000)]
    limit: Option<u32>,
}

/// The original API's transactions, newest first; `total` tells if there
/// is more than the page.
#[utoipa::path(
    get,
    path = "/api/v1/accounting/transactions",
    params(ListQuery),
    responses((status = 200, description = "A page of transactions.", body = TransactionPage)),
)]
async fn list(
    Authorized(caller, _): Authorized<Bookkeepers>,
    State(s): State<AppState>,
    Query(q): Query<ListQuery>,
) -> ApiResult<Json<TransactionPage>> {
    let (page_no, limit, offset) = Page {
        page: q.page,
        limit: q.limit,
    }
    .resolve_within(500, 1000)?;
    let (rows, total) = s
        .ledger
        .compat_transactions(&caller.tenant, offset, i64::from(limit))
        .await?;
    let c = &s.ledger.currency(&caller.tenant).await?;
    Ok(Json(TransactionPage {
        success: true,
        transactions: rows.iter().map(|r| views::transaction(r, c)).collect(),
        page: PageFields {
            total,
            page: page_no,
            limit,
        },
    }))
}

/// Records income or expense: a balanced entry against cash (1000) and
/// revenue (4000) or expense (6000).
#[utoipa::path(
    post,
    path = "/api/v1/accounting/transactions",
    params(IdempotencyKeyHeader),
    request_body = TransactionRequest,
    responses(
        (status = 201, description = "Recorded.", body = TransactionRecorded),
        (status = 409, description = "The period of today is closed or locked.", body = ErrorBody),
        (status = 422, description = "The Idempotency-Key was used with another request.", body = ErrorBody),
    ),
)]
async fn create(
    Authorized(caller, _): Authorized<Bookkeepers>,
    State(s): State<AppState>,
    headers: HeaderMap,
    Json(body): Json<Value>,
) -> ApiResult<Response> {
    let key = idempotency_key(
        &headers,
        &caller,
        "POST",
        "/api/accounting/transactions",
        &body,
    )?;
    let req: TransactionRequest = parse_body(body)?;
    let c = &s.ledger.currency(&caller.tenant).await?;
    let tx = compat::validate(&req, c)?;
    let origin = Origin {
        source: "compat",
        created_by: &caller.user_id,
    };
    let done = s
        .ledger
        .record_transaction(&caller.tenant, tx, origin, key, |record| {
            created(TransactionRecorded {
                success: true,
                message: "transaction recorded".to_owned(),
                transaction: views::transaction(record, c),
            })
        })
        .await?;
    Ok(answer(done))
}

/// The transaction itself at the top level, as the original answered.
#[utoipa::path(
    get,
    path = "/api/v1/accounting/transactions/{id}",
    params(("id" = String, Path, description = "The transaction's id.")),
    responses((status = 200, description = "The transaction.", body = TransactionAnswer)),
)]
async fn show(
    Authorized(caller, _): Authorized<Bookkeepers>,
    State(s): State<AppState>,
    EntryId(id): EntryId,
) -> ApiResult<Json<TransactionAnswer>> {
    let r = s
        .ledger
        .compat_transaction(&caller.tenant, &id)
        .await?
        .ok_or_else(|| ApiError::not_found("no such transaction"))?;
    Ok(Json(TransactionAnswer {
        success: true,
        transaction: views::transaction(&r, &s.ledger.currency(&caller.tenant).await?),
    }))
}

/// Income, expense and their difference over the whole ledger (every
/// posting, whatever its path), as decimal strings.
#[utoipa::path(
    get,
    path = "/api/v1/accounting/balance",
    responses((status = 200, description = "The balance.", body = Balance)),
)]
async fn balance(
    Authorized(caller, _): Authorized<Bookkeepers>,
    State(s): State<AppState>,
) -> ApiResult<Json<Balance>> {
    let (income, expense, balance) = s.ledger.compat_balance(&caller.tenant).await?;
    let c = &s.ledger.currency(&caller.tenant).await?;
    Ok(Json(Balance {
        success: true,
        balance: c.format(balance),
        income: c.format(income),
        expense: c.format(expense),
        currency: c.code().to_owned(),
    }))
}

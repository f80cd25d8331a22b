//! The original API's endpoints, kept on the ledger (API-COMPAT.md):
//! `/transactions` (income and expense, each a balanced entry) and
//! `/balance` (derived from the revenue and expense accounts).

use axum::{Router, extract::State, http::HeaderMap, response::Response, routing::get};
use marimo_platform::{
    ApiError, ApiResult,
    auth::policy::{Authorized, Bookkeepers},
    http::{Json, Page, Query},
};
use serde::Deserialize;
use serde_json::{Value, json};

use super::{AppState, EntryId, answer, created, idempotency_key, parse_body};
use crate::{
    app::Origin,
    domain::{
        compat::{self, TransactionRequest},
        money::Currency,
    },
    store::compat as store,
};

pub(super) fn routes() -> Router<AppState> {
    Router::new()
        .route("/api/accounting/transactions", get(list).post(create))
        .route("/api/accounting/transactions/{id}", get(show))
        .route("/api/accounting/balance", get(balance))
}

/// The original's transaction object, plus the entry it became.
fn transaction_json(r: &store::TransactionRecord, c: &Currency) -> Value {
    json!({
        "id": r.id,
        "type": r.tx.kind,
        "amount": c.format(r.tx.amount),
        "description": r.tx.description,
        "category": r.tx.category,
        "created_by": r.created_by,
        "created_at": r.created_at,
        "entry_number": r.number,
        "reversed": r.reversed_by.is_some(),
    })
}

#[derive(Debug, Deserialize)]
struct ListQuery {
    page: Option<u32>,
    limit: Option<u32>,
}

/// Newest first; the original returned every transaction, so a page is
/// large by default (500, at most 1000) and `total` tells if there is more.
async fn list(
    _: Authorized<Bookkeepers>,
    State(s): State<AppState>,
    Query(q): Query<ListQuery>,
) -> ApiResult<Json<Value>> {
    let (page_no, limit, offset) = Page {
        page: q.page,
        limit: q.limit,
    }
    .resolve_within(500, 1000)?;
    let (rows, total) = store::list(s.ledger.db.pool(), offset, i64::from(limit)).await?;
    let c = &s.ledger.currency();
    Ok(Json(json!({
        "success": true,
        "transactions": rows.iter().map(|r| transaction_json(r, c)).collect::<Vec<_>>(),
        "total": total,
        "page": page_no,
        "limit": limit,
    })))
}

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
    let c = &s.ledger.currency();
    let tx = compat::validate(&req, c)?;
    let origin = Origin {
        source: "compat",
        created_by: &caller.user_id,
    };
    let done = s
        .ledger
        .record_transaction(tx, origin, key, |record| {
            created(json!({
                "success": true,
                "message": "transaction recorded",
                "transaction": transaction_json(record, c),
            }))
        })
        .await?;
    Ok(answer(done))
}

/// The transaction itself at the top level, as the original answered.
async fn show(
    _: Authorized<Bookkeepers>,
    State(s): State<AppState>,
    EntryId(id): EntryId,
) -> ApiResult<Json<Value>> {
    let r = store::get(s.ledger.db.pool(), &id)
        .await?
        .ok_or_else(|| ApiError::not_found("no such transaction"))?;
    let mut body = transaction_json(&r, &s.ledger.currency());
    body["success"] = json!(true);
    Ok(Json(body))
}

/// Income, expense and their difference over the whole ledger (every
/// posting, whatever its path), as decimal strings.
async fn balance(_: Authorized<Bookkeepers>, State(s): State<AppState>) -> ApiResult<Json<Value>> {
    let (income, expense, balance) = s.ledger.compat_balance().await?;
    let c = &s.ledger.currency();
    Ok(Json(json!({
        "success": true,
        "balance": c.format(balance),
        "income": c.format(income),
        "expense": c.format(expense),
        "currency": c.code(),
    })))
}

//! The original API's endpoints, kept on the ledger (API-COMPAT.md):
//! `/transactions` (income and expense, each a balanced entry) and
//! `/balance` (derived from the revenue and expense accounts).

use axum::{
    Router,
    extract::State,
    http::{HeaderMap, StatusCode},
    response::Response,
    routing::get,
};
use marimo_platform::{
    ApiError, ApiResult,
    http::{Json, Query},
};
use serde::Deserialize;
use serde_json::{Value, json};

use super::{
    AppState, Begun, Bookkeeper, EntryId, begin_posting, idempotency_key, page, parse_body,
    request_hash,
};
use crate::{
    domain::{
        calendar::today,
        compat::{self, TransactionRequest, category_key},
        money::Currency,
    },
    ledger::Origin,
    store::{compat as store, reports},
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
    _: Bookkeeper,
    State(s): State<AppState>,
    Query(q): Query<ListQuery>,
) -> ApiResult<Json<Value>> {
    let (page_no, limit, offset) = page(q.page, q.limit, 500, 1000)?;
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
    Bookkeeper(caller): Bookkeeper,
    State(s): State<AppState>,
    headers: HeaderMap,
    Json(body): Json<Value>,
) -> ApiResult<Response> {
    let key = idempotency_key(&headers)?;
    let hash = request_hash("POST", "/api/accounting/transactions", &body);
    let req: TransactionRequest = parse_body(body)?;
    let c = &s.ledger.currency();
    let tx = compat::validate(&req, c)?;
    let mut posting = match begin_posting(&s.ledger, &caller, key, &hash).await? {
        Begun::Replay(res) => return Ok(res),
        Begun::Post(p) => p,
    };
    let account = store::account_for(&mut posting.tx, tx.kind, &category_key(&tx.category))
        .await?
        .unwrap_or_else(|| tx.kind.default_account().to_owned());
    let draft = compat::draft(&tx, &account, today(), c)?;
    let origin = Origin {
        source: "compat",
        created_by: &caller.user_id,
    };
    let posted = s.ledger.post_in(&mut posting.tx, &draft, origin).await?;
    store::insert(
        &mut posting.tx,
        &posted.id,
        &tx,
        &caller.user_id,
        &posted.created_at,
    )
    .await?;
    let record = store::TransactionRecord {
        id: posted.id.clone(),
        tx,
        created_by: caller.user_id.clone(),
        created_at: posted.created_at.clone(),
        number: posted.number.clone(),
        reversed_by: None,
    };
    let body = json!({
        "success": true,
        "message": "transaction recorded",
        "transaction": transaction_json(&record, c),
    });
    posting.finish(&s.ledger, StatusCode::CREATED, body).await
}

/// The transaction itself at the top level, as the original answered.
async fn show(
    _: Bookkeeper,
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
async fn balance(_: Bookkeeper, State(s): State<AppState>) -> ApiResult<Json<Value>> {
    let mut tx = reports::snapshot(&s.ledger.db).await?;
    // Everything ever posted, future-dated entries included.
    let to = crate::domain::calendar::Period::parse("9999-12")
        .map(|p| p.last_day())
        .unwrap_or_else(|_| today());
    let totals = reports::totals(&mut tx, None, to).await?;
    tx.commit().await?;
    let (income, expense, balance) = compat::balance(&totals);
    let c = &s.ledger.currency();
    Ok(Json(json!({
        "success": true,
        "balance": c.format(balance),
        "income": c.format(income),
        "expense": c.format(expense),
        "currency": c.code(),
    })))
}

//! `/api/accounting/journal-entries`: posting, listing, reading and
//! reversing entries. Posted entries are immutable: PUT, PATCH and DELETE
//! answer 405.

use axum::{
    Router,
    extract::State,
    http::{HeaderMap, HeaderValue, header},
    response::{IntoResponse, Response},
    routing::{get, post},
};
use marimo_platform::{
    ApiError, ApiResult, ErrorCode,
    auth::policy::{Authorized, Bookkeepers},
    http::{Json, OptionalJson, Page, Query},
};
use serde::Deserialize;
use serde_json::{Value, json};

use super::{AppState, EntryId, answer, created, idempotency_key, opt_date, parse_body, views};
use crate::{
    app::Origin,
    domain::{
        accounts::parse_code,
        calendar::format_date,
        entry::{self, EntryRequest},
    },
    store::journal::{self, Filter},
};

pub(super) fn routes() -> Router<AppState> {
    Router::new()
        .route("/api/accounting/journal-entries", get(list).post(create))
        .route(
            "/api/accounting/journal-entries/{id}",
            get(show).put(immutable).patch(immutable).delete(immutable),
        )
        .route(
            "/api/accounting/journal-entries/{id}/reverse",
            post(reverse),
        )
}

#[derive(Debug, Deserialize)]
struct ListQuery {
    from: Option<String>,
    to: Option<String>,
    account: Option<String>,
    reference: Option<String>,
    order: Option<String>,
}

async fn list(
    _: Authorized<Bookkeepers>,
    State(s): State<AppState>,
    Query(q): Query<ListQuery>,
    Query(p): Query<Page>,
) -> ApiResult<Json<Value>> {
    let (page, limit, offset) = p.resolve()?;
    let from = opt_date("from", q.from.as_deref())?;
    let to = opt_date("to", q.to.as_deref())?;
    if let (Some(f), Some(t)) = (from, to)
        && f > t
    {
        return Err(ApiError::validation("from is after to"));
    }
    let newest_first = match q.order.as_deref().map(str::trim) {
        None | Some("") | Some("desc") => true,
        Some("asc") => false,
        Some(other) => {
            return Err(ApiError::validation(format!(
                "order must be asc or desc, got '{other}'"
            )));
        }
    };
    let account = match q.account.as_deref().map(str::trim) {
        None | Some("") => String::new(),
        Some(a) => parse_code("account", a)?,
    };
    let filter = Filter {
        from: from.map(format_date).unwrap_or_default(),
        to: to.map(format_date).unwrap_or_default(),
        account,
        reference: q.reference.map(|r| r.trim().to_owned()).unwrap_or_default(),
        newest_first,
    };
    let (entries, total) =
        journal::list(s.ledger.db.pool(), &filter, offset, i64::from(limit)).await?;
    let c = &s.ledger.currency();
    Ok(Json(json!({
        "success": true,
        "entries": entries.iter().map(|e| views::entry(e, c)).collect::<Vec<_>>(),
        "total": total,
        "page": page,
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
        "/api/accounting/journal-entries",
        &body,
    )?;
    let req: EntryRequest = parse_body(body)?;
    // Validation needs no database: a malformed or unbalanced entry is
    // refused before any transaction (and before the key is claimed).
    let draft = entry::validate(&req, &s.ledger.currency())?;
    let origin = Origin {
        source: "api",
        created_by: &caller.user_id,
    };
    let c = s.ledger.currency();
    let done = s
        .ledger
        .create_entry(&draft, origin, key, |posted| {
            created(json!({
                "success": true,
                "message": format!("journal entry {} posted", posted.number),
                "entry": views::entry(posted, &c),
            }))
        })
        .await?;
    Ok(answer(done))
}

async fn show(
    _: Authorized<Bookkeepers>,
    State(s): State<AppState>,
    EntryId(id): EntryId,
) -> ApiResult<Json<Value>> {
    let e = s.ledger.get(&id).await?;
    Ok(Json(
        json!({"success": true, "entry": views::entry(&e, &s.ledger.currency())}),
    ))
}

/// Posted entries are facts: corrections are reversing entries.
async fn immutable() -> Response {
    let mut res = ApiError::of(
        ErrorCode::MethodNotAllowed,
        "posted journal entries cannot be changed or deleted; reverse the entry with POST .../{id}/reverse and post a corrected one",
    )
    .into_response();
    res.headers_mut()
        .insert(header::ALLOW, HeaderValue::from_static("GET"));
    res
}

#[derive(Debug, Default, Deserialize)]
struct ReverseRequest {
    #[serde(default)]
    date: Option<String>,
}

async fn reverse(
    Authorized(caller, _): Authorized<Bookkeepers>,
    State(s): State<AppState>,
    EntryId(id): EntryId,
    headers: HeaderMap,
    OptionalJson(body): OptionalJson<Value>,
) -> ApiResult<Response> {
    let key = idempotency_key(
        &headers,
        &caller,
        "POST",
        &format!("/api/accounting/journal-entries/{id}/reverse"),
        &body,
    )?;
    let req: ReverseRequest = if body.is_null() {
        ReverseRequest::default()
    } else {
        parse_body(body)?
    };
    let date = opt_date("date", req.date.as_deref())?;
    let origin = Origin {
        source: "api",
        created_by: &caller.user_id,
    };
    let c = s.ledger.currency();
    let done = s
        .ledger
        .reverse_entry(&id, date, origin, key, |reversal| {
            created(json!({
                "success": true,
                "message": format!("journal entry reversed by {}", reversal.number),
                "reverses": id,
                "entry": views::entry(reversal, &c),
            }))
        })
        .await?;
    Ok(answer(done))
}

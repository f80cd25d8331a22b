//! `/api/v1/accounting/journal-entries`: posting, listing, reading and
//! reversing entries. Posted entries are immutable: PUT, PATCH and DELETE
//! answer 405.

use axum::{
    extract::State,
    http::{HeaderMap, HeaderValue, header},
    response::{IntoResponse, Response},
};
use marimo_platform::{
    ApiError, ApiResult, ErrorCode,
    auth::policy::{Authorized, Bookkeepers},
    http::{Json, OptionalJson, Page, Query},
    openapi::{ErrorBody, IdempotencyKeyHeader, PageFields},
};
use serde::Deserialize;
use serde_json::Value;
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::{router::OpenApiRouter, routes};

use super::{
    AppState, EntryId, answer, created, idempotency_key, opt_date, parse_body,
    views::{self, EntryAnswer, EntryPage, EntryPosted, EntryReversed},
};
use crate::{
    app::Origin,
    domain::{
        accounts::parse_code,
        calendar::format_date,
        entry::{self, EntryRequest},
    },
    store::journal::Filter,
};

pub(super) fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list, create))
        .routes(routes!(show, immutable))
        .routes(routes!(reverse))
}

/// `asc` or `desc` (default).
#[derive(Debug, Clone, Copy, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
#[allow(dead_code)] // the document's view of `order`, parsed as text
enum Order {
    Asc,
    Desc,
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
struct ListQuery {
    /// First day, `YYYY-MM-DD`, inclusive.
    #[param(example = "2026-01-01")]
    from: Option<String>,
    /// Last day, `YYYY-MM-DD`, inclusive.
    #[param(example = "2026-12-31")]
    to: Option<String>,
    /// Only entries with a line on this account (its code).
    account: Option<String>,
    /// Only entries with this reference.
    reference: Option<String>,
    /// By date: `desc` (default, newest first) or `asc`.
    #[param(value_type = Option<Order>, inline)]
    order: Option<String>,
}

/// Journal entries, newest first by default.
#[utoipa::path(
    get,
    path = "/api/v1/accounting/journal-entries",
    params(ListQuery, Page),
    responses((status = 200, description = "A page of entries.", body = EntryPage)),
)]
async fn list(
    Authorized(caller, _): Authorized<Bookkeepers>,
    State(s): State<AppState>,
    Query(q): Query<ListQuery>,
    Query(p): Query<Page>,
) -> ApiResult<Json<EntryPage>> {
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
    let (entries, total) = s
        .ledger
        .entries(&caller.tenant, &filter, offset, i64::from(limit))
        .await?;
    let c = &s.ledger.currency(&caller.tenant).await?;
    Ok(Json(EntryPage {
        success: true,
        entries: entries.iter().map(|e| views::entry(e, c)).collect(),
        page: PageFields { total, page, limit },
    }))
}

/// Posts a balanced entry. With an `Idempotency-Key`, a retry of the same
/// request gets the first answer again.
#[utoipa::path(
    post,
    path = "/api/v1/accounting/journal-entries",
    params(IdempotencyKeyHeader),
    request_body = crate::domain::entry::EntryRequest,
    responses(
        (status = 201, description = "Posted.", body = EntryPosted),
        (status = 409, description = "The period is closed or locked.", body = ErrorBody),
        (status = 422, description = "Unbalanced, an unknown or inactive account, or the Idempotency-Key was used with another request.", body = ErrorBody),
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
        "/api/accounting/journal-entries",
        &body,
    )?;
    let req: EntryRequest = parse_body(body)?;
    // Validation needs no database: a malformed or unbalanced entry is
    // refused before any transaction (and before the key is claimed).
    let c = s.ledger.currency(&caller.tenant).await?;
    let draft = entry::validate(&req, &c)?;
    let origin = Origin {
        source: "api",
        created_by: &caller.user_id,
    };
    let done = s
        .ledger
        .create_entry(&caller.tenant, &draft, origin, key, |posted| {
            created(EntryPosted {
                success: true,
                message: format!("journal entry {} posted", posted.number),
                entry: views::entry(posted, &c),
            })
        })
        .await?;
    Ok(answer(done))
}

/// One entry.
#[utoipa::path(
    get,
    path = "/api/v1/accounting/journal-entries/{id}",
    params(("id" = String, Path, description = "The entry's id.")),
    responses((status = 200, description = "The entry.", body = EntryAnswer)),
)]
async fn show(
    Authorized(caller, _): Authorized<Bookkeepers>,
    State(s): State<AppState>,
    EntryId(id): EntryId,
) -> ApiResult<Json<EntryAnswer>> {
    let e = s.ledger.get(&caller.tenant, &id).await?;
    Ok(Json(EntryAnswer {
        success: true,
        entry: views::entry(&e, &s.ledger.currency(&caller.tenant).await?),
    }))
}

/// Posted entries are facts: corrections are reversing entries. Always 405.
#[utoipa::path(
    method(put, patch, delete),
    path = "/api/v1/accounting/journal-entries/{id}",
    params(("id" = String, Path, description = "The entry's id.")),
    responses((status = 405, description = "Posted entries cannot be changed or deleted; reverse them.", body = ErrorBody, headers(("Allow" = String, description = "`GET`")))),
)]
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

/// `POST .../reverse`: an optional body. Unknown fields are refused.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"date": "2026-12-02"}))]
struct ReverseRequest {
    /// The reversal's date, `YYYY-MM-DD` (default today).
    #[serde(default)]
    date: Option<String>,
}

/// Reverses an entry with a new entry of the opposite lines (at most once).
#[utoipa::path(
    post,
    path = "/api/v1/accounting/journal-entries/{id}/reverse",
    params(("id" = String, Path, description = "The entry's id."), IdempotencyKeyHeader),
    request_body(content = Option<ReverseRequest>, description = "Optional; an empty body reverses today."),
    responses(
        (status = 201, description = "The reversing entry.", body = EntryReversed),
        (status = 409, description = "Already reversed, or the period is closed.", body = ErrorBody),
        (status = 422, description = "The Idempotency-Key was used with another request.", body = ErrorBody),
    ),
)]
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
    let c = s.ledger.currency(&caller.tenant).await?;
    let done = s
        .ledger
        .reverse_entry(&caller.tenant, &id, date, origin, key, |reversal| {
            created(EntryReversed {
                success: true,
                message: format!("journal entry reversed by {}", reversal.number),
                reverses: id.clone(),
                entry: views::entry(reversal, &c),
            })
        })
        .await?;
    Ok(answer(done))
}

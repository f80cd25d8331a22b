//! `/api/accounting/periods`: monthly periods and their status.

use axum::{
    Router,
    extract::State,
    routing::{get, post},
};
use marimo_platform::{
    ApiResult,
    auth::policy::{Admins, Authorized, Bookkeepers},
    http::{Json, Query},
};
use serde::Deserialize;
use serde_json::{Value, json};

use super::{AppState, PeriodParam};
use crate::{
    domain::{
        calendar::{MAX_YEAR, MIN_YEAR, Period, today},
        period::PeriodAction,
    },
    store::periods,
};

pub(super) fn routes() -> Router<AppState> {
    Router::new()
        .route("/api/accounting/periods", get(list))
        .route("/api/accounting/periods/{period}/close", post(close))
        .route("/api/accounting/periods/{period}/reopen", post(reopen))
        .route("/api/accounting/periods/{period}/lock", post(lock))
}

#[derive(Debug, Deserialize)]
struct ListQuery {
    year: Option<i32>,
}

async fn list(
    _: Authorized<Bookkeepers>,
    State(s): State<AppState>,
    Query(q): Query<ListQuery>,
) -> ApiResult<Json<Value>> {
    if let Some(y) = q.year
        && !(MIN_YEAR..=MAX_YEAR).contains(&y)
    {
        return Err(marimo_platform::ApiError::validation(format!(
            "year must be {MIN_YEAR}..={MAX_YEAR}"
        )));
    }
    let list = periods::list(s.ledger.db.pool(), q.year).await?;
    Ok(Json(json!({
        "success": true,
        // Periods without a row are open: only those posted to or whose
        // status was set are listed.
        "periods": list.iter().map(|p| json!({
            "period": p.period,
            "status": p.status,
            "updated_at": p.updated_at,
            "updated_by": p.updated_by,
        })).collect::<Vec<_>>(),
        "current_period": Period::of(today()).to_string(),
    })))
}

async fn change(
    s: &AppState,
    caller: &marimo_platform::auth::Caller,
    p: Period,
    action: PeriodAction,
) -> ApiResult<Json<Value>> {
    let change = s.ledger.change_period(p, action, &caller.user_id).await?;
    let message = if change.from == change.to {
        format!("period {p} was already {}", change.to)
    } else {
        format!("period {p} is now {}", change.to)
    };
    Ok(Json(json!({
        "success": true,
        "message": message,
        "period": {
            "period": p.to_string(),
            "status": change.to,
            "previous_status": change.from,
        },
    })))
}

async fn close(
    Authorized(caller, _): Authorized<Admins>,
    State(s): State<AppState>,
    PeriodParam(p): PeriodParam,
) -> ApiResult<Json<Value>> {
    change(&s, &caller, p, PeriodAction::Close).await
}

async fn reopen(
    Authorized(caller, _): Authorized<Admins>,
    State(s): State<AppState>,
    PeriodParam(p): PeriodParam,
) -> ApiResult<Json<Value>> {
    change(&s, &caller, p, PeriodAction::Reopen).await
}

/// Irreversible.
async fn lock(
    Authorized(caller, _): Authorized<Admins>,
    State(s): State<AppState>,
    PeriodParam(p): PeriodParam,
) -> ApiResult<Json<Value>> {
    change(&s, &caller, p, PeriodAction::Lock).await
}

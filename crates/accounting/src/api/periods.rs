//! `/api/v1/accounting/periods`: monthly periods and their status.

use axum::extract::State;
use marimo_platform::{
    ApiResult,
    auth::policy::{Admins, Authorized, Bookkeepers},
    http::{Json, Query},
    openapi::ErrorBody,
};
use serde::Deserialize;
use utoipa::IntoParams;
use utoipa_axum::{router::OpenApiRouter, routes};

use super::{
    AppState, PeriodParam,
    views::{self, PeriodChange, PeriodChanged, PeriodList},
};
use crate::domain::{
    calendar::{MAX_YEAR, MIN_YEAR, Period, today},
    period::PeriodAction,
};

pub(super) fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list))
        .routes(routes!(close))
        .routes(routes!(reopen))
        .routes(routes!(lock))
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
struct ListQuery {
    /// Only this year's periods.
    #[param(minimum = 1900, maximum = 9999, example = 2026)]
    year: Option<i32>,
}

/// Periods that were posted to or whose status was set, newest first.
#[utoipa::path(
    get,
    path = "/api/v1/accounting/periods",
    params(ListQuery),
    responses((status = 200, description = "The periods.", body = PeriodList)),
)]
async fn list(
    Authorized(caller, _): Authorized<Bookkeepers>,
    State(s): State<AppState>,
    Query(q): Query<ListQuery>,
) -> ApiResult<Json<PeriodList>> {
    if let Some(y) = q.year
        && !(MIN_YEAR..=MAX_YEAR).contains(&y)
    {
        return Err(marimo_platform::ApiError::validation(format!(
            "year must be {MIN_YEAR}..={MAX_YEAR}"
        )));
    }
    let list = s.ledger.periods(&caller.tenant, q.year).await?;
    Ok(Json(PeriodList {
        success: true,
        periods: list.iter().map(views::period).collect(),
        current_period: Period::of(today()).to_string(),
    }))
}

async fn change(
    s: &AppState,
    caller: &marimo_platform::auth::Caller,
    p: Period,
    action: PeriodAction,
) -> ApiResult<Json<PeriodChanged>> {
    let change = s
        .ledger
        .change_period(&caller.tenant, p, action, &caller.user_id)
        .await?;
    let message = if change.from == change.to {
        format!("period {p} was already {}", change.to)
    } else {
        format!("period {p} is now {}", change.to)
    };
    Ok(Json(PeriodChanged {
        success: true,
        message,
        period: PeriodChange {
            period: p.to_string(),
            status: change.to,
            previous_status: change.from,
        },
    }))
}

/// Closes a period: nothing posts into it until it is reopened. Admins only.
#[utoipa::path(
    post,
    path = "/api/v1/accounting/periods/{period}/close",
    params(("period" = String, Path, description = "`YYYY-MM`.", example = "2026-11")),
    responses(
        (status = 200, description = "Closed (or already closed).", body = PeriodChanged),
        (status = 409, description = "The period is locked.", body = ErrorBody),
    ),
)]
async fn close(
    Authorized(caller, _): Authorized<Admins>,
    State(s): State<AppState>,
    PeriodParam(p): PeriodParam,
) -> ApiResult<Json<PeriodChanged>> {
    change(&s, &caller, p, PeriodAction::Close).await
}

/// Reopens a closed period. Admins only.
#[utoipa::path(
    post,
    path = "/api/v1/accounting/periods/{period}/reopen",
    params(("period" = String, Path, description = "`YYYY-MM`.", example = "2026-11")),
    responses(
        (status = 200, description = "Open (or already open).", body = PeriodChanged),
        (status = 409, description = "The period is locked.", body = ErrorBody),
    ),
)]
async fn reopen(
    Authorized(caller, _): Authorized<Admins>,
    State(s): State<AppState>,
    PeriodParam(p): PeriodParam,
) -> ApiResult<Json<PeriodChanged>> {
    change(&s, &caller, p, PeriodAction::Reopen).await
}

/// Locks a period for good: irreversible. Admins only.
#[utoipa::path(
    post,
    path = "/api/v1/accounting/periods/{period}/lock",
    params(("period" = String, Path, description = "`YYYY-MM`.", example = "2026-11")),
    responses(
        (status = 200, description = "Locked (or already locked).", body = PeriodChanged),
        (status = 409, description = "The period cannot be locked now.", body = ErrorBody),
    ),
)]
async fn lock(
    Authorized(caller, _): Authorized<Admins>,
    State(s): State<AppState>,
    PeriodParam(p): PeriodParam,
) -> ApiResult<Json<PeriodChanged>> {
    change(&s, &caller, p, PeriodAction::Lock).await
}

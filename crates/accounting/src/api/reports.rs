//! `/api/v1/accounting/reports/...`, an account's ledger and the dashboard
//! summary (computed by `app::reports`). Amounts are decimal strings;
//! `?format=csv` answers `text/csv`.

use axum::{
    extract::State,
    response::{IntoResponse, Response},
};
use marimo_contracts::{
    Success, accounting as contract,
    values::{self, Money},
};
use marimo_platform::{
    ApiError, ApiResult,
    auth::policy::{Authorized, Bookkeepers, Staff},
    http::{Json, Page, Query},
    openapi::PageFields,
};
use serde::Deserialize;
use time::Date;
use utoipa::IntoParams;
use utoipa_axum::{router::OpenApiRouter, routes};

use super::{
    AccountCode, AppState, Format, FormatParam, csv_response, format, opt_date,
    views::{
        self, BalanceSheetView, IncomeStatementView, Ledger, LedgerAccount, LedgerLineView,
        ReportAsOf, ReportOver, TrialBalanceView,
    },
};
use crate::domain::{
    calendar::{FiscalCalendar, Period, format_date, today},
    csv,
};

pub(super) fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(trial_balance))
        .routes(routes!(income_statement))
        .routes(routes!(balance_sheet))
        .routes(routes!(ledger))
        .routes(routes!(summary))
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
struct AsOfQuery {
    /// The day, `YYYY-MM-DD` (default today, UTC).
    #[param(example = "2026-12-31")]
    as_of: Option<String>,
    /// `json` (default) or `csv`.
    #[param(value_type = Option<FormatParam>, inline)]
    format: Option<String>,
}

/// A trial balance at a day: every posting dated on or before `as_of`
/// counts (whole months from the monthly balances, the days of its own
/// month from the lines).
#[utoipa::path(
    get,
    path = "/api/v1/accounting/reports/trial-balance",
    params(AsOfQuery),
    responses((status = 200, description = "The trial balance.", content(
        (ReportAsOf<TrialBalanceView> = "application/json"),
        (String = "text/csv"),
    ))),
)]
async fn trial_balance(
    Authorized(caller, _): Authorized<Bookkeepers>,
    State(s): State<AppState>,
    Query(q): Query<AsOfQuery>,
) -> ApiResult<Response> {
    let fmt = format(q.format.as_deref())?;
    let as_of = opt_date("as_of", q.as_of.as_deref())?.unwrap_or_else(today);
    let tb = s.ledger.trial_balance(&caller.tenant, as_of).await?;
    let c = &s.ledger.currency(&caller.tenant).await?;
    Ok(match fmt {
        Format::Csv => csv_response(
            &format!("trial-balance-{}.csv", format_date(as_of)),
            csv::trial_balance(&tb, c),
        ),
        Format::Json => Json(ReportAsOf {
            success: true,
            report: "trial_balance",
            as_of: format_date(as_of),
            currency: c.code().to_owned(),
            body: views::trial_balance(&tb, c),
        })
        .into_response(),
    })
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
struct RangeQuery {
    /// First day, `YYYY-MM-DD` (default the first day of the tenant's
    /// fiscal year that `to` is in).
    #[param(example = "2026-01-01")]
    from: Option<String>,
    /// Last day, `YYYY-MM-DD` (default today, UTC).
    #[param(example = "2026-12-31")]
    to: Option<String>,
    /// `json` (default) or `csv`.
    #[param(value_type = Option<FormatParam>, inline)]
    format: Option<String>,
}

/// `[from, to]`, both inclusive; `to` defaults to today and `from` to the
/// first day of the fiscal year (`fiscal`, the tenant's) `to` is in.
fn range(from: Option<&str>, to: Option<&str>, fiscal: FiscalCalendar) -> ApiResult<(Date, Date)> {
    let to = opt_date("to", to)?.unwrap_or_else(today);
    let from = opt_date("from", from)?.unwrap_or_else(|| fiscal.year_start(to));
    if from > to {
        return Err(ApiError::validation("from is after to"));
    }
    Ok((from, to))
}

/// Revenue and expenses over `[from, to]`.
#[utoipa::path(
    get,
    path = "/api/v1/accounting/reports/income-statement",
    params(RangeQuery),
    responses((status = 200, description = "The income statement.", content(
        (ReportOver<IncomeStatementView> = "application/json"),
        (String = "text/csv"),
    ))),
)]
async fn income_statement(
    Authorized(caller, _): Authorized<Bookkeepers>,
    State(s): State<AppState>,
    Query(q): Query<RangeQuery>,
) -> ApiResult<Response> {
    let fmt = format(q.format.as_deref())?;
    let fiscal = s.ledger.fiscal_calendar(&caller.tenant).await?;
    let (from, to) = range(q.from.as_deref(), q.to.as_deref(), fiscal)?;
    let is = s.ledger.income_statement(&caller.tenant, from, to).await?;
    let c = &s.ledger.currency(&caller.tenant).await?;
    Ok(match fmt {
        Format::Csv => csv_response(
            &format!(
                "income-statement-{}-{}.csv",
                format_date(from),
                format_date(to)
            ),
            csv::income_statement(&is, c),
        ),
        Format::Json => Json(ReportOver {
            success: true,
            report: "income_statement",
            from: format_date(from),
            to: format_date(to),
            currency: c.code().to_owned(),
            body: views::income_statement(&is, c),
        })
        .into_response(),
    })
}

/// Assets, liabilities and equity at `as_of`.
#[utoipa::path(
    get,
    path = "/api/v1/accounting/reports/balance-sheet",
    params(AsOfQuery),
    responses((status = 200, description = "The balance sheet.", content(
        (ReportAsOf<BalanceSheetView> = "application/json"),
        (String = "text/csv"),
    ))),
)]
async fn balance_sheet(
    Authorized(caller, _): Authorized<Bookkeepers>,
    State(s): State<AppState>,
    Query(q): Query<AsOfQuery>,
) -> ApiResult<Response> {
    let fmt = format(q.format.as_deref())?;
    let as_of = opt_date("as_of", q.as_of.as_deref())?.unwrap_or_else(today);
    let bs = s.ledger.balance_sheet(&caller.tenant, as_of).await?;
    let c = &s.ledger.currency(&caller.tenant).await?;
    Ok(match fmt {
        Format::Csv => csv_response(
            &format!("balance-sheet-{}.csv", format_date(as_of)),
            csv::balance_sheet(&bs, c),
        ),
        Format::Json => Json(ReportAsOf {
            success: true,
            report: "balance_sheet",
            as_of: format_date(as_of),
            currency: c.code().to_owned(),
            body: views::balance_sheet(&bs, c),
        })
        .into_response(),
    })
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
struct LedgerQuery {
    /// First day, `YYYY-MM-DD` (default: the beginning).
    #[param(example = "2026-01-01")]
    from: Option<String>,
    /// Last day, `YYYY-MM-DD` (default today, UTC).
    #[param(example = "2026-12-31")]
    to: Option<String>,
    /// `json` (default) or `csv`.
    #[param(value_type = Option<FormatParam>, inline)]
    format: Option<String>,
    /// The page, from 1 (default 1).
    #[param(minimum = 1)]
    page: Option<u32>,
    /// Lines per page, 1 to 10000 (default 1000).
    #[param(minimum = 1, maximum = 10000)]
    limit: Option<u32>,
}

/// An account's lines in `[from, to]` (default: everything up to today)
/// with the running balance on its normal side, from the opening balance
/// (everything before `from`). Pages carry on the running balance.
#[utoipa::path(
    get,
    path = "/api/v1/accounting/accounts/{code}/ledger",
    params(("code" = String, Path, description = "The account's code."), LedgerQuery),
    responses((status = 200, description = "The account's ledger.", content(
        (Ledger = "application/json"),
        (String = "text/csv"),
    ))),
)]
async fn ledger(
    Authorized(caller, _): Authorized<Bookkeepers>,
    State(s): State<AppState>,
    AccountCode(code): AccountCode,
    Query(q): Query<LedgerQuery>,
) -> ApiResult<Response> {
    let fmt = format(q.format.as_deref())?;
    let to = opt_date("to", q.to.as_deref())?.unwrap_or_else(today);
    let from = opt_date("from", q.from.as_deref())?.unwrap_or(Period::MIN.first_day());
    if from > to {
        return Err(ApiError::validation("from is after to"));
    }
    let (page_no, limit, offset) = Page {
        page: q.page,
        limit: q.limit,
    }
    .resolve_within(1000, 10_000)?;
    let l = s
        .ledger
        .account_ledger(&caller.tenant, &code, from, to, offset, i64::from(limit))
        .await?;
    let t = l.account.account_type;
    let c = &s.ledger.currency(&caller.tenant).await?;
    if fmt == Format::Csv {
        return Ok(csv_response(
            &format!(
                "ledger-{code}-{}-{}.csv",
                format_date(from),
                format_date(to)
            ),
            csv::ledger(l.page_opening, &l.lines, c),
        ));
    }
    Ok(Json(Ledger {
        success: true,
        account: LedgerAccount {
            code: l.account.code.clone(),
            name: l.account.name.clone(),
            account_type: t,
            normal_balance: t.normal_side(),
        },
        from: format_date(from),
        to: format_date(to),
        currency: c.code().to_owned(),
        opening_balance: c.format(l.opening),
        closing_balance: c.format(l.closing),
        lines: l
            .lines
            .iter()
            .map(|(line, balance)| LedgerLineView {
                date: line.date.clone(),
                entry_id: line.entry_id.clone(),
                number: line.number.clone(),
                description: line.description.clone(),
                memo: line.memo.clone(),
                debit: c.format(line.debit),
                credit: c.format(line.credit),
                balance: c.format(*balance),
            })
            .collect(),
        page: PageFields {
            total: l.total,
            page: page_no,
            limit,
        },
    })
    .into_response())
}

/// The dashboard's figures: revenue today, this calendar month and per
/// day over the last 30 days (UTC), and how many entries were posted.
/// Also for managers and shop managers.
#[utoipa::path(
    get,
    path = "/api/v1/accounting/summary",
    responses((status = 200, description = "The figures.", body = Success<contract::Summary>)),
)]
async fn summary(
    Authorized(caller, _): Authorized<Staff>,
    State(s): State<AppState>,
) -> ApiResult<Json<Success<contract::Summary>>> {
    let sum = s.ledger.summary(&caller.tenant, today()).await?;
    let c = &s.ledger.currency(&caller.tenant).await?;
    let money = |units| Money::from_minor(units, c.scale());
    let days = sum
        .revenue_by_day
        .into_iter()
        .map(|(date, amount)| contract::RevenueDay {
            date,
            amount: money(amount),
        })
        .collect();
    Ok(Json(Success::new(contract::Summary {
        currency: values::Currency::new(c.code()),
        revenue_today: money(sum.revenue_today),
        revenue_month: money(sum.revenue_month),
        revenue_by_day: days,
        entries_posted: sum.entries_posted,
    })))
}

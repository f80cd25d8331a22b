//! `/api/accounting/reports/...`, an account's ledger and the dashboard
//! summary (computed by `app::reports`). Amounts are decimal strings;
//! `?format=csv` answers `text/csv`.

use axum::{
    Router,
    extract::State,
    response::{IntoResponse, Response},
    routing::get,
};
use marimo_contracts::{
    Success, accounting as contract,
    values::{self, Money},
};
use marimo_platform::{
    ApiError, ApiResult,
    auth::policy::{Authorized, Bookkeepers, Staff},
    http::{Json, Page, Query},
};
use serde::Deserialize;
use serde_json::{Value, json};
use time::Date;

use super::{AccountCode, AppState, Format, csv_response, format, opt_date, views};
use crate::domain::{
    calendar::{Period, format_date, today},
    csv,
};

pub(super) fn routes() -> Router<AppState> {
    Router::new()
        .route("/api/accounting/reports/trial-balance", get(trial_balance))
        .route(
            "/api/accounting/reports/income-statement",
            get(income_statement),
        )
        .route("/api/accounting/reports/balance-sheet", get(balance_sheet))
        .route("/api/accounting/accounts/{code}/ledger", get(ledger))
        .route("/api/accounting/summary", get(summary))
}

/// Merges a report's fields into the response object.
fn with(mut head: Value, body: Value) -> Value {
    if let (Some(h), Value::Object(b)) = (head.as_object_mut(), body) {
        h.extend(b);
    }
    head
}

#[derive(Debug, Deserialize)]
struct AsOfQuery {
    as_of: Option<String>,
    format: Option<String>,
}

/// `as_of` is a day: every posting dated on or before it counts (whole
/// months from the monthly balances, the days of its own month from the
/// lines).
async fn trial_balance(
    _: Authorized<Bookkeepers>,
    State(s): State<AppState>,
    Query(q): Query<AsOfQuery>,
) -> ApiResult<Response> {
    let fmt = format(q.format.as_deref())?;
    let as_of = opt_date("as_of", q.as_of.as_deref())?.unwrap_or_else(today);
    let tb = s.ledger.trial_balance(as_of).await?;
    let c = &s.ledger.currency();
    Ok(match fmt {
        Format::Csv => csv_response(
            &format!("trial-balance-{}.csv", format_date(as_of)),
            csv::trial_balance(&tb, c),
        ),
        Format::Json => Json(with(
            json!({"success": true, "report": "trial_balance", "as_of": format_date(as_of), "currency": c.code()}),
            views::trial_balance(&tb, c),
        ))
        .into_response(),
    })
}

#[derive(Debug, Deserialize)]
struct RangeQuery {
    from: Option<String>,
    to: Option<String>,
    format: Option<String>,
}

/// `[from, to]`, both inclusive; `to` defaults to today and `from` to the
/// first day of `to`'s year.
fn range(from: Option<&str>, to: Option<&str>) -> ApiResult<(Date, Date)> {
    let to = opt_date("to", to)?.unwrap_or_else(today);
    let from = opt_date("from", from)?.unwrap_or_else(|| {
        Period::of(to)
            .first_day()
            .replace_month(time::Month::January)
            .unwrap_or(to)
    });
    if from > to {
        return Err(ApiError::validation("from is after to"));
    }
    Ok((from, to))
}

async fn income_statement(
    _: Authorized<Bookkeepers>,
    State(s): State<AppState>,
    Query(q): Query<RangeQuery>,
) -> ApiResult<Response> {
    let fmt = format(q.format.as_deref())?;
    let (from, to) = range(q.from.as_deref(), q.to.as_deref())?;
    let is = s.ledger.income_statement(from, to).await?;
    let c = &s.ledger.currency();
    Ok(match fmt {
        Format::Csv => csv_response(
            &format!("income-statement-{}-{}.csv", format_date(from), format_date(to)),
            csv::income_statement(&is, c),
        ),
        Format::Json => Json(with(
            json!({"success": true, "report": "income_statement", "from": format_date(from), "to": format_date(to), "currency": c.code()}),
            views::income_statement(&is, c),
        ))
        .into_response(),
    })
}

async fn balance_sheet(
    _: Authorized<Bookkeepers>,
    State(s): State<AppState>,
    Query(q): Query<AsOfQuery>,
) -> ApiResult<Response> {
    let fmt = format(q.format.as_deref())?;
    let as_of = opt_date("as_of", q.as_of.as_deref())?.unwrap_or_else(today);
    let bs = s.ledger.balance_sheet(as_of).await?;
    let c = &s.ledger.currency();
    Ok(match fmt {
        Format::Csv => csv_response(
            &format!("balance-sheet-{}.csv", format_date(as_of)),
            csv::balance_sheet(&bs, c),
        ),
        Format::Json => Json(with(
            json!({"success": true, "report": "balance_sheet", "as_of": format_date(as_of), "currency": c.code()}),
            views::balance_sheet(&bs, c),
        ))
        .into_response(),
    })
}

#[derive(Debug, Deserialize)]
struct LedgerQuery {
    from: Option<String>,
    to: Option<String>,
    format: Option<String>,
    page: Option<u32>,
    limit: Option<u32>,
}

/// An account's lines in `[from, to]` (default: everything up to today)
/// with the running balance on its normal side, from the opening balance
/// (everything before `from`). Pages carry on the running balance.
async fn ledger(
    _: Authorized<Bookkeepers>,
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
        .account_ledger(&code, from, to, offset, i64::from(limit))
        .await?;
    let t = l.account.account_type;
    let c = &s.ledger.currency();
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
    Ok(Json(json!({
        "success": true,
        "account": {
            "code": l.account.code,
            "name": l.account.name,
            "type": t,
            "normal_balance": t.normal_side(),
        },
        "from": format_date(from),
        "to": format_date(to),
        "currency": c.code(),
        "opening_balance": c.format(l.opening),
        "closing_balance": c.format(l.closing),
        "lines": l.lines.iter().map(|(line, balance)| json!({
            "date": line.date,
            "entry_id": line.entry_id,
            "number": line.number,
            "description": line.description,
            "memo": line.memo,
            "debit": c.format(line.debit),
            "credit": c.format(line.credit),
            "balance": c.format(*balance),
        })).collect::<Vec<_>>(),
        "total": l.total,
        "page": page_no,
        "limit": limit,
    }))
    .into_response())
}

/// The dashboard's figures: revenue today, this calendar month and per
/// day over the last 30 days (UTC), and how many entries were posted.
async fn summary(
    _: Authorized<Staff>,
    State(s): State<AppState>,
) -> ApiResult<Json<Success<contract::Summary>>> {
    let sum = s.ledger.summary(today()).await?;
    let c = &s.ledger.currency();
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

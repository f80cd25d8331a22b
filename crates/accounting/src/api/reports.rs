//! `/api/accounting/reports/...`, an account's ledger and the dashboard
//! summary. Reports read the monthly balances (plus the lines of partial
//! months) in one snapshot; amounts are decimal strings; `?format=csv`
//! answers `text/csv`.

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
    http::{Json, Query},
};
use serde::Deserialize;
use serde_json::{Value, json};
use time::Date;

use super::{
    AccountCode, AppState, Bookkeeper, DashboardReader, Format, csv_response, format, opt_date,
    page,
};
use crate::{
    domain::{
        calendar::{Period, format_date, today},
        csv,
        reports::{self, running_balance},
    },
    store::{accounts, journal, reports as store},
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
    _: Bookkeeper,
    State(s): State<AppState>,
    Query(q): Query<AsOfQuery>,
) -> ApiResult<Response> {
    let fmt = format(q.format.as_deref())?;
    let as_of = opt_date("as_of", q.as_of.as_deref())?.unwrap_or_else(today);
    let mut tx = store::snapshot(&s.ledger.db).await?;
    let totals = store::totals(&mut tx, None, as_of).await?;
    tx.commit().await?;
    let tb = reports::trial_balance(&totals);
    let c = &s.ledger.currency();
    Ok(match fmt {
        Format::Csv => csv_response(
            &format!("trial-balance-{}.csv", format_date(as_of)),
            csv::trial_balance(&tb, c),
        ),
        Format::Json => Json(with(
            json!({"success": true, "report": "trial_balance", "as_of": format_date(as_of), "currency": c.code()}),
            tb.to_json(c),
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
    _: Bookkeeper,
    State(s): State<AppState>,
    Query(q): Query<RangeQuery>,
) -> ApiResult<Response> {
    let fmt = format(q.format.as_deref())?;
    let (from, to) = range(q.from.as_deref(), q.to.as_deref())?;
    let mut tx = store::snapshot(&s.ledger.db).await?;
    let totals = store::totals(&mut tx, Some(from), to).await?;
    tx.commit().await?;
    let is = reports::income_statement(&totals);
    let c = &s.ledger.currency();
    Ok(match fmt {
        Format::Csv => csv_response(
            &format!("income-statement-{}-{}.csv", format_date(from), format_date(to)),
            csv::income_statement(&is, c),
        ),
        Format::Json => Json(with(
            json!({"success": true, "report": "income_statement", "from": format_date(from), "to": format_date(to), "currency": c.code()}),
            is.to_json(c),
        ))
        .into_response(),
    })
}

async fn balance_sheet(
    _: Bookkeeper,
    State(s): State<AppState>,
    Query(q): Query<AsOfQuery>,
) -> ApiResult<Response> {
    let fmt = format(q.format.as_deref())?;
    let as_of = opt_date("as_of", q.as_of.as_deref())?.unwrap_or_else(today);
    let mut tx = store::snapshot(&s.ledger.db).await?;
    let totals = store::totals(&mut tx, None, as_of).await?;
    tx.commit().await?;
    let bs = reports::balance_sheet(&totals);
    let c = &s.ledger.currency();
    Ok(match fmt {
        Format::Csv => csv_response(
            &format!("balance-sheet-{}.csv", format_date(as_of)),
            csv::balance_sheet(&bs, c),
        ),
        Format::Json => Json(with(
            json!({"success": true, "report": "balance_sheet", "as_of": format_date(as_of), "currency": c.code()}),
            bs.to_json(c),
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
    _: Bookkeeper,
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
    let (page_no, limit, offset) = page(q.page, q.limit, 1000, 10_000)?;
    let mut tx = store::snapshot(&s.ledger.db).await?;
    let account = accounts::get(&mut *tx, &code)
        .await?
        .ok_or_else(|| ApiError::not_found("no such account"))?
        .account;
    let t = account.account_type;
    let before_from = from
        .previous_day()
        .filter(|d| *d >= Period::MIN.first_day());
    let opening = match before_from {
        Some(day) => {
            let sums = store::sums(&mut tx, None, day, Some(&code)).await?;
            sums.get(&code).map_or(0, |(d, c)| t.balance(*d, *c))
        }
        None => 0,
    };
    let in_range = store::sums(&mut tx, Some(from), to, Some(&code)).await?;
    let closing = opening + in_range.get(&code).map_or(0, |(d, c)| t.balance(*d, *c));
    let (lines, total, (bd, bc)) =
        store::ledger_page(&mut tx, &code, from, to, offset, i64::from(limit)).await?;
    tx.commit().await?;
    let page_opening = opening + t.balance(bd, bc);
    let lines = running_balance(t, page_opening, lines);
    let c = &s.ledger.currency();
    if fmt == Format::Csv {
        return Ok(csv_response(
            &format!(
                "ledger-{code}-{}-{}.csv",
                format_date(from),
                format_date(to)
            ),
            csv::ledger(page_opening, &lines, c),
        ));
    }
    Ok(Json(json!({
        "success": true,
        "account": {
            "code": account.code,
            "name": account.name,
            "type": t,
            "normal_balance": t.normal_side(),
        },
        "from": format_date(from),
        "to": format_date(to),
        "currency": c.code(),
        "opening_balance": c.format(opening),
        "closing_balance": c.format(closing),
        "lines": lines.iter().map(|(l, balance)| json!({
            "date": l.date,
            "entry_id": l.entry_id,
            "number": l.number,
            "description": l.description,
            "memo": l.memo,
            "debit": c.format(l.debit),
            "credit": c.format(l.credit),
            "balance": c.format(*balance),
        })).collect::<Vec<_>>(),
        "total": total,
        "page": page_no,
        "limit": limit,
    }))
    .into_response())
}

/// The dashboard's figures: revenue today, this calendar month and per
/// day over the last 30 days (UTC), and how many entries were posted.
async fn summary(
    _: DashboardReader,
    State(s): State<AppState>,
) -> ApiResult<Json<Success<contract::Summary>>> {
    let today = today();
    let first = today - time::Duration::days(29);
    let month = Period::of(today);
    let mut tx = store::snapshot(&s.ledger.db).await?;
    let by_day = store::revenue_by_day(&mut tx, first, today).await?;
    let month_totals = store::totals(&mut tx, Some(month.first_day()), month.last_day()).await?;
    tx.commit().await?;
    let entries_posted = journal::count(s.ledger.db.pool()).await?;
    let c = &s.ledger.currency();
    let money = |units| Money::from_minor(units, c.scale());
    let revenue_month: i64 = reports::income_statement(&month_totals).total_revenue;
    let mut days = Vec::with_capacity(30);
    let mut day = first;
    while day <= today {
        let key = format_date(day);
        let amount = by_day.get(&key).copied().unwrap_or(0);
        days.push(contract::RevenueDay {
            date: key,
            amount: money(amount),
        });
        day = day.next_day().unwrap_or(today + time::Duration::days(1));
    }
    let revenue_today = by_day.get(&format_date(today)).copied().unwrap_or(0);
    Ok(Json(Success::new(contract::Summary {
        currency: values::Currency::new(c.code()),
        revenue_today: money(revenue_today),
        revenue_month: money(revenue_month),
        revenue_by_day: days,
        entries_posted,
    })))
}

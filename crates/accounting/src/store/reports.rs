//! What the reports read: per-account totals over a date range (whole
//! months from `account_balances`, partial months from the lines), an
//! account's lines, and the dashboard's figures.

use std::collections::BTreeMap;

use marimo_platform::{db::TxConn, tenant::TenantId};
use sqlx::Row;
use time::Date;

use super::decode_err;
use crate::domain::{
    accounts::AccountType,
    calendar::{format_date, plan_range},
    reports::{AccountTotals, LedgerLine},
};

/// Name and type of every account.
pub async fn chart(
    conn: &mut TxConn,
    t: &TenantId,
) -> Result<Vec<(String, String, AccountType)>, sqlx::Error> {
    let rows = sqlx::query(
        "SELECT code, name, account_type FROM accounts WHERE tenant_id = $1 ORDER BY code",
    )
    .bind(t.as_str())
    .fetch_all(conn)
    .await?;
    rows.iter()
        .map(|r| {
            let t: String = r.try_get("account_type")?;
            Ok((
                r.try_get("code")?,
                r.try_get("name")?,
                t.parse::<AccountType>()
                    .map_err(|e| decode_err(e.message))?,
            ))
        })
        .collect()
}

type Sums = BTreeMap<String, (i64, i64)>;

fn add_rows(sums: &mut Sums, rows: &[sqlx::any::AnyRow]) -> Result<(), sqlx::Error> {
    for r in rows {
        let e = sums.entry(r.try_get("account_code")?).or_default();
        let (d, c) = (
            r.try_get::<i64, _>("debit")?,
            r.try_get::<i64, _>("credit")?,
        );
        // Checked: a sum beyond i64 is an error, never a wrap or a panic.
        let overflow = || decode_err("an account total exceeds the representable range".into());
        e.0 = e.0.checked_add(d).ok_or_else(overflow)?;
        e.1 = e.1.checked_add(c).ok_or_else(overflow)?;
    }
    Ok(())
}

/// Debit and credit per account over `[from, to]` (`from = None`: since
/// the beginning); `account` limits it to one account.
pub async fn sums(
    conn: &mut TxConn,
    t: &TenantId,
    from: Option<Date>,
    to: Date,
    account: Option<&str>,
) -> Result<Sums, sqlx::Error> {
    let plan = plan_range(from, to);
    let account = account.unwrap_or("");
    let mut sums = Sums::new();
    if let Some((first, last)) = plan.months {
        let rows = sqlx::query(
            "SELECT account_code, CAST(SUM(debit) AS BIGINT) AS debit, CAST(SUM(credit) AS BIGINT) AS credit
             FROM account_balances
             WHERE tenant_id = $4 AND period >= $1 AND period <= $2
               AND ($3 = '' OR account_code = $3)
             GROUP BY account_code",
        )
        .bind(first.to_string())
        .bind(last.to_string())
        .bind(account)
        .bind(t.as_str())
        .fetch_all(&mut *conn)
        .await?;
        add_rows(&mut sums, &rows)?;
    }
    for (start, end) in plan.days {
        let rows = sqlx::query(
            "SELECT account_code, CAST(SUM(debit) AS BIGINT) AS debit, CAST(SUM(credit) AS BIGINT) AS credit
             FROM journal_lines
             WHERE tenant_id = $4 AND entry_date >= $1 AND entry_date <= $2
               AND ($3 = '' OR account_code = $3)
             GROUP BY account_code",
        )
        .bind(format_date(start))
        .bind(format_date(end))
        .bind(account)
        .bind(t.as_str())
        .fetch_all(&mut *conn)
        .await?;
        add_rows(&mut sums, &rows)?;
    }
    Ok(sums)
}

/// [`sums`] joined with the chart: one row per account (zero when none).
pub async fn totals(
    conn: &mut TxConn,
    t: &TenantId,
    from: Option<Date>,
    to: Date,
) -> Result<Vec<AccountTotals>, sqlx::Error> {
    let chart = chart(&mut *conn, t).await?;
    let mut sums = sums(conn, t, from, to, None).await?;
    Ok(chart
        .into_iter()
        .map(|(code, name, account_type)| {
            let (debit, credit) = sums.remove(&code).unwrap_or_default();
            AccountTotals {
                code,
                name,
                account_type,
                debit,
                credit,
            }
        })
        .collect())
}

const LEDGER_FROM: &str = "FROM journal_lines l
    JOIN journal_entries e ON e.tenant_id = l.tenant_id AND e.id = l.entry_id
    WHERE l.tenant_id = $4 AND l.account_code = $1 AND l.entry_date >= $2 AND l.entry_date <= $3";
const LEDGER_ORDER: &str = "ORDER BY l.entry_date, e.fiscal_year, e.seq, l.line_no";

/// Lines of `account` in `[from, to]`: the page, the number of lines in
/// the range, and the (debit, credit) of the lines before the page.
pub async fn ledger_page(
    conn: &mut TxConn,
    t: &TenantId,
    account: &str,
    from: Date,
    to: Date,
    offset: i64,
    limit: i64,
) -> Result<(Vec<LedgerLine>, i64, (i64, i64)), sqlx::Error> {
    let (from, to) = (format_date(from), format_date(to));
    let total: i64 = sqlx::query_scalar(sqlx::AssertSqlSafe(format!(
        "SELECT COUNT(*) {LEDGER_FROM}"
    )))
    .bind(account)
    .bind(&from)
    .bind(&to)
    .bind(t.as_str())
    .fetch_one(&mut *conn)
    .await?;
    let before = if offset == 0 {
        (0, 0)
    } else {
        let row = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT CAST(COALESCE(SUM(t.debit), 0) AS BIGINT) AS debit,
                    CAST(COALESCE(SUM(t.credit), 0) AS BIGINT) AS credit
             FROM (SELECT l.debit, l.credit {LEDGER_FROM} {LEDGER_ORDER} LIMIT $5) t"
        )))
        .bind(account)
        .bind(&from)
        .bind(&to)
        .bind(t.as_str())
        .bind(offset)
        .fetch_one(&mut *conn)
        .await?;
        (row.try_get("debit")?, row.try_get("credit")?)
    };
    let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
        "SELECT l.entry_date, e.id, e.number, e.description, l.memo, l.debit, l.credit
         {LEDGER_FROM} {LEDGER_ORDER} LIMIT $5 OFFSET $6"
    )))
    .bind(account)
    .bind(&from)
    .bind(&to)
    .bind(t.as_str())
    .bind(limit)
    .bind(offset)
    .fetch_all(&mut *conn)
    .await?;
    let lines = rows
        .iter()
        .map(|r| {
            Ok(LedgerLine {
                date: r.try_get("entry_date")?,
                entry_id: r.try_get("id")?,
                number: r.try_get("number")?,
                description: r.try_get("description")?,
                memo: r.try_get("memo")?,
                debit: r.try_get("debit")?,
                credit: r.try_get("credit")?,
            })
        })
        .collect::<Result<Vec<_>, sqlx::Error>>()?;
    Ok((lines, total, before))
}

/// Revenue (credit − debit on revenue accounts) per day in `[from, to]`.
pub async fn revenue_by_day(
    conn: &mut TxConn,
    t: &TenantId,
    from: Date,
    to: Date,
) -> Result<BTreeMap<String, i64>, sqlx::Error> {
    let rows = sqlx::query(
        "SELECT l.entry_date, CAST(SUM(l.credit) - SUM(l.debit) AS BIGINT) AS amount
         FROM journal_lines l
         JOIN accounts a ON a.tenant_id = l.tenant_id AND a.code = l.account_code
         WHERE l.tenant_id = $3 AND a.account_type = 'revenue'
           AND l.entry_date >= $1 AND l.entry_date <= $2
         GROUP BY l.entry_date",
    )
    .bind(format_date(from))
    .bind(format_date(to))
    .bind(t.as_str())
    .fetch_all(conn)
    .await?;
    rows.iter()
        .map(|r| Ok((r.try_get("entry_date")?, r.try_get("amount")?)))
        .collect()
}

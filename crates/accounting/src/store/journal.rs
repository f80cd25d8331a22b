//! Journal entries, their lines, reversals, numbering and the monthly
//! balances posting maintains.

use std::collections::BTreeMap;

use marimo_platform::{
    db::{Conn, ConnHandle, TxConn},
    tenant::TenantId,
};
use sqlx::{Any, Executor, Row, any::AnyRow};

use super::{placeholders, value_rows};
use crate::domain::{
    calendar::Period,
    entry::{DraftLine, PostedEntry, PostedLine},
};

/// The next number of `fiscal_year`, allocated inside the posting
/// transaction. The upsert creates the counter row on first use and
/// increments it otherwise; the row stays locked until commit, so
/// concurrent postings get consecutive numbers, and a rollback returns its
/// number (no gaps).
pub async fn next_seq(
    conn: &mut TxConn,
    t: &TenantId,
    fiscal_year: i32,
) -> Result<i64, sqlx::Error> {
    sqlx::query_scalar(
        "INSERT INTO entry_counters (tenant_id, fiscal_year, next) VALUES ($2, $1, 1)
         ON CONFLICT (tenant_id, fiscal_year) DO UPDATE SET next = entry_counters.next + 1
         RETURNING next",
    )
    .bind(i64::from(fiscal_year))
    .bind(t.as_str())
    .fetch_one(conn)
    .await
}

/// Reserves `n` consecutive numbers at once (bulk loading); returns the
/// first.
pub async fn reserve_seqs(
    conn: &mut TxConn,
    t: &TenantId,
    fiscal_year: i32,
    n: i64,
) -> Result<i64, sqlx::Error> {
    let last: i64 = sqlx::query_scalar(
        "INSERT INTO entry_counters (tenant_id, fiscal_year, next) VALUES ($3, $1, $2)
         ON CONFLICT (tenant_id, fiscal_year) DO UPDATE SET next = entry_counters.next + $2
         RETURNING next",
    )
    .bind(i64::from(fiscal_year))
    .bind(n)
    .bind(t.as_str())
    .fetch_one(conn)
    .await?;
    Ok(last - n + 1)
}

/// The header of an entry to insert.
#[derive(Debug, Clone)]
pub struct NewEntry<'a> {
    pub id: &'a str,
    pub number: &'a str,
    pub fiscal_year: i32,
    pub seq: i64,
    pub date: &'a str,
    pub period: &'a str,
    pub description: &'a str,
    pub reference: Option<&'a str>,
    pub source: &'a str,
    pub reverses: Option<&'a str>,
    pub currency: &'a str,
    pub total: i64,
    pub created_by: &'a str,
    pub created_at: &'a str,
}

const ENTRY_COLS: usize = 15;

/// Inserts entry headers in one statement (at most
/// [`ROWS_PER_STATEMENT`] of them).
pub async fn insert_entries(
    conn: &mut TxConn,
    t: &TenantId,
    entries: &[NewEntry<'_>],
) -> Result<(), sqlx::Error> {
    if entries.is_empty() {
        return Ok(());
    }
    let sql = format!(
        "INSERT INTO journal_entries (id, number, fiscal_year, seq, entry_date, period, description,
           reference, source, reverses_id, currency, total, created_by, created_at, tenant_id)
         VALUES {}",
        value_rows(entries.len(), ENTRY_COLS)
    );
    let mut q = sqlx::query(sqlx::AssertSqlSafe(sql));
    for e in entries {
        q = q
            .bind(e.id)
            .bind(e.number)
            .bind(i64::from(e.fiscal_year))
            .bind(e.seq)
            .bind(e.date)
            .bind(e.period)
            .bind(e.description)
            .bind(e.reference)
            .bind(e.source)
            .bind(e.reverses)
            .bind(e.currency)
            .bind(e.total)
            .bind(e.created_by)
            .bind(e.created_at)
            .bind(t.as_str());
    }
    q.execute(conn).await?;
    Ok(())
}

/// A line to insert: (entry id, entry date, line).
pub type NewLine<'a> = (&'a str, &'a str, &'a DraftLine);

const LINE_COLS: usize = 8;
/// Rows per multi-row INSERT. Small on purpose: SQLite looks up `$n`
/// parameters by name in a linear list, so a statement's cost grows with
/// the square of its parameter count (7 000 binds took ~450 ms, 700 take
/// 1-3 ms); 100 rows already amortise the round trip.
pub const ROWS_PER_STATEMENT: usize = 100;

/// Inserts lines, numbered from 1 within each entry in the given order.
pub async fn insert_lines(
    conn: &mut TxConn,
    t: &TenantId,
    lines: &[NewLine<'_>],
) -> Result<(), sqlx::Error> {
    let mut numbered = Vec::with_capacity(lines.len());
    let mut no = 0i64;
    let mut last: Option<&str> = None;
    for (entry_id, date, line) in lines {
        if last != Some(*entry_id) {
            no = 0;
            last = Some(entry_id);
        }
        no += 1;
        numbered.push((*entry_id, *date, no, *line));
    }
    for chunk in numbered.chunks(ROWS_PER_STATEMENT) {
        let sql = format!(
            "INSERT INTO journal_lines (entry_id, line_no, account_code, debit, credit, memo, entry_date, tenant_id)
             VALUES {}",
            value_rows(chunk.len(), LINE_COLS)
        );
        let mut q = sqlx::query(sqlx::AssertSqlSafe(sql));
        for (entry_id, date, no, l) in chunk {
            q = q
                .bind(*entry_id)
                .bind(*no)
                .bind(l.account.as_str())
                .bind(l.debit)
                .bind(l.credit)
                .bind(l.memo.as_deref())
                .bind(*date)
                .bind(t.as_str());
        }
        q.execute(&mut *conn).await?;
    }
    Ok(())
}

/// Adds to the monthly balances, one upsert for all accounts. `totals` is
/// keyed (account, period) and sorted, so concurrent postings update rows
/// in one order.
pub async fn add_balances(
    conn: &mut TxConn,
    t: &TenantId,
    totals: &BTreeMap<(String, String), (i64, i64)>,
) -> Result<(), sqlx::Error> {
    let rows: Vec<_> = totals.iter().collect();
    for chunk in rows.chunks(ROWS_PER_STATEMENT) {
        let sql = format!(
            "INSERT INTO account_balances (account_code, period, debit, credit, tenant_id) VALUES {}
             ON CONFLICT (tenant_id, account_code, period) DO UPDATE SET
               debit = account_balances.debit + excluded.debit,
               credit = account_balances.credit + excluded.credit",
            value_rows(chunk.len(), 5)
        );
        let mut q = sqlx::query(sqlx::AssertSqlSafe(sql));
        for ((account, period), (debit, credit)) in chunk {
            q = q
                .bind(account.as_str())
                .bind(period.as_str())
                .bind(*debit)
                .bind(*credit)
                .bind(t.as_str());
        }
        q.execute(&mut *conn).await?;
    }
    Ok(())
}

/// Links a reversal to its original; `false` when the original is already
/// reversed (the unique index decides, also between concurrent reversals).
pub async fn link_reversal(
    conn: &mut TxConn,
    t: &TenantId,
    original_id: &str,
    reversal_id: &str,
    now: &str,
) -> Result<bool, sqlx::Error> {
    let res = sqlx::query(
        "INSERT INTO reversals (original_id, reversal_id, created_at, tenant_id)
         VALUES ($1, $2, $3, $4)
         ON CONFLICT DO NOTHING",
    )
    .bind(original_id)
    .bind(reversal_id)
    .bind(now)
    .bind(t.as_str())
    .execute(conn)
    .await?;
    Ok(res.rows_affected() == 1)
}

/// The reversal of `e`, if any (same tenant).
const REVERSED_BY: &str =
    "LEFT JOIN reversals r ON r.tenant_id = e.tenant_id AND r.original_id = e.id";

const HEADER: &str = "e.id, e.number, e.entry_date, e.period, e.description, e.reference, e.source,
    e.currency, e.total, e.reverses_id, r.reversal_id AS reversed_by, e.created_by, e.created_at";

fn header(row: &AnyRow) -> Result<PostedEntry, sqlx::Error> {
    Ok(PostedEntry {
        id: row.try_get("id")?,
        number: row.try_get("number")?,
        date: row.try_get("entry_date")?,
        period: row.try_get("period")?,
        description: row.try_get("description")?,
        reference: row.try_get("reference")?,
        source: row.try_get("source")?,
        currency: row.try_get("currency")?,
        total: row.try_get("total")?,
        reverses: row.try_get("reverses_id")?,
        reversed_by: row.try_get("reversed_by")?,
        created_by: row.try_get("created_by")?,
        created_at: row.try_get("created_at")?,
        lines: Vec::new(),
    })
}

/// Fills in the lines of `entries` (one query).
async fn with_lines<'e>(
    ex: impl Executor<'e, Database = Any>,
    t: &TenantId,
    mut entries: Vec<PostedEntry>,
) -> Result<Vec<PostedEntry>, sqlx::Error> {
    if entries.is_empty() {
        return Ok(entries);
    }
    let sql = format!(
        "SELECT l.entry_id, l.line_no, l.account_code, a.name AS account_name, l.debit, l.credit, l.memo
         FROM journal_lines l
         JOIN accounts a ON a.tenant_id = l.tenant_id AND a.code = l.account_code
         WHERE l.tenant_id = $1 AND l.entry_id IN ({}) ORDER BY l.entry_id, l.line_no",
        placeholders(2, entries.len())
    );
    let mut q = sqlx::query(sqlx::AssertSqlSafe(sql)).bind(t.as_str());
    for e in &entries {
        q = q.bind(e.id.clone());
    }
    let mut by_entry: BTreeMap<String, Vec<PostedLine>> = BTreeMap::new();
    for row in q.fetch_all(ex).await? {
        by_entry
            .entry(row.try_get("entry_id")?)
            .or_default()
            .push(PostedLine {
                line_no: row.try_get("line_no")?,
                account: row.try_get("account_code")?,
                account_name: row.try_get("account_name")?,
                debit: row.try_get("debit")?,
                credit: row.try_get("credit")?,
                memo: row.try_get("memo")?,
            });
    }
    for e in &mut entries {
        e.lines = by_entry.remove(&e.id).unwrap_or_default();
    }
    Ok(entries)
}

/// An entry with its lines and reversal link.
pub async fn get<C: ConnHandle>(
    conn: &mut Conn<C>,
    t: &TenantId,
    id: &str,
) -> Result<Option<PostedEntry>, sqlx::Error> {
    let sql = format!(
        "SELECT {HEADER} FROM journal_entries e {REVERSED_BY}
         WHERE e.tenant_id = $2 AND e.id = $1"
    );
    let Some(row) = sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(id)
        .bind(t.as_str())
        .fetch_optional(&mut *conn)
        .await?
    else {
        return Ok(None);
    };
    let entry = header(&row)?;
    Ok(with_lines(conn, t, vec![entry]).await?.pop())
}

/// Filters of the journal list; empty strings mean "any".
#[derive(Debug, Clone, Default)]
pub struct Filter {
    pub from: String,
    pub to: String,
    pub account: String,
    pub reference: String,
    pub newest_first: bool,
}

const FILTER: &str = "e.tenant_id = $5 AND e.entry_date >= $1 AND e.entry_date <= $2
    AND ($3 = '' OR e.id IN (SELECT l.entry_id FROM journal_lines l
                             WHERE l.tenant_id = $5 AND l.account_code = $3))
    AND ($4 = '' OR e.reference = $4)";

/// A page of entries (with lines) and the number of entries matching.
pub async fn list(
    conn: &mut TxConn,
    t: &TenantId,
    f: &Filter,
    offset: i64,
    limit: i64,
) -> Result<(Vec<PostedEntry>, i64), sqlx::Error> {
    let from = if f.from.is_empty() {
        "0000-00-00"
    } else {
        &f.from
    };
    let to = if f.to.is_empty() { "9999-99-99" } else { &f.to };
    let total: i64 = sqlx::query_scalar(sqlx::AssertSqlSafe(format!(
        "SELECT COUNT(*) FROM journal_entries e WHERE {FILTER}"
    )))
    .bind(from)
    .bind(to)
    .bind(&f.account)
    .bind(&f.reference)
    .bind(t.as_str())
    .fetch_one(&mut *conn)
    .await?;
    let order = if f.newest_first { "DESC" } else { "ASC" };
    let sql = format!(
        "SELECT {HEADER} FROM journal_entries e {REVERSED_BY}
         WHERE {FILTER}
         ORDER BY e.entry_date {order}, e.fiscal_year {order}, e.seq {order}
         LIMIT $6 OFFSET $7"
    );
    let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(from)
        .bind(to)
        .bind(&f.account)
        .bind(&f.reference)
        .bind(t.as_str())
        .bind(limit)
        .bind(offset)
        .fetch_all(&mut *conn)
        .await?;
    let entries = rows.iter().map(header).collect::<Result<Vec<_>, _>>()?;
    Ok((with_lines(conn, t, entries).await?, total))
}

/// The entry an event posted for a source document (`reference`), if any.
/// Only event postings count: an entry typed in by hand with the same
/// reference is not the source document's posting.
pub async fn find_event_posting(
    conn: &mut TxConn,
    t: &TenantId,
    reference: &str,
) -> Result<Option<String>, sqlx::Error> {
    sqlx::query_scalar(
        "SELECT id FROM journal_entries
         WHERE tenant_id = $2 AND reference = $1 AND source = 'event' AND reverses_id IS NULL
         ORDER BY created_at, id LIMIT 1",
    )
    .bind(reference)
    .bind(t.as_str())
    .fetch_optional(conn)
    .await
}

/// How many entries were ever posted: the counters are gapless, so their
/// sum is the count (O(years), not O(entries)).
pub async fn count<'e>(
    ex: impl Executor<'e, Database = Any>,
    t: &TenantId,
) -> Result<i64, sqlx::Error> {
    sqlx::query_scalar(
        "SELECT CAST(COALESCE(SUM(next), 0) AS BIGINT) FROM entry_counters WHERE tenant_id = $1",
    )
    .bind(t.as_str())
    .fetch_one(ex)
    .await
}

/// `(account, period) → (debit, credit)` of a set of lines.
pub fn balance_deltas<'a>(
    lines: impl IntoIterator<Item = (Period, &'a DraftLine)>,
) -> BTreeMap<(String, String), (i64, i64)> {
    let mut m: BTreeMap<(String, String), (i64, i64)> = BTreeMap::new();
    for (period, l) in lines {
        let e = m
            .entry((l.account.clone(), period.to_string()))
            .or_default();
        e.0 += l.debit;
        e.1 += l.credit;
    }
    m
}

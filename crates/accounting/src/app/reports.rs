//! Reading the books: the financial reports, an account's ledger, the
//! original API's balance and the dashboard figures. Each reads in one
//! snapshot (`store::reports::snapshot`), so its several queries agree
//! with each other while postings commit; the arithmetic is `domain`'s.
//! Amounts are minor units of the base currency; `api` formats them.

use std::collections::BTreeMap;

use marimo_platform::tenant::TenantId;
use time::Date;

use super::Ledger;
use crate::{
    domain::{
        Rejection, RejectionKind,
        accounts::Account,
        calendar::{FiscalCalendar, Period, format_date},
        compat,
        reports::{self, BalanceSheet, IncomeStatement, LedgerLine, TrialBalance},
    },
    error::LedgerResult,
    store::{accounts, compat as compat_store, journal, reports as store},
};

impl Ledger {
    /// Tenant `t`'s fiscal calendar (January when its books say none).
    pub async fn fiscal_calendar(&self, t: &TenantId) -> LedgerResult<FiscalCalendar> {
        let mut tx = self.db.tenant(t).read().await?;
        let fiscal = crate::store::schema::fiscal_calendar_in(&mut tx, t).await?;
        tx.rollback().await?;
        Ok(fiscal)
    }
}

/// A page of an account's ledger over `[from, to]`.
#[derive(Debug, Clone)]
pub struct AccountLedger {
    pub account: Account,
    /// The balance on the account's normal side before `from`.
    pub opening: i64,
    /// The balance after every line up to `to` (not only this page's).
    pub closing: i64,
    /// The balance before this page's first line: pages carry on the
    /// running balance of the pages before them.
    pub page_opening: i64,
    /// Each line with the balance after it.
    pub lines: Vec<(LedgerLine, i64)>,
    /// How many lines the whole range has.
    pub total: i64,
}

/// The dashboard's figures (UTC days).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Summary {
    pub revenue_today: i64,
    /// Revenue of the calendar month of `today`.
    pub revenue_month: i64,
    /// Revenue per day over the last 30 days, oldest first, every day
    /// present (0 when nothing was posted): `(YYYY-MM-DD, amount)`.
    pub revenue_by_day: Vec<(String, i64)>,
    pub entries_posted: i64,
}

impl Ledger {
    /// Every posting dated on or before `as_of` (whole months from the
    /// monthly balances, the days of its own month from the lines).
    pub async fn trial_balance(&self, t: &TenantId, as_of: Date) -> LedgerResult<TrialBalance> {
        let mut tx = self.db.tenant(t).snapshot().await?;
        let totals = store::totals(&mut tx, t, None, as_of).await?;
        tx.commit().await?;
        Ok(reports::trial_balance(&totals))
    }

    /// Revenue and expenses over `[from, to]`, both inclusive.
    pub async fn income_statement(
        &self,
        t: &TenantId,
        from: Date,
        to: Date,
    ) -> LedgerResult<IncomeStatement> {
        let mut tx = self.db.tenant(t).snapshot().await?;
        let totals = store::totals(&mut tx, t, Some(from), to).await?;
        tx.commit().await?;
        Ok(reports::income_statement(&totals))
    }

    /// Assets, liabilities and equity (with current earnings) at `as_of`.
    pub async fn balance_sheet(&self, t: &TenantId, as_of: Date) -> LedgerResult<BalanceSheet> {
        let mut tx = self.db.tenant(t).snapshot().await?;
        let totals = store::totals(&mut tx, t, None, as_of).await?;
        tx.commit().await?;
        Ok(reports::balance_sheet(&totals))
    }

    /// The lines of account `code` in `[from, to]` from `offset`, at most
    /// `limit`, with the running balance on its normal side from the
    /// opening balance (everything before `from`).
    pub async fn account_ledger(
        &self,
        tenant: &TenantId,
        code: &str,
        from: Date,
        to: Date,
        offset: i64,
        limit: i64,
    ) -> LedgerResult<AccountLedger> {
        let mut tx = self.db.tenant(tenant).snapshot().await?;
        let account = accounts::get(&mut *tx, tenant, code)
            .await?
            .ok_or_else(|| Rejection::new(RejectionKind::NotFound, "NOT_FOUND", "no such account"))?
            .account;
        let t = account.account_type;
        let before_from = from
            .previous_day()
            .filter(|d| *d >= Period::MIN.first_day());
        let opening = match before_from {
            Some(day) => {
                let sums = store::sums(&mut tx, tenant, None, day, Some(code)).await?;
                sums.get(code).map_or(0, |(d, c)| t.balance(*d, *c))
            }
            None => 0,
        };
        let in_range = store::sums(&mut tx, tenant, Some(from), to, Some(code)).await?;
        let closing = opening + in_range.get(code).map_or(0, |(d, c)| t.balance(*d, *c));
        let (lines, total, (bd, bc)) =
            store::ledger_page(&mut tx, tenant, code, from, to, offset, limit).await?;
        tx.commit().await?;
        let page_opening = opening + t.balance(bd, bc);
        Ok(AccountLedger {
            lines: reports::running_balance(t, page_opening, lines),
            account,
            opening,
            closing,
            page_opening,
            total,
        })
    }

    /// The original API's `/balance`: income, expense and their difference
    /// over every posting, future-dated ones included, whatever path
    /// posted them.
    pub async fn compat_balance(&self, t: &TenantId) -> LedgerResult<(i64, i64, i64)> {
        let mut tx = self.db.tenant(t).snapshot().await?;
        let to = Period::MAX.last_day();
        let totals = store::totals(&mut tx, t, None, to).await?;
        tx.commit().await?;
        Ok(compat::balance(&totals))
    }

    /// A page of tenant `t`'s journal (with lines) and how many entries
    /// match.
    pub async fn entries(
        &self,
        t: &TenantId,
        filter: &journal::Filter,
        offset: i64,
        limit: i64,
    ) -> LedgerResult<(Vec<crate::domain::entry::PostedEntry>, i64)> {
        let mut tx = self.db.tenant(t).read().await?;
        let page = journal::list(&mut tx, t, filter, offset, limit).await?;
        tx.rollback().await?;
        Ok(page)
    }

    /// A page of tenant `t`'s original-API transactions, newest first, and
    /// how many there are.
    pub async fn compat_transactions(
        &self,
        t: &TenantId,
        offset: i64,
        limit: i64,
    ) -> LedgerResult<(Vec<compat_store::TransactionRecord>, i64)> {
        let mut tx = self.db.tenant(t).read().await?;
        let page = compat_store::list(&mut tx, t, offset, limit).await?;
        tx.rollback().await?;
        Ok(page)
    }

    /// One of tenant `t`'s original-API transactions.
    pub async fn compat_transaction(
        &self,
        t: &TenantId,
        id: &str,
    ) -> LedgerResult<Option<compat_store::TransactionRecord>> {
        let mut tx = self.db.tenant(t).read().await?;
        let record = compat_store::get(&mut tx, t, id).await?;
        tx.rollback().await?;
        Ok(record)
    }

    /// Revenue on `today`, in its month and per day over the 30 days up
    /// to it, and how many entries were posted.
    pub async fn summary(&self, t: &TenantId, today: Date) -> LedgerResult<Summary> {
        let first = today - time::Duration::days(29);
        let month = Period::of(today);
        let mut tx = self.db.tenant(t).snapshot().await?;
        let by_day = store::revenue_by_day(&mut tx, t, first, today).await?;
        let month_totals =
            store::totals(&mut tx, t, Some(month.first_day()), month.last_day()).await?;
        let entries_posted = journal::count(&mut *tx, t).await?;
        tx.commit().await?;
        Ok(Summary {
            revenue_today: by_day.get(&format_date(today)).copied().unwrap_or(0),
            revenue_month: reports::income_statement(&month_totals).total_revenue,
            revenue_by_day: every_day(first, today, &by_day),
            entries_posted,
        })
    }
}

/// `[first, last]` day by day with the amount of each (0 when absent).
fn every_day(first: Date, last: Date, amounts: &BTreeMap<String, i64>) -> Vec<(String, i64)> {
    let mut days = Vec::new();
    let mut day = first;
    while day <= last {
        let key = format_date(day);
        let amount = amounts.get(&key).copied().unwrap_or(0);
        days.push((key, amount));
        // The last representable day has no next: stop there.
        match day.next_day() {
            Some(next) => day = next,
            None => break,
        }
    }
    days
}

//! Response views: the JSON of accounts, entries, transactions, periods
//! and reports, as typed structs (each is a schema of the OpenAPI
//! document), with amounts as decimal strings in the base currency. The
//! shapes are the API's contract (the original API's for
//! `/transactions`); domain types carry no JSON.

use marimo_platform::openapi::PageFields;
use serde::Serialize;
use utoipa::ToSchema;

use crate::{
    domain::{
        accounts::{AccountType, Side},
        compat::Kind,
        entry::PostedEntry,
        money::Currency,
        period::PeriodStatus,
        reports::{BalanceSheet, IncomeStatement, StatementRow, TrialBalance},
    },
    store::{accounts::AccountRecord, compat::TransactionRecord, periods::PeriodRecord},
};

/// An account of the chart.
#[derive(Debug, Serialize, ToSchema)]
#[schema(example = json!({"code": "1000", "name": "Cash", "type": "asset", "normal_balance": "debit", "parent": null, "active": true, "created_at": "2026-12-01T09:00:00.000000Z", "updated_at": "2026-12-01T09:00:00.000000Z"}))]
pub(crate) struct AccountView {
    /// 1 to 10 digits.
    pub code: String,
    pub name: String,
    #[serde(rename = "type")]
    pub account_type: AccountType,
    /// The side its balance normally sits on (from its type).
    pub normal_balance: Side,
    /// The parent account's code, if any.
    pub parent: Option<String>,
    /// Inactive accounts take no new postings.
    pub active: bool,
    /// RFC 3339, UTC.
    pub created_at: String,
    /// RFC 3339, UTC.
    pub updated_at: String,
}

pub(crate) fn account(r: &AccountRecord) -> AccountView {
    let a = &r.account;
    AccountView {
        code: a.code.clone(),
        name: a.name.clone(),
        account_type: a.account_type,
        normal_balance: a.account_type.normal_side(),
        parent: a.parent.clone(),
        active: a.active,
        created_at: r.created_at.clone(),
        updated_at: r.updated_at.clone(),
    }
}

/// Whether an entry still stands.
#[derive(Debug, Clone, Copy, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub(crate) enum EntryStatus {
    Posted,
    Reversed,
}

/// A line of a journal entry.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct LineView {
    /// From 1, in the order posted.
    pub line_no: i64,
    /// The account's code.
    pub account: String,
    pub account_name: String,
    /// Decimal string; `"0.00"` on a credit line.
    #[schema(example = "1000.00")]
    pub debit: String,
    /// Decimal string; `"0.00"` on a debit line.
    #[schema(example = "0.00")]
    pub credit: String,
    pub memo: Option<String>,
}

/// A posted journal entry with its lines.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct EntryView {
    pub id: String,
    /// `JE-<year>-<seq>`, gapless per year.
    #[schema(example = "JE-2026-000001")]
    pub number: String,
    /// `YYYY-MM-DD`.
    pub date: String,
    /// `YYYY-MM`.
    pub period: String,
    pub description: String,
    pub reference: Option<String>,
    pub status: EntryStatus,
    /// `api`, `compat`, `event` or `reversal`: the path that posted it.
    pub source: String,
    /// The ledger's base currency.
    pub currency: String,
    /// The sum of the debits (= of the credits), decimal string.
    pub total: String,
    /// The entry this one reverses.
    pub reverses: Option<String>,
    /// The entry that reverses this one.
    pub reversed_by: Option<String>,
    pub created_by: String,
    pub created_at: String,
    pub lines: Vec<LineView>,
}

pub(crate) fn entry(e: &PostedEntry, c: &Currency) -> EntryView {
    EntryView {
        id: e.id.clone(),
        number: e.number.clone(),
        date: e.date.clone(),
        period: e.period.clone(),
        description: e.description.clone(),
        reference: e.reference.clone(),
        status: if e.reversed_by.is_some() {
            EntryStatus::Reversed
        } else {
            EntryStatus::Posted
        },
        source: e.source.clone(),
        currency: e.currency.clone(),
        total: c.format(e.total),
        reverses: e.reverses.clone(),
        reversed_by: e.reversed_by.clone(),
        created_by: e.created_by.clone(),
        created_at: e.created_at.clone(),
        lines: e
            .lines
            .iter()
            .map(|l| LineView {
                line_no: l.line_no,
                account: l.account.clone(),
                account_name: l.account_name.clone(),
                debit: c.format(l.debit),
                credit: c.format(l.credit),
                memo: l.memo.clone(),
            })
            .collect(),
    }
}

/// The original API's transaction, plus the entry it became.
#[derive(Debug, Serialize, ToSchema)]
#[schema(example = json!({"id": "0192f1c4-7c3e-7d2a-9c1e-2b9d2b7e4a10", "type": "income", "amount": "250.00", "description": "Consulting", "category": "services", "created_by": "0192f1c4-0000-7000-8000-000000000001", "created_at": "2026-12-01T09:00:00.000000Z", "entry_number": "JE-2026-000002", "reversed": false}))]
pub(crate) struct TransactionView {
    pub id: String,
    #[serde(rename = "type")]
    pub kind: Kind,
    /// Positive decimal string.
    pub amount: String,
    pub description: String,
    pub category: String,
    pub created_by: String,
    pub created_at: String,
    /// The journal entry that booked it.
    pub entry_number: String,
    /// Whether that entry was reversed.
    pub reversed: bool,
}

pub(crate) fn transaction(r: &TransactionRecord, c: &Currency) -> TransactionView {
    TransactionView {
        id: r.id.clone(),
        kind: r.tx.kind,
        amount: c.format(r.tx.amount),
        description: r.tx.description.clone(),
        category: r.tx.category.clone(),
        created_by: r.created_by.clone(),
        created_at: r.created_at.clone(),
        entry_number: r.number.clone(),
        reversed: r.reversed_by.is_some(),
    }
}

/// A period with a row (posted to, or its status set).
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct PeriodView {
    /// `YYYY-MM`.
    pub period: String,
    pub status: PeriodStatus,
    pub updated_at: String,
    pub updated_by: Option<String>,
}

pub(crate) fn period(p: &PeriodRecord) -> PeriodView {
    PeriodView {
        period: p.period.clone(),
        status: p.status,
        updated_at: p.updated_at.clone(),
        updated_by: p.updated_by.clone(),
    }
}

/// A row of a trial balance.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct TrialBalanceRowView {
    pub code: String,
    pub name: String,
    #[serde(rename = "type")]
    pub account_type: AccountType,
    pub normal_balance: Side,
    pub debit: String,
    pub credit: String,
    /// On the normal side.
    pub balance: String,
}

/// A trial balance: every account's debits, credits and balance.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct TrialBalanceView {
    pub accounts: Vec<TrialBalanceRowView>,
    pub total_debit: String,
    pub total_credit: String,
    /// Total debits equal total credits.
    pub balanced: bool,
}

pub(crate) fn trial_balance(tb: &TrialBalance, c: &Currency) -> TrialBalanceView {
    TrialBalanceView {
        accounts: tb
            .rows
            .iter()
            .map(|r| TrialBalanceRowView {
                code: r.code.clone(),
                name: r.name.clone(),
                account_type: r.account_type,
                normal_balance: r.account_type.normal_side(),
                debit: c.format(r.debit),
                credit: c.format(r.credit),
                balance: c.format(r.balance),
            })
            .collect(),
        total_debit: c.format(tb.total_debit),
        total_credit: c.format(tb.total_credit),
        balanced: tb.balanced(),
    }
}

/// An account's amount in a statement.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct StatementRowView {
    pub code: String,
    pub name: String,
    pub amount: String,
}

fn rows(rows: &[StatementRow], c: &Currency) -> Vec<StatementRowView> {
    rows.iter()
        .map(|r| StatementRowView {
            code: r.code.clone(),
            name: r.name.clone(),
            amount: c.format(r.amount),
        })
        .collect()
}

/// Revenue and expenses over a range.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct IncomeStatementView {
    pub revenue: Vec<StatementRowView>,
    pub expenses: Vec<StatementRowView>,
    pub total_revenue: String,
    pub total_expenses: String,
    pub net_income: String,
}

pub(crate) fn income_statement(is: &IncomeStatement, c: &Currency) -> IncomeStatementView {
    IncomeStatementView {
        revenue: rows(&is.revenue, c),
        expenses: rows(&is.expenses, c),
        total_revenue: c.format(is.total_revenue),
        total_expenses: c.format(is.total_expenses),
        net_income: c.format(is.net_income),
    }
}

/// Assets, liabilities and equity at a day.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct BalanceSheetView {
    pub assets: Vec<StatementRowView>,
    pub liabilities: Vec<StatementRowView>,
    pub equity: Vec<StatementRowView>,
    pub total_assets: String,
    pub total_liabilities: String,
    pub total_equity: String,
    /// Net income not yet closed into equity.
    pub current_earnings: String,
    pub total_liabilities_and_equity: String,
    /// Assets equal liabilities plus equity.
    pub balanced: bool,
}

pub(crate) fn balance_sheet(bs: &BalanceSheet, c: &Currency) -> BalanceSheetView {
    BalanceSheetView {
        assets: rows(&bs.assets, c),
        liabilities: rows(&bs.liabilities, c),
        equity: rows(&bs.equity, c),
        total_assets: c.format(bs.total_assets),
        total_liabilities: c.format(bs.total_liabilities),
        total_equity: c.format(bs.total_equity),
        current_earnings: c.format(bs.current_earnings),
        total_liabilities_and_equity: c.format(bs.total_liabilities_and_equity()),
        balanced: bs.balanced(),
    }
}

// ------------------------------------------------------------ answers

/// `{success, total, accounts}`.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct AccountList {
    pub success: bool,
    pub total: usize,
    pub accounts: Vec<AccountView>,
}

/// `{success, message, account}` (201 on creation).
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct AccountSaved {
    pub success: bool,
    pub message: String,
    pub account: AccountView,
}

/// `{success, account}`.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct AccountAnswer {
    pub success: bool,
    pub account: AccountView,
}

/// A page of entries.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct EntryPage {
    pub success: bool,
    pub entries: Vec<EntryView>,
    #[serde(flatten)]
    pub page: PageFields,
}

/// `{success, message, entry}` (201) for a posting.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct EntryPosted {
    pub success: bool,
    pub message: String,
    pub entry: EntryView,
}

/// `{success, entry}`.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct EntryAnswer {
    pub success: bool,
    pub entry: EntryView,
}

/// `{success, message, reverses, entry}` (201): the reversing entry.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct EntryReversed {
    pub success: bool,
    pub message: String,
    /// The id of the entry reversed.
    pub reverses: String,
    /// The reversing entry.
    pub entry: EntryView,
}

/// The original API's transaction list (a large page).
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct TransactionPage {
    pub success: bool,
    pub transactions: Vec<TransactionView>,
    #[serde(flatten)]
    pub page: PageFields,
}

/// `{success, message, transaction}` (201).
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct TransactionRecorded {
    pub success: bool,
    pub message: String,
    pub transaction: TransactionView,
}

/// The transaction at the top level, as the original answered.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct TransactionAnswer {
    pub success: bool,
    #[serde(flatten)]
    pub transaction: TransactionView,
}

/// `{success, balance, income, expense, currency}`.
#[derive(Debug, Serialize, ToSchema)]
#[schema(example = json!({"success": true, "balance": "150.00", "income": "250.00", "expense": "100.00", "currency": "USD"}))]
pub(crate) struct Balance {
    pub success: bool,
    /// Income minus expense.
    pub balance: String,
    /// Everything posted to revenue accounts.
    pub income: String,
    /// Everything posted to expense accounts.
    pub expense: String,
    pub currency: String,
}

/// `{success, periods, current_period}`.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct PeriodList {
    pub success: bool,
    /// Periods without a row are open: only those posted to or whose
    /// status was set are listed.
    pub periods: Vec<PeriodView>,
    /// `YYYY-MM`, today's (UTC).
    pub current_period: String,
}

/// A period's status change.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct PeriodChange {
    pub period: String,
    pub status: PeriodStatus,
    pub previous_status: PeriodStatus,
}

/// `{success, message, period}`.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct PeriodChanged {
    pub success: bool,
    pub message: String,
    pub period: PeriodChange,
}

/// A report at a day (trial balance, balance sheet).
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct ReportAsOf<T> {
    pub success: bool,
    /// `trial_balance` or `balance_sheet`.
    pub report: &'static str,
    /// `YYYY-MM-DD`.
    pub as_of: String,
    pub currency: String,
    #[serde(flatten)]
    pub body: T,
}

/// A report over a range (income statement).
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct ReportOver<T> {
    pub success: bool,
    /// `income_statement`.
    pub report: &'static str,
    /// `YYYY-MM-DD`, inclusive.
    pub from: String,
    /// `YYYY-MM-DD`, inclusive.
    pub to: String,
    pub currency: String,
    #[serde(flatten)]
    pub body: T,
}

/// The account an account ledger is of.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct LedgerAccount {
    pub code: String,
    pub name: String,
    #[serde(rename = "type")]
    pub account_type: AccountType,
    pub normal_balance: Side,
}

/// A line of an account's ledger, with the balance after it.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct LedgerLineView {
    pub date: String,
    pub entry_id: String,
    pub number: String,
    pub description: String,
    pub memo: Option<String>,
    pub debit: String,
    pub credit: String,
    /// The running balance on the account's normal side.
    pub balance: String,
}

/// An account's ledger over a range.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct Ledger {
    pub success: bool,
    pub account: LedgerAccount,
    pub from: String,
    pub to: String,
    pub currency: String,
    /// Everything before `from`.
    pub opening_balance: String,
    /// Everything up to `to`.
    pub closing_balance: String,
    pub lines: Vec<LedgerLineView>,
    #[serde(flatten)]
    pub page: PageFields,
}

#[cfg(test)]
mod tests {
    use super::*;
    // The sample of `domain::reports`' tests: capital 1000, a cash sale of
    // 500 + 50 tax, rent 200, stock bought on credit 300.
    use crate::domain::reports::{self, tests::sample};

    #[test]
    fn trial_balance_amounts_are_decimal_strings() {
        let json = serde_json::to_value(trial_balance(
            &reports::trial_balance(&sample()),
            &Currency::usd(),
        ))
        .unwrap();
        assert_eq!(json["total_debit"], "18.50");
        assert_eq!(json["accounts"][0]["balance"], "13.50");
    }

    #[test]
    fn balance_sheet_says_it_balances() {
        let bs = reports::balance_sheet(&sample());
        let json = serde_json::to_value(balance_sheet(&bs, &Currency::usd())).unwrap();
        assert_eq!(json["balanced"], true);
    }
}

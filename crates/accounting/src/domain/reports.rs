//! Financial reports computed from per-account totals: the store sums the
//! monthly balances (and the lines of partial months) per account, and
//! these functions turn those totals into reports. Amounts are minor units.

use super::accounts::AccountType;

/// An account's debit and credit turnover over some range.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccountTotals {
    pub code: String,
    pub name: String,
    pub account_type: AccountType,
    pub debit: i64,
    pub credit: i64,
}

impl AccountTotals {
    fn has_activity(&self) -> bool {
        self.debit != 0 || self.credit != 0
    }

    /// Balance on the account's normal side.
    pub fn balance(&self) -> i64 {
        self.account_type.balance(self.debit, self.credit)
    }
}

/// A trial balance row: the net balance in the debit or the credit column
/// (the other is zero), and the balance on the account's normal side.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TrialBalanceRow {
    pub code: String,
    pub name: String,
    pub account_type: AccountType,
    pub debit: i64,
    pub credit: i64,
    pub balance: i64,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TrialBalance {
    pub rows: Vec<TrialBalanceRow>,
    pub total_debit: i64,
    pub total_credit: i64,
}

impl TrialBalance {
    pub fn balanced(&self) -> bool {
        self.total_debit == self.total_credit
    }
}

/// Accounts with any posting in the range, by code.
pub fn trial_balance(totals: &[AccountTotals]) -> TrialBalance {
    let mut rows: Vec<TrialBalanceRow> = totals
        .iter()
        .filter(|t| t.has_activity())
        .map(|t| {
            let net = t.debit - t.credit;
            TrialBalanceRow {
                code: t.code.clone(),
                name: t.name.clone(),
                account_type: t.account_type,
                debit: net.max(0),
                credit: (-net).max(0),
                balance: t.balance(),
            }
        })
        .collect();
    rows.sort_by(|a, b| a.code.cmp(&b.code));
    TrialBalance {
        total_debit: rows.iter().map(|r| r.debit).sum(),
        total_credit: rows.iter().map(|r| r.credit).sum(),
        rows,
    }
}

/// One account's line in a statement section.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StatementRow {
    pub code: String,
    pub name: String,
    pub amount: i64,
}

fn section(totals: &[AccountTotals], t: AccountType) -> (Vec<StatementRow>, i64) {
    let mut rows: Vec<StatementRow> = totals
        .iter()
        .filter(|a| a.account_type == t && a.has_activity())
        .map(|a| StatementRow {
            code: a.code.clone(),
            name: a.name.clone(),
            amount: a.balance(),
        })
        .collect();
    rows.sort_by(|a, b| a.code.cmp(&b.code));
    let total = rows.iter().map(|r| r.amount).sum();
    (rows, total)
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IncomeStatement {
    pub revenue: Vec<StatementRow>,
    pub expenses: Vec<StatementRow>,
    pub total_revenue: i64,
    pub total_expenses: i64,
    pub net_income: i64,
}

/// Revenue (credit balances) less expenses (debit balances) of the range.
pub fn income_statement(totals: &[AccountTotals]) -> IncomeStatement {
    let (revenue, total_revenue) = section(totals, AccountType::Revenue);
    let (expenses, total_expenses) = section(totals, AccountType::Expense);
    IncomeStatement {
        revenue,
        expenses,
        total_revenue,
        total_expenses,
        net_income: total_revenue - total_expenses,
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BalanceSheet {
    pub assets: Vec<StatementRow>,
    pub liabilities: Vec<StatementRow>,
    pub equity: Vec<StatementRow>,
    pub total_assets: i64,
    pub total_liabilities: i64,
    pub total_equity: i64,
    /// Revenue less expenses of every posting up to the date: profit that
    /// no closing entry has moved into an equity account yet.
    pub current_earnings: i64,
}

impl BalanceSheet {
    pub fn total_liabilities_and_equity(&self) -> i64 {
        self.total_liabilities + self.total_equity + self.current_earnings
    }

    /// Assets = liabilities + equity + current earnings.
    pub fn balanced(&self) -> bool {
        self.total_assets == self.total_liabilities_and_equity()
    }
}

/// `totals` are cumulative up to the balance sheet date.
pub fn balance_sheet(totals: &[AccountTotals]) -> BalanceSheet {
    let (assets, total_assets) = section(totals, AccountType::Asset);
    let (liabilities, total_liabilities) = section(totals, AccountType::Liability);
    let (equity, total_equity) = section(totals, AccountType::Equity);
    let earnings = income_statement(totals);
    BalanceSheet {
        assets,
        liabilities,
        equity,
        total_assets,
        total_liabilities,
        total_equity,
        current_earnings: earnings.net_income,
    }
}

/// A line of an account's ledger.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LedgerLine {
    pub date: String,
    pub entry_id: String,
    pub number: String,
    pub description: String,
    pub memo: Option<String>,
    pub debit: i64,
    pub credit: i64,
}

/// Each line with the account's balance after it (normal side), starting
/// from `opening`.
pub fn running_balance(
    account_type: AccountType,
    opening: i64,
    lines: Vec<LedgerLine>,
) -> Vec<(LedgerLine, i64)> {
    let mut balance = opening;
    lines
        .into_iter()
        .map(|l| {
            balance += account_type.balance(l.debit, l.credit);
            (l, balance)
        })
        .collect()
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    fn t(code: &str, ty: AccountType, debit: i64, credit: i64) -> AccountTotals {
        AccountTotals {
            code: code.into(),
            name: format!("acct {code}"),
            account_type: ty,
            debit,
            credit,
        }
    }

    /// Shared with the API views' tests.
    pub(crate) fn sample() -> Vec<AccountTotals> {
        use AccountType::*;
        // Owner puts in 1000; sells for 500 (+50 tax) cash; pays rent 200;
        // buys stock on credit 300.
        vec![
            t("4000", Revenue, 0, 500),
            t("1000", Asset, 1000 + 550, 200),
            t("1200", Asset, 300, 0),
            t("2000", Liability, 0, 300),
            t("2100", Liability, 0, 50),
            t("3000", Equity, 0, 1000),
            t("6200", Expense, 200, 0),
            t("9999", Asset, 0, 0),
        ]
    }

    #[test]
    fn trial_balance_nets_each_account_and_balances() {
        let tb = trial_balance(&sample());
        assert!(tb.balanced());
        assert_eq!(tb.total_debit, 1350 + 300 + 200);
        assert_eq!(tb.rows.len(), 7, "accounts without postings are left out");
        assert_eq!(tb.rows[0].code, "1000");
        let rev = tb.rows.iter().find(|r| r.code == "4000").unwrap();
        assert_eq!((rev.debit, rev.credit, rev.balance), (0, 500, 500));
    }

    #[test]
    fn statements() {
        let is = income_statement(&sample());
        assert_eq!(
            (is.total_revenue, is.total_expenses, is.net_income),
            (500, 200, 300)
        );
        let bs = balance_sheet(&sample());
        assert_eq!(bs.total_assets, 1350 + 300);
        assert_eq!(bs.total_liabilities, 350);
        assert_eq!(bs.total_equity, 1000);
        assert_eq!(bs.current_earnings, 300);
        assert!(bs.balanced());
    }

    #[test]
    fn running_balances_follow_the_normal_side() {
        let line = |d, c| LedgerLine {
            date: "2026-01-01".into(),
            entry_id: "e".into(),
            number: "JE-2026-000001".into(),
            description: "x".into(),
            memo: None,
            debit: d,
            credit: c,
        };
        let cash = running_balance(AccountType::Asset, 100, vec![line(50, 0), line(0, 30)]);
        assert_eq!(cash.iter().map(|x| x.1).collect::<Vec<_>>(), vec![150, 120]);
        let rev = running_balance(AccountType::Revenue, 0, vec![line(0, 70), line(20, 0)]);
        assert_eq!(rev.iter().map(|x| x.1).collect::<Vec<_>>(), vec![70, 50]);
    }
}

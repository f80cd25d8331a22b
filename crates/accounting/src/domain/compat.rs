//! The original API's income/expense transactions, kept on the ledger.
//!
//! A transaction is one balanced entry: income debits Cash and credits a
//! revenue account; an expense debits an expense account and credits Cash.
//! The category picks the account through a mapping table (seeded from
//! [`DEFAULT_CATEGORIES`]); an unknown category books to the default
//! revenue (4000) or expense (6000) account. `/balance` is derived from the
//! ledger: income is the revenue accounts' credit balance, expense the
//! expense accounts' debit balance.

use marimo_platform::money::Decimal;
use serde::{Deserialize, Serialize};
use time::Date;

use super::{
    Rejection,
    accounts::{AccountType, codes, parse_text},
    entry::{self, Draft, DraftLine},
    money::{self, Currency},
    reports::AccountTotals,
};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Kind {
    Income,
    Expense,
}

impl Kind {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Income => "income",
            Self::Expense => "expense",
        }
    }

    pub fn parse(s: &str) -> Result<Self, Rejection> {
        match s.trim().to_ascii_lowercase().as_str() {
            "income" => Ok(Self::Income),
            "expense" => Ok(Self::Expense),
            _ => Err(Rejection::invalid(
                "type",
                format!("type must be 'income' or 'expense', got '{s}'"),
            )),
        }
    }

    /// Where an unknown category books.
    pub fn default_account(self) -> &'static str {
        match self {
            Self::Income => codes::SALES_REVENUE,
            Self::Expense => codes::OPERATING_EXPENSES,
        }
    }
}

/// `POST /transactions` as the original clients send it. Unknown fields
/// are refused (400).
#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"type": "income", "amount": "250.00", "description": "Consulting", "category": "services"}))]
pub struct TransactionRequest {
    /// `income` or `expense`.
    #[serde(rename = "type")]
    #[schema(example = "income")]
    pub kind: String,
    /// Positive, in the ledger's currency, with at most its decimals.
    pub amount: Decimal,
    /// Default: `<type> transaction`. At most 500 characters.
    #[serde(default)]
    pub description: Option<String>,
    /// Free text, matched case-insensitively; default `general`. At most
    /// 60 characters.
    #[serde(default)]
    pub category: Option<String>,
}

/// A validated transaction.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Transaction {
    pub kind: Kind,
    pub amount: i64,
    pub description: String,
    /// As the client wrote it (trimmed); matched case-insensitively.
    pub category: String,
}

pub const MAX_CATEGORY_LEN: usize = 60;

pub fn validate(req: &TransactionRequest, currency: &Currency) -> Result<Transaction, Rejection> {
    let kind = Kind::parse(&req.kind)?;
    let amount = money::positive(currency, "amount", &req.amount)?;
    let description = match req.description.as_deref().map(str::trim) {
        None | Some("") => format!("{} transaction", kind.as_str()),
        Some(d) => parse_text("description", d, entry::MAX_DESCRIPTION_LEN)?,
    };
    let category = match req.category.as_deref().map(str::trim) {
        None | Some("") => "general".to_owned(),
        Some(c) => parse_text("category", c, MAX_CATEGORY_LEN)?,
    };
    Ok(Transaction {
        kind,
        amount,
        description,
        category,
    })
}

/// The mapping table's key for a category.
pub fn category_key(category: &str) -> String {
    category.trim().to_lowercase()
}

/// The seeded category mapping: (kind, category, account).
pub const DEFAULT_CATEGORIES: &[(Kind, &str, &str)] = &[
    (Kind::Income, "sales", "4000"),
    (Kind::Income, "sale", "4000"),
    (Kind::Income, "product", "4000"),
    (Kind::Income, "services", "4100"),
    (Kind::Income, "service", "4100"),
    (Kind::Income, "consulting", "4100"),
    (Kind::Income, "interest", "4900"),
    (Kind::Income, "other", "4900"),
    (Kind::Expense, "salary", "6100"),
    (Kind::Expense, "salaries", "6100"),
    (Kind::Expense, "payroll", "6100"),
    (Kind::Expense, "wages", "6100"),
    (Kind::Expense, "rent", "6200"),
    (Kind::Expense, "utilities", "6300"),
    (Kind::Expense, "supplies", "6400"),
    (Kind::Expense, "office", "6400"),
    (Kind::Expense, "marketing", "6500"),
    (Kind::Expense, "advertising", "6500"),
    (Kind::Expense, "travel", "6600"),
    (Kind::Expense, "fees", "6700"),
    (Kind::Expense, "bank", "6700"),
    (Kind::Expense, "materials", "5000"),
    (Kind::Expense, "cogs", "5000"),
];

/// The entry of a transaction booked to `account`, dated `date`.
pub fn draft(
    tx: &Transaction,
    account: &str,
    date: Date,
    currency: &Currency,
) -> Result<Draft, Rejection> {
    let memo = format!("category: {}", tx.category);
    let lines = match tx.kind {
        Kind::Income => vec![
            DraftLine::debit(codes::CASH, tx.amount),
            DraftLine::credit(account, tx.amount).memo(memo),
        ],
        Kind::Expense => vec![
            DraftLine::debit(account, tx.amount).memo(memo),
            DraftLine::credit(codes::CASH, tx.amount),
        ],
    };
    entry::build(date, &tx.description, None, lines, currency)
}

/// `/balance`: (income, expense, balance = income − expense).
pub fn balance(totals: &[AccountTotals]) -> (i64, i64, i64) {
    let sum = |t: AccountType| -> i64 {
        totals
            .iter()
            .filter(|a| a.account_type == t)
            .map(AccountTotals::balance)
            .sum()
    };
    let (income, expense) = (sum(AccountType::Revenue), sum(AccountType::Expense));
    (income, expense, income - expense)
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::domain::{accounts::DEFAULT_CHART, calendar::parse_date};

    fn req(v: serde_json::Value) -> TransactionRequest {
        serde_json::from_value(v).unwrap()
    }

    #[test]
    fn amounts_must_be_positive_and_exact() {
        let usd = Currency::usd();
        let ok = validate(&req(json!({"type": "income", "amount": 100.5, "description": "Sale", "category": "Sales"})), &usd).unwrap();
        assert_eq!(
            (ok.kind, ok.amount, ok.category.as_str()),
            (Kind::Income, 10050, "Sales")
        );
        assert_eq!(category_key(&ok.category), "sales");
        for bad in [
            json!(0),
            json!("-5"),
            json!("1.001"),
            json!("abc"),
            json!("NaN"),
        ] {
            let parsed: Result<TransactionRequest, _> = serde_json::from_value(
                json!({"type": "expense", "amount": bad, "description": "x"}),
            );
            if let Ok(r) = parsed {
                assert!(validate(&r, &usd).is_err(), "{bad}");
            }
        }
        assert!(validate(&req(json!({"type": "gift", "amount": 1})), &usd).is_err());
    }

    #[test]
    fn income_and_expense_entries() {
        let usd = Currency::usd();
        let date = parse_date("d", "2026-04-01").unwrap();
        let tx = validate(
            &req(json!({"type": "expense", "amount": "20", "category": "rent"})),
            &usd,
        )
        .unwrap();
        let d = draft(&tx, "6200", date, &usd).unwrap();
        assert_eq!(d.lines[0].account, "6200");
        assert_eq!(d.lines[0].debit, 2000);
        assert_eq!(d.lines[1].account, codes::CASH);
        assert_eq!(d.lines[1].credit, 2000);
        assert_eq!(d.description, "expense transaction");
    }

    #[test]
    fn categories_map_to_accounts_of_the_right_type() {
        for (kind, category, account) in DEFAULT_CATEGORIES {
            assert_eq!(category_key(category), *category);
            let (_, _, t, _) = DEFAULT_CHART.iter().find(|a| a.0 == *account).unwrap();
            let want = match kind {
                Kind::Income => AccountType::Revenue,
                Kind::Expense => AccountType::Expense,
            };
            assert_eq!(*t, want, "{category}");
        }
    }
}

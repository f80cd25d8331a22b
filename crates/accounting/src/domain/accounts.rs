//! The chart of accounts: account types, normal balances, the rules for
//! codes, names and parents, and the default chart.

use std::{fmt, str::FromStr};

use serde::{Deserialize, Serialize};

use super::{Rejection, RejectionKind};

/// The five account types of double-entry bookkeeping.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Hash,
    PartialOrd,
    Ord,
    Serialize,
    Deserialize,
    utoipa::ToSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum AccountType {
    Asset,
    Liability,
    Equity,
    Revenue,
    Expense,
}

/// The side on which an account's balance normally sits.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Side {
    Debit,
    Credit,
}

impl AccountType {
    pub const ALL: [AccountType; 5] = [
        Self::Asset,
        Self::Liability,
        Self::Equity,
        Self::Revenue,
        Self::Expense,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Asset => "asset",
            Self::Liability => "liability",
            Self::Equity => "equity",
            Self::Revenue => "revenue",
            Self::Expense => "expense",
        }
    }

    /// Assets and expenses grow with debits; the others with credits.
    pub fn normal_side(self) -> Side {
        match self {
            Self::Asset | Self::Expense => Side::Debit,
            Self::Liability | Self::Equity | Self::Revenue => Side::Credit,
        }
    }

    /// The balance on the account's normal side: positive when the account
    /// holds what it normally holds (cash on hand, revenue earned).
    pub fn balance(self, debit: i64, credit: i64) -> i64 {
        match self.normal_side() {
            Side::Debit => debit - credit,
            Side::Credit => credit - debit,
        }
    }
}

impl fmt::Display for AccountType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for AccountType {
    type Err = Rejection;
    fn from_str(s: &str) -> Result<Self, Rejection> {
        Self::ALL
            .into_iter()
            .find(|t| t.as_str() == s)
            .ok_or_else(|| {
                Rejection::invalid(
                    "type",
                    format!(
                        "unknown account type '{s}'; one of: asset, liability, equity, revenue, expense"
                    ),
                )
            })
    }
}

/// An account of the chart.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Account {
    pub code: String,
    pub name: String,
    pub account_type: AccountType,
    pub parent: Option<String>,
    pub active: bool,
}

pub const MAX_CODE_LEN: usize = 20;
pub const MAX_NAME_LEN: usize = 120;

/// True for a well-formed code: 1–20 of `A-Z a-z 0-9 . _ -`, starting with
/// a letter or digit. Codes appear in URLs, so nothing else is allowed.
pub fn is_valid_code(code: &str) -> bool {
    !code.is_empty()
        && code.len() <= MAX_CODE_LEN
        && code.as_bytes()[0].is_ascii_alphanumeric()
        && code
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
}

pub fn parse_code(field: &str, code: &str) -> Result<String, Rejection> {
    let code = code.trim();
    if is_valid_code(code) {
        Ok(code.to_owned())
    } else {
        Err(Rejection::invalid(
            field,
            format!(
                "{field}: an account code is 1-{MAX_CODE_LEN} letters, digits, '.', '_' or '-', starting with a letter or digit"
            ),
        ))
    }
}

/// A display text: trimmed, non-empty, at most `max` characters, no
/// control characters.
pub fn parse_text(field: &str, s: &str, max: usize) -> Result<String, Rejection> {
    let t = s.trim();
    if t.is_empty() {
        return Err(Rejection::invalid(field, format!("{field} is required")));
    }
    if t.chars().count() > max {
        return Err(Rejection::invalid(
            field,
            format!("{field} is longer than {max} characters"),
        ));
    }
    if t.chars().any(char::is_control) {
        return Err(Rejection::invalid(
            field,
            format!("{field} contains control characters"),
        ));
    }
    Ok(t.to_owned())
}

pub fn parse_name(name: &str) -> Result<String, Rejection> {
    parse_text("name", name, MAX_NAME_LEN)
}

/// A parent must exist, have the same type (a sub-account refines its
/// parent), and must not be the account itself or one of its descendants.
/// `lookup` returns an account's type and parent.
pub fn check_parent(
    code: &str,
    account_type: AccountType,
    parent: &str,
    lookup: impl Fn(&str) -> Option<(AccountType, Option<String>)>,
) -> Result<(), Rejection> {
    let unprocessable = |msg: String| {
        Rejection::new(RejectionKind::Unprocessable, "INVALID_PARENT", msg)
            .with_details(serde_json::json!({ "parent": parent }))
    };
    let Some((parent_type, _)) = lookup(parent) else {
        return Err(unprocessable(format!(
            "parent account {parent} does not exist"
        )));
    };
    if parent_type != account_type {
        return Err(unprocessable(format!(
            "parent account {parent} is {parent_type}, but {code} is {account_type}: a sub-account has its parent's type"
        )));
    }
    // Walk up from the parent; reaching `code` would close a cycle. The
    // walk is bounded so that a corrupt chart cannot loop forever.
    let mut cursor = Some(parent.to_owned());
    for _ in 0..1000 {
        let Some(c) = cursor else { return Ok(()) };
        if c == code {
            return Err(unprocessable(format!(
                "{parent} is {code} itself or one of its sub-accounts"
            )));
        }
        cursor = lookup(&c).and_then(|(_, p)| p);
    }
    Err(unprocessable("the parent chain is too deep".into()))
}

/// Accounts the service posts to by itself.
pub mod codes {
    pub const CASH: &str = "1000";
    pub const RAW_MATERIALS: &str = "1200";
    pub const FINISHED_GOODS: &str = "1220";
    pub const ACCOUNTS_PAYABLE: &str = "2000";
    pub const TAX_PAYABLE: &str = "2100";
    pub const SALES_REVENUE: &str = "4000";
    pub const OPERATING_EXPENSES: &str = "6000";
}

/// The default chart: (code, name, type, parent). Parents come first.
pub const DEFAULT_CHART: &[(&str, &str, AccountType, Option<&str>)] = &[
    ("1000", "Cash", AccountType::Asset, None),
    ("1010", "Bank", AccountType::Asset, None),
    ("1100", "Accounts receivable", AccountType::Asset, None),
    ("1200", "Raw materials inventory", AccountType::Asset, None),
    ("1210", "Work in progress", AccountType::Asset, None),
    ("1220", "Finished goods inventory", AccountType::Asset, None),
    ("1230", "Sub-assemblies inventory", AccountType::Asset, None),
    ("1240", "Merchandise inventory", AccountType::Asset, None),
    ("2000", "Accounts payable", AccountType::Liability, None),
    (
        "2050",
        "Goods received not invoiced",
        AccountType::Liability,
        None,
    ),
    ("2100", "Tax payable", AccountType::Liability, None),
    ("3000", "Owner's equity", AccountType::Equity, None),
    ("3100", "Retained earnings", AccountType::Equity, None),
    ("3900", "Opening balance equity", AccountType::Equity, None),
    ("4000", "Sales revenue", AccountType::Revenue, None),
    ("4100", "Service revenue", AccountType::Revenue, None),
    ("4900", "Other income", AccountType::Revenue, None),
    ("5000", "Cost of goods sold", AccountType::Expense, None),
    ("5100", "Inventory adjustments", AccountType::Expense, None),
    ("6000", "Operating expenses", AccountType::Expense, None),
    (
        "6100",
        "Salaries and wages",
        AccountType::Expense,
        Some("6000"),
    ),
    ("6200", "Rent", AccountType::Expense, Some("6000")),
    ("6300", "Utilities", AccountType::Expense, Some("6000")),
    (
        "6400",
        "Office supplies",
        AccountType::Expense,
        Some("6000"),
    ),
    (
        "6500",
        "Marketing and advertising",
        AccountType::Expense,
        Some("6000"),
    ),
    ("6600", "Travel", AccountType::Expense, Some("6000")),
    ("6700", "Bank fees", AccountType::Expense, Some("6000")),
];

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;

    #[test]
    fn normal_balances() {
        assert_eq!(AccountType::Asset.balance(100, 30), 70);
        assert_eq!(AccountType::Expense.balance(100, 30), 70);
        assert_eq!(AccountType::Revenue.balance(30, 100), 70);
        assert_eq!(AccountType::Liability.balance(30, 100), 70);
        assert_eq!(AccountType::Equity.balance(100, 30), -70);
        for t in AccountType::ALL {
            assert_eq!(t.as_str().parse::<AccountType>().unwrap(), t);
        }
        assert!("Asset".parse::<AccountType>().is_err());
    }

    #[test]
    fn codes_are_url_safe() {
        for ok in ["1000", "6100-01", "A.1", "x_y"] {
            assert!(is_valid_code(ok), "{ok}");
        }
        for bad in [
            "",
            "-1",
            "10 00",
            "1000/1",
            "ä",
            "123456789012345678901",
            "..",
        ] {
            assert!(!is_valid_code(bad), "{bad}");
        }
        assert!(parse_name("  ").is_err());
        assert!(parse_name("a\nb").is_err());
        assert_eq!(parse_name("  Cash ").unwrap(), "Cash");
    }

    #[test]
    fn parents_share_the_type_and_never_form_cycles() {
        let chart: HashMap<&str, (AccountType, Option<String>)> = HashMap::from([
            ("6000", (AccountType::Expense, None)),
            ("6100", (AccountType::Expense, Some("6000".to_owned()))),
            ("6110", (AccountType::Expense, Some("6100".to_owned()))),
            ("1000", (AccountType::Asset, None)),
        ]);
        let lookup = |c: &str| chart.get(c).cloned();
        assert!(check_parent("6200", AccountType::Expense, "6000", lookup).is_ok());
        assert!(check_parent("6200", AccountType::Expense, "1000", lookup).is_err());
        assert!(check_parent("6200", AccountType::Expense, "9999", lookup).is_err());
        // 6000 under 6110 would make 6000 → 6110 → 6100 → 6000.
        assert!(check_parent("6000", AccountType::Expense, "6110", lookup).is_err());
        assert!(check_parent("6000", AccountType::Expense, "6000", lookup).is_err());
    }

    #[test]
    fn the_default_chart_is_well_formed() {
        let mut seen = HashMap::new();
        for (code, name, t, parent) in DEFAULT_CHART {
            assert!(is_valid_code(code));
            assert!(parse_name(name).is_ok());
            if let Some(p) = parent {
                assert_eq!(seen.get(p), Some(t), "{code}: parent first, same type");
            }
            assert!(seen.insert(*code, *t).is_none(), "{code} twice");
        }
        for c in [
            codes::CASH,
            codes::RAW_MATERIALS,
            codes::FINISHED_GOODS,
            codes::ACCOUNTS_PAYABLE,
            codes::TAX_PAYABLE,
            codes::SALES_REVENUE,
            codes::OPERATING_EXPENSES,
        ] {
            assert!(seen.contains_key(c), "{c}");
        }
        // The default inventory mapping names accounts of the chart, of
        // the type each role needs.
        for (role, code) in super::super::inventory::DEFAULT_MAPPING {
            assert_eq!(seen.get(code), Some(&role.account_type()), "{code}");
        }
    }
}

//! Journal entries: validation and balancing, reversals, numbers.
//!
//! A [`Draft`] is an entry that passed every rule that needs no database:
//! at least two lines, each with exactly one positive side in the base
//! currency's minor units, Σ debit = Σ credit exactly. What needs the
//! database (accounts exist and are active, the period is open) is checked
//! by the posting transaction.

use std::collections::BTreeMap;

use marimo_platform::money::Decimal;
use serde::Deserialize;
use serde_json::json;
use time::Date;

use super::{
    Rejection, RejectionKind,
    accounts::{parse_code, parse_text},
    calendar::{Period, parse_date},
    money::{self, Currency},
};

pub const MAX_LINES: usize = 1000;
pub const MAX_DESCRIPTION_LEN: usize = 500;
pub const MAX_REFERENCE_LEN: usize = 200;
pub const MAX_MEMO_LEN: usize = 500;

/// `POST /journal-entries` as the client sends it. Unknown fields are
/// refused (400).
#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({
    "date": "2026-12-01",
    "description": "Owner's capital",
    "reference": "DEP-1",
    "lines": [
        {"account": "1000", "debit": "1000.00"},
        {"account": "3000", "credit": "1000.00", "memo": "initial capital"}
    ]
}))]
pub struct EntryRequest {
    /// The accounting date, `YYYY-MM-DD`, in an open period.
    #[schema(example = "2026-12-01")]
    pub date: String,
    /// What the entry books; 1 to 500 characters.
    pub description: String,
    /// The source document (`INV-7`), at most 200 characters.
    #[serde(default)]
    pub reference: Option<String>,
    /// At least two lines; the debits equal the credits.
    pub lines: Vec<LineRequest>,
}

/// One line: exactly one of `debit` and `credit`, positive.
#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LineRequest {
    /// An active account's code (`1000`).
    #[schema(example = "1000")]
    pub account: String,
    #[serde(default)]
    pub debit: Option<Decimal>,
    #[serde(default)]
    pub credit: Option<Decimal>,
    /// At most 500 characters.
    #[serde(default)]
    pub memo: Option<String>,
}

/// A line in minor units: exactly one of `debit`/`credit` is positive.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DraftLine {
    pub account: String,
    pub debit: i64,
    pub credit: i64,
    pub memo: Option<String>,
}

impl DraftLine {
    pub fn debit(account: &str, amount: i64) -> Self {
        Self {
            account: account.to_owned(),
            debit: amount,
            credit: 0,
            memo: None,
        }
    }

    pub fn credit(account: &str, amount: i64) -> Self {
        Self {
            account: account.to_owned(),
            debit: 0,
            credit: amount,
            memo: None,
        }
    }

    pub fn memo(mut self, memo: impl Into<String>) -> Self {
        self.memo = Some(memo.into());
        self
    }
}

/// An entry that balances and is well-formed, ready to post.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Draft {
    pub date: Date,
    pub description: String,
    pub reference: Option<String>,
    pub lines: Vec<DraftLine>,
}

impl Draft {
    pub fn period(&self) -> Period {
        Period::of(self.date)
    }

    /// Σ debit (= Σ credit).
    pub fn total(&self) -> i64 {
        self.lines.iter().map(|l| l.debit).sum()
    }

    /// Debit and credit per account, sorted by code (the order in which the
    /// posting transaction touches balance rows, so concurrent postings
    /// lock them in one order).
    pub fn per_account(&self) -> BTreeMap<&str, (i64, i64)> {
        let mut m: BTreeMap<&str, (i64, i64)> = BTreeMap::new();
        for l in &self.lines {
            let e = m.entry(l.account.as_str()).or_default();
            e.0 += l.debit;
            e.1 += l.credit;
        }
        m
    }
}

fn optional_text(field: &str, s: Option<&str>, max: usize) -> Result<Option<String>, Rejection> {
    match s.map(str::trim) {
        None | Some("") => Ok(None),
        Some(t) => parse_text(field, t, max).map(Some),
    }
}

/// Validates a client's entry: every field, then the balance.
pub fn validate(req: &EntryRequest, currency: &Currency) -> Result<Draft, Rejection> {
    let date = parse_date("date", req.date.trim())?;
    if req.lines.len() > MAX_LINES {
        return Err(Rejection::invalid(
            "lines",
            format!("an entry has at most {MAX_LINES} lines"),
        ));
    }
    let mut lines = Vec::with_capacity(req.lines.len());
    for (i, l) in req.lines.iter().enumerate() {
        let field = |name: &str| format!("lines[{i}].{name}");
        let account = parse_code(&field("account"), &l.account)?;
        let side = |name: &str, d: &Option<Decimal>| -> Result<i64, Rejection> {
            match d {
                None => Ok(0),
                Some(d) => {
                    let units = money::units(currency, &field(name), d)?;
                    if units < 0 {
                        Err(Rejection::invalid(
                            &field(name),
                            format!(
                                "{}: amounts are positive; put it on the other side",
                                field(name)
                            ),
                        ))
                    } else {
                        Ok(units)
                    }
                }
            }
        };
        let (debit, credit) = (side("debit", &l.debit)?, side("credit", &l.credit)?);
        let memo = optional_text(&field("memo"), l.memo.as_deref(), MAX_MEMO_LEN)?;
        lines.push(DraftLine {
            account,
            debit,
            credit,
            memo,
        });
    }
    build(
        date,
        &req.description,
        req.reference.as_deref(),
        lines,
        currency,
    )
}

/// The rules every entry obeys, whichever path it comes from (API, the
/// original API's transactions, events, reversals).
pub fn build(
    date: Date,
    description: &str,
    reference: Option<&str>,
    lines: Vec<DraftLine>,
    currency: &Currency,
) -> Result<Draft, Rejection> {
    let description = parse_text("description", description, MAX_DESCRIPTION_LEN)?;
    let reference = optional_text("reference", reference, MAX_REFERENCE_LEN)?;
    if lines.len() < 2 {
        return Err(Rejection::invalid(
            "lines",
            "an entry has at least two lines (a debit and a credit)",
        ));
    }
    if lines.len() > MAX_LINES {
        return Err(Rejection::invalid(
            "lines",
            format!("an entry has at most {MAX_LINES} lines"),
        ));
    }
    let (mut total_debit, mut total_credit) = (0i64, 0i64);
    for (i, l) in lines.iter().enumerate() {
        let field = format!("lines[{i}]");
        parse_code(&format!("{field}.account"), &l.account)?;
        let valid_amount = |v: i64| (0..=money::MAX_AMOUNT).contains(&v);
        if !valid_amount(l.debit) || !valid_amount(l.credit) {
            return Err(Rejection::invalid(
                &field,
                format!(
                    "{field}: amounts are positive and at most {}",
                    currency.format(money::MAX_AMOUNT)
                ),
            ));
        }
        match (l.debit > 0, l.credit > 0) {
            (true, false) | (false, true) => {}
            (true, true) => {
                return Err(Rejection::invalid(
                    &field,
                    format!("{field}: a line is either a debit or a credit, not both"),
                ));
            }
            (false, false) => {
                return Err(Rejection::invalid(
                    &field,
                    format!("{field}: a line needs a positive debit or credit"),
                ));
            }
        }
        // At most MAX_LINES × MAX_AMOUNT = 10^18 < i64::MAX: cannot overflow.
        total_debit += l.debit;
        total_credit += l.credit;
    }
    if total_debit != total_credit {
        return Err(Rejection::new(
            RejectionKind::Unprocessable,
            "UNBALANCED",
            format!(
                "the entry does not balance: debits {} ≠ credits {}",
                currency.format(total_debit),
                currency.format(total_credit)
            ),
        )
        .with_details(json!({
            "total_debit": currency.format(total_debit),
            "total_credit": currency.format(total_credit),
            "difference": currency.format(total_debit - total_credit),
        })));
    }
    Ok(Draft {
        date,
        description,
        reference,
        lines,
    })
}

/// The mirror of an entry: same accounts and amounts, sides swapped, dated
/// `date`, same reference.
pub fn reversal(
    original_number: &str,
    original_description: &str,
    original_reference: Option<&str>,
    original_lines: &[DraftLine],
    date: Date,
    currency: &Currency,
) -> Result<Draft, Rejection> {
    let mut description = format!("Reversal of {original_number}: {original_description}");
    if description.chars().count() > MAX_DESCRIPTION_LEN {
        description = description.chars().take(MAX_DESCRIPTION_LEN).collect();
    }
    let lines = original_lines
        .iter()
        .map(|l| DraftLine {
            account: l.account.clone(),
            debit: l.credit,
            credit: l.debit,
            memo: l.memo.clone(),
        })
        .collect();
    build(date, &description, original_reference, lines, currency)
}

/// `JE-2026-000042`: the fiscal year and the entry's place in it.
pub fn entry_number(fiscal_year: i32, seq: i64) -> String {
    format!("JE-{fiscal_year:04}-{seq:06}")
}

/// A posted entry as the ledger keeps it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PostedEntry {
    pub id: String,
    pub number: String,
    pub date: String,
    pub period: String,
    pub description: String,
    pub reference: Option<String>,
    /// `api`, `compat`, `event` or `reversal`: the path that posted it.
    pub source: String,
    pub currency: String,
    pub total: i64,
    /// The entry this one reverses.
    pub reverses: Option<String>,
    /// The entry that reverses this one.
    pub reversed_by: Option<String>,
    pub created_by: String,
    pub created_at: String,
    pub lines: Vec<PostedLine>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PostedLine {
    pub line_no: i64,
    pub account: String,
    pub account_name: String,
    pub debit: i64,
    pub credit: i64,
    pub memo: Option<String>,
}

impl PostedEntry {
    /// The lines as a draft's lines (for a reversal).
    pub fn draft_lines(&self) -> Vec<DraftLine> {
        self.lines
            .iter()
            .map(|l| DraftLine {
                account: l.account.clone(),
                debit: l.debit,
                credit: l.credit,
                memo: l.memo.clone(),
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;
    use serde_json::json;

    use super::*;

    fn usd() -> Currency {
        Currency::usd()
    }

    fn req(v: serde_json::Value) -> EntryRequest {
        serde_json::from_value(v).unwrap()
    }

    fn ok_request() -> serde_json::Value {
        json!({
            "date": "2026-03-15",
            "description": "Office rent",
            "reference": "INV-7",
            "lines": [
                {"account": "6200", "debit": "1200.50"},
                {"account": "1010", "credit": 1200.5, "memo": "bank transfer"}
            ]
        })
    }

    #[test]
    fn a_balanced_entry_validates() {
        let d = validate(&req(ok_request()), &usd()).unwrap();
        assert_eq!(d.total(), 120050);
        assert_eq!(d.period().to_string(), "2026-03");
        assert_eq!(d.lines[1].memo.as_deref(), Some("bank transfer"));
        assert_eq!(d.reference.as_deref(), Some("INV-7"));
    }

    #[test]
    fn malformed_entries_are_rejected_with_the_right_kind() {
        let cases: Vec<(serde_json::Value, RejectionKind, &str)> = vec![
            (
                json!({"date": "2026-02-30", "description": "x", "lines": []}),
                RejectionKind::Invalid,
                "date",
            ),
            (
                json!({"date": "2026-03-01", "description": " ", "lines": [{"account": "1000", "debit": 1}, {"account": "4000", "credit": 1}]}),
                RejectionKind::Invalid,
                "description",
            ),
            (
                json!({"date": "2026-03-01", "description": "x", "lines": [{"account": "1000", "debit": 1}]}),
                RejectionKind::Invalid,
                "lines",
            ),
            (
                json!({"date": "2026-03-01", "description": "x", "lines": [{"account": "1000", "debit": 1, "credit": 1}, {"account": "4000", "credit": 1}]}),
                RejectionKind::Invalid,
                "lines[0]",
            ),
            (
                json!({"date": "2026-03-01", "description": "x", "lines": [{"account": "1000"}, {"account": "4000", "credit": 1}]}),
                RejectionKind::Invalid,
                "lines[0]",
            ),
            (
                json!({"date": "2026-03-01", "description": "x", "lines": [{"account": "1000", "debit": "-1"}, {"account": "4000", "credit": 1}]}),
                RejectionKind::Invalid,
                "lines[0].debit",
            ),
            (
                json!({"date": "2026-03-01", "description": "x", "lines": [{"account": "1000", "debit": "1.001"}, {"account": "4000", "credit": "1.001"}]}),
                RejectionKind::Invalid,
                "lines[0].debit",
            ),
            (
                json!({"date": "2026-03-01", "description": "x", "lines": [{"account": "10 00", "debit": 1}, {"account": "4000", "credit": 1}]}),
                RejectionKind::Invalid,
                "lines[0].account",
            ),
            (
                json!({"date": "2026-03-01", "description": "x", "lines": [{"account": "1000", "debit": "0"}, {"account": "4000", "credit": "0"}]}),
                RejectionKind::Invalid,
                "lines[0]",
            ),
        ];
        for (body, kind, field) in cases {
            let err = validate(&req(body.clone()), &usd()).unwrap_err();
            assert_eq!(err.kind, kind, "{body}");
            assert_eq!(
                err.details.as_ref().unwrap()["field"],
                field,
                "{body}: {err}"
            );
        }
    }

    #[test]
    fn unbalanced_entries_name_both_totals() {
        let err = validate(
            &req(json!({"date": "2026-03-01", "description": "x", "lines": [
                {"account": "1000", "debit": "10.00"},
                {"account": "4000", "credit": "9.99"}
            ]})),
            &usd(),
        )
        .unwrap_err();
        assert_eq!(
            (err.kind, err.code),
            (RejectionKind::Unprocessable, "UNBALANCED")
        );
        let d = err.details.unwrap();
        assert_eq!(d["total_debit"], "10.00");
        assert_eq!(d["total_credit"], "9.99");
        assert_eq!(d["difference"], "0.01");
    }

    #[test]
    fn reversals_mirror_the_original() {
        let d = validate(&req(ok_request()), &usd()).unwrap();
        let r = reversal(
            "JE-2026-000001",
            &d.description,
            d.reference.as_deref(),
            &d.lines,
            d.date,
            &usd(),
        )
        .unwrap();
        assert_eq!(r.total(), d.total());
        assert_eq!(r.lines[0].credit, d.lines[0].debit);
        assert_eq!(r.lines[1].debit, d.lines[1].credit);
        assert!(r.description.starts_with("Reversal of JE-2026-000001"));
        let long = "x".repeat(MAX_DESCRIPTION_LEN);
        assert!(reversal("JE-2026-000001", &long, None, &d.lines, d.date, &usd()).is_ok());
    }

    #[test]
    fn numbers_are_zero_padded() {
        assert_eq!(entry_number(2026, 42), "JE-2026-000042");
        assert_eq!(entry_number(2026, 1_234_567), "JE-2026-1234567");
    }

    /// Mostly one-sided lines (debit or credit), sometimes malformed ones
    /// (both sides, neither, negative), so both outcomes are exercised.
    fn line() -> impl Strategy<Value = (String, i64, i64)> {
        let account =
            prop::sample::select(vec!["1000", "2000", "4000", "6000"]).prop_map(str::to_owned);
        prop_oneof![
            8 => (account.clone(), 1i64..4, any::<bool>())
                .prop_map(|(a, v, debit)| if debit { (a, v, 0) } else { (a, 0, v) }),
            1 => (account, -1000i64..1000, -1000i64..1000),
        ]
    }

    proptest! {
        /// Whatever the lines, a draft exists only if it balances and every
        /// line has exactly one positive side.
        #[test]
        fn drafts_always_balance(lines in prop::collection::vec(line(), 0..8)) {
            let lines: Vec<DraftLine> = lines.into_iter().map(|(account, debit, credit)| DraftLine { account, debit, credit, memo: None }).collect();
            let date = parse_date("date", "2026-05-05").unwrap();
            let result = build(date, "p", None, lines.clone(), &usd());
            match result {
                Ok(d) => {
                    prop_assert!(d.lines.len() >= 2);
                    let credits: i64 = d.lines.iter().map(|l| l.credit).sum();
                    prop_assert_eq!(d.total(), credits);
                    prop_assert!(d.lines.iter().all(|l| l.debit >= 0 && l.credit >= 0 && (l.debit > 0) != (l.credit > 0)));
                }
                Err(e) => {
                    let debits: i64 = lines.iter().map(|l| l.debit).sum();
                    let credits: i64 = lines.iter().map(|l| l.credit).sum();
                    let well_formed = lines.len() >= 2
                        && lines.iter().all(|l| l.debit >= 0 && l.credit >= 0 && (l.debit > 0) != (l.credit > 0));
                    prop_assert!(!well_formed || debits != credits, "rejected a valid entry: {}", e);
                }
            }
        }
    }
}

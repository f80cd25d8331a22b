//! An in-memory ledger with the posting service's rules, for property tests
//! of the domain: any sequence of valid postings, reversals and period
//! changes keeps the trial balance equal and the balance sheet identity
//! true, and a rejected operation changes nothing.

use std::collections::BTreeMap;

use proptest::prelude::*;
use time::Date;

use super::{
    Rejection, RejectionKind,
    accounts::AccountType,
    calendar::{Period, format_date, parse_date, plan_range},
    entry::{self, Draft, DraftLine},
    money::Currency,
    period::{self, PeriodAction, PeriodStatus},
    reports::{self, AccountTotals},
};

#[derive(Debug, Clone, PartialEq, Eq)]
struct Posted {
    number: String,
    draft: Draft,
    reverses: Option<usize>,
}

#[derive(Debug, Clone, PartialEq, Eq, Default)]
struct Model {
    accounts: BTreeMap<String, (AccountType, bool)>,
    periods: BTreeMap<Period, PeriodStatus>,
    entries: Vec<Posted>,
    reversed: BTreeMap<usize, usize>,
    balances: BTreeMap<(String, Period), (i64, i64)>,
    counters: BTreeMap<i32, i64>,
}

impl Model {
    fn new() -> Self {
        let mut m = Self::default();
        for (code, t, active) in [
            ("1000", AccountType::Asset, true),
            ("1200", AccountType::Asset, true),
            ("2000", AccountType::Liability, true),
            ("3000", AccountType::Equity, true),
            ("4000", AccountType::Revenue, true),
            ("6000", AccountType::Expense, true),
            ("6900", AccountType::Expense, false),
        ] {
            m.accounts.insert(code.into(), (t, active));
        }
        m
    }

    fn status(&self, p: Period) -> PeriodStatus {
        self.periods.get(&p).copied().unwrap_or(PeriodStatus::Open)
    }

    /// The posting transaction's checks and effects, in its order.
    fn post(&mut self, draft: Draft, reverses: Option<usize>) -> Result<usize, Rejection> {
        let unknown: Vec<&str> = draft
            .lines
            .iter()
            .filter(|l| !self.accounts.contains_key(&l.account))
            .map(|l| l.account.as_str())
            .collect();
        let inactive: Vec<&str> = draft
            .lines
            .iter()
            .filter(|l| self.accounts.get(&l.account).is_some_and(|a| !a.1))
            .map(|l| l.account.as_str())
            .collect();
        if !unknown.is_empty() || !inactive.is_empty() {
            return Err(Rejection::new(
                RejectionKind::Unprocessable,
                "UNKNOWN_ACCOUNT",
                "accounts",
            ));
        }
        let status = self.status(draft.period());
        if !status.accepts_postings() {
            return Err(period::closed(draft.period(), status));
        }
        if let Some(orig) = reverses
            && self.reversed.contains_key(&orig)
        {
            return Err(Rejection::new(
                RejectionKind::Conflict,
                "ALREADY_REVERSED",
                "twice",
            ));
        }
        let year = draft.date.year();
        let seq = self.counters.entry(year).or_default();
        *seq += 1;
        let number = entry::entry_number(year, *seq);
        for (acct, (d, c)) in draft.per_account() {
            let b = self
                .balances
                .entry((acct.to_owned(), draft.period()))
                .or_default();
            b.0 += d;
            b.1 += c;
        }
        self.entries.push(Posted {
            number,
            draft,
            reverses,
        });
        let id = self.entries.len() - 1;
        if let Some(orig) = reverses {
            self.reversed.insert(orig, id);
        }
        Ok(id)
    }

    fn reverse(&mut self, idx: usize, date: Date) -> Result<usize, Rejection> {
        let Some(orig) = self.entries.get(idx).cloned() else {
            return Err(Rejection::new(
                RejectionKind::NotFound,
                "NOT_FOUND",
                "no entry",
            ));
        };
        if orig.reverses.is_some() {
            return Err(Rejection::new(
                RejectionKind::Conflict,
                "NOT_REVERSIBLE",
                "a reversal",
            ));
        }
        if date < orig.draft.date {
            return Err(Rejection::invalid(
                "date",
                "a reversal is not dated before its entry",
            ));
        }
        let draft = entry::reversal(
            &orig.number,
            &orig.draft.description,
            orig.draft.reference.as_deref(),
            &orig.draft.lines,
            date,
            &Currency::usd(),
        )?;
        self.post(draft, Some(idx))
    }

    fn set_period(&mut self, p: Period, action: PeriodAction) -> Result<(), Rejection> {
        let next = period::transition(p, self.status(p), action)?;
        self.periods.insert(p, next);
        Ok(())
    }

    fn meta(&self) -> impl Iterator<Item = (&String, AccountType)> {
        self.accounts.iter().map(|(c, (t, _))| (c, *t))
    }

    /// Totals as the store computes them: whole months from the balances,
    /// partial months from the lines.
    fn totals(&self, from: Option<Date>, to: Date) -> Vec<AccountTotals> {
        let plan = plan_range(from, to);
        self.meta()
            .map(|(code, t)| {
                let (mut debit, mut credit) = (0, 0);
                if let Some((s, e)) = plan.months {
                    for ((c, p), (d, cr)) in &self.balances {
                        if c == code && s <= *p && *p <= e {
                            debit += d;
                            credit += cr;
                        }
                    }
                }
                for (s, e) in &plan.days {
                    for l in self.lines_between(*s, *e).filter(|l| &l.account == code) {
                        debit += l.debit;
                        credit += l.credit;
                    }
                }
                AccountTotals {
                    code: code.clone(),
                    name: code.clone(),
                    account_type: t,
                    debit,
                    credit,
                }
            })
            .collect()
    }

    /// Totals by brute force over every line.
    fn totals_from_lines(&self, from: Option<Date>, to: Date) -> Vec<AccountTotals> {
        let from = from.unwrap_or(Period::MIN.first_day());
        self.meta()
            .map(|(code, t)| {
                let (mut debit, mut credit) = (0, 0);
                for l in self.lines_between(from, to).filter(|l| &l.account == code) {
                    debit += l.debit;
                    credit += l.credit;
                }
                AccountTotals {
                    code: code.clone(),
                    name: code.clone(),
                    account_type: t,
                    debit,
                    credit,
                }
            })
            .collect()
    }

    fn lines_between(&self, from: Date, to: Date) -> impl Iterator<Item = &DraftLine> {
        self.entries
            .iter()
            .filter(move |e| from <= e.draft.date && e.draft.date <= to)
            .flat_map(|e| e.draft.lines.iter())
    }
}

#[derive(Debug, Clone)]
enum Op {
    /// Raw lines (account, debit, credit): may be malformed or unbalanced.
    Post {
        day: i64,
        lines: Vec<(String, i64, i64)>,
    },
    /// A balanced two-line entry.
    Simple {
        day: i64,
        debit: String,
        credit: String,
        amount: i64,
    },
    Reverse {
        pick: usize,
        day: i64,
    },
    Period {
        day: i64,
        action: PeriodAction,
    },
}

fn base() -> Date {
    parse_date("d", "2025-11-01").unwrap_or(Date::MIN)
}

fn account() -> impl Strategy<Value = String> {
    prop::sample::select(vec![
        "1000", "1200", "2000", "3000", "4000", "6000", "6900", "7777",
    ])
    .prop_map(str::to_owned)
}

/// A line as a client might send it: mostly one-sided and positive, so
/// that balanced multi-line entries occur, sometimes malformed.
fn raw_line() -> impl Strategy<Value = (String, i64, i64)> {
    prop_oneof![
        8 => (account(), 1i64..4, any::<bool>())
            .prop_map(|(a, v, debit)| if debit { (a, v * 100, 0) } else { (a, 0, v * 100) }),
        1 => (account(), -100i64..100, -100i64..100),
    ]
}

fn op() -> impl Strategy<Value = Op> {
    let day = 0i64..120;
    prop_oneof![
        2 => (day.clone(), prop::collection::vec(raw_line(), 0..5))
            .prop_map(|(day, lines)| Op::Post { day, lines }),
        4 => (day.clone(), account(), account(), 1i64..100_000)
            .prop_map(|(day, debit, credit, amount)| Op::Simple { day, debit, credit, amount }),
        2 => (any::<usize>(), day.clone()).prop_map(|(pick, day)| Op::Reverse { pick, day }),
        1 => (day, prop::sample::select(vec![PeriodAction::Close, PeriodAction::Reopen, PeriodAction::Reopen, PeriodAction::Lock]))
            .prop_map(|(day, action)| Op::Period { day, action }),
    ]
}

fn apply(m: &mut Model, op: &Op) -> Result<(), Rejection> {
    let usd = Currency::usd();
    let date = |d: i64| base() + time::Duration::days(d);
    match op {
        Op::Post { day, lines } => {
            let lines = lines
                .iter()
                .map(|(a, d, c)| DraftLine {
                    account: a.clone(),
                    debit: *d,
                    credit: *c,
                    memo: None,
                })
                .collect();
            let draft = entry::build(date(*day), "generated", Some("prop"), lines, &usd)?;
            m.post(draft, None).map(|_| ())
        }
        Op::Simple {
            day,
            debit,
            credit,
            amount,
        } => {
            let lines = vec![
                DraftLine::debit(debit, *amount),
                DraftLine::credit(credit, *amount),
            ];
            let draft = entry::build(date(*day), "simple", None, lines, &usd)?;
            m.post(draft, None).map(|_| ())
        }
        Op::Reverse { pick, day } => {
            if m.entries.is_empty() {
                return Err(Rejection::new(
                    RejectionKind::NotFound,
                    "NOT_FOUND",
                    "empty",
                ));
            }
            m.reverse(pick % m.entries.len(), date(*day)).map(|_| ())
        }
        Op::Period { day, action } => m.set_period(Period::of(date(*day)), *action),
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]

    #[test]
    fn any_history_keeps_the_books_balanced(ops in prop::collection::vec(op(), 1..60), as_of in 0i64..150, from in 0i64..150) {
        let mut m = Model::new();
        for op in &ops {
            let before = m.clone();
            if apply(&mut m, op).is_err() {
                prop_assert_eq!(&m, &before, "a rejected {:?} changed the ledger", op);
            }
            // After every step: the trial balance is equal, the identity holds.
            let all = m.totals(None, base() + time::Duration::days(200));
            let tb = reports::trial_balance(&all);
            prop_assert!(tb.balanced(), "{:?}", tb);
            prop_assert!(reports::balance_sheet(&all).balanced());
        }
        // Reports from balances + partial months equal brute force, for
        // any as-of date and range.
        let as_of = base() + time::Duration::days(as_of);
        prop_assert_eq!(m.totals(None, as_of), m.totals_from_lines(None, as_of));
        prop_assert!(reports::balance_sheet(&m.totals(None, as_of)).balanced(), "as of {}", format_date(as_of));
        let from = base() + time::Duration::days(from);
        prop_assert_eq!(m.totals(Some(from), as_of), m.totals_from_lines(Some(from), as_of));
        // Numbers are gapless per year and each entry is reversed at most once.
        for (year, n) in &m.counters {
            let mut seqs: Vec<String> = m.entries.iter().filter(|e| e.draft.date.year() == *year).map(|e| e.number.clone()).collect();
            seqs.sort();
            let want: Vec<String> = (1..=*n).map(|s| entry::entry_number(*year, s)).collect();
            prop_assert_eq!(seqs, want);
        }
        let mut originals: Vec<usize> = m.entries.iter().filter_map(|e| e.reverses).collect();
        let count = originals.len();
        originals.dedup();
        originals.sort_unstable();
        originals.dedup();
        prop_assert_eq!(originals.len(), count);
        // An entry and its reversal cancel out.
        for (orig, rev) in &m.reversed {
            prop_assert_eq!(m.entries[*orig].draft.total(), m.entries[*rev].draft.total());
        }
    }
}

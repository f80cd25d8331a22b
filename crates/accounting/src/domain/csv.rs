//! CSV rendering of the reports (RFC 4180: comma-separated, CRLF line ends,
//! fields quoted when they hold a comma, quote or line break).
//!
//! Text cells that a spreadsheet would run as a formula (starting with `=`,
//! `+`, `-`, `@`, tab or CR) get a leading `'`: account names and
//! descriptions are user input, and an export must not become an attack on
//! whoever opens it. Amount cells are written as they are.

use super::{
    money::Currency,
    reports::{BalanceSheet, IncomeStatement, LedgerLine, StatementRow, TrialBalance},
};

/// A cell: text (guarded against formula injection) or an amount.
pub enum Cell<'a> {
    Text(&'a str),
    Amount(String),
}

#[derive(Default)]
pub struct Csv {
    out: String,
}

impl Csv {
    pub fn new(header: &[&str]) -> Self {
        let mut csv = Self::default();
        csv.row(header.iter().map(|h| Cell::Text(h)));
        csv
    }

    pub fn row<'a>(&mut self, cells: impl IntoIterator<Item = Cell<'a>>) {
        for (i, cell) in cells.into_iter().enumerate() {
            if i > 0 {
                self.out.push(',');
            }
            match cell {
                Cell::Text(t) => {
                    let guarded;
                    let t = if t.starts_with(['=', '+', '-', '@', '\t', '\r']) {
                        guarded = format!("'{t}");
                        guarded.as_str()
                    } else {
                        t
                    };
                    self.field(t);
                }
                Cell::Amount(a) => self.field(&a),
            }
        }
        self.out.push_str("\r\n");
    }

    fn field(&mut self, s: &str) {
        if s.contains([',', '"', '\n', '\r']) {
            self.out.push('"');
            self.out.push_str(&s.replace('"', "\"\""));
            self.out.push('"');
        } else {
            self.out.push_str(s);
        }
    }

    pub fn finish(self) -> String {
        self.out
    }
}

/// `code,name,type,debit,credit,balance`, then a `Total` row (empty code).
pub fn trial_balance(tb: &TrialBalance, c: &Currency) -> String {
    let mut csv = Csv::new(&["code", "name", "type", "debit", "credit", "balance"]);
    for r in &tb.rows {
        csv.row([
            Cell::Text(&r.code),
            Cell::Text(&r.name),
            Cell::Text(r.account_type.as_str()),
            Cell::Amount(c.format(r.debit)),
            Cell::Amount(c.format(r.credit)),
            Cell::Amount(c.format(r.balance)),
        ]);
    }
    csv.row([
        Cell::Text(""),
        Cell::Text("Total"),
        Cell::Text(""),
        Cell::Amount(c.format(tb.total_debit)),
        Cell::Amount(c.format(tb.total_credit)),
        Cell::Text(""),
    ]);
    csv.finish()
}

fn section(csv: &mut Csv, name: &str, rows: &[StatementRow], total: i64, c: &Currency) {
    for r in rows {
        csv.row([
            Cell::Text(name),
            Cell::Text(&r.code),
            Cell::Text(&r.name),
            Cell::Amount(c.format(r.amount)),
        ]);
    }
    let label = format!("Total {name}");
    csv.row([
        Cell::Text(name),
        Cell::Text(""),
        Cell::Text(&label),
        Cell::Amount(c.format(total)),
    ]);
}

/// `section,code,name,amount`: revenue, expenses, then net income.
pub fn income_statement(is: &IncomeStatement, c: &Currency) -> String {
    let mut csv = Csv::new(&["section", "code", "name", "amount"]);
    section(&mut csv, "revenue", &is.revenue, is.total_revenue, c);
    section(&mut csv, "expenses", &is.expenses, is.total_expenses, c);
    csv.row([
        Cell::Text("net_income"),
        Cell::Text(""),
        Cell::Text("Net income"),
        Cell::Amount(c.format(is.net_income)),
    ]);
    csv.finish()
}

/// `section,code,name,amount`: assets, liabilities, equity, current
/// earnings, and the two sides of the identity.
pub fn balance_sheet(bs: &BalanceSheet, c: &Currency) -> String {
    let mut csv = Csv::new(&["section", "code", "name", "amount"]);
    section(&mut csv, "assets", &bs.assets, bs.total_assets, c);
    section(
        &mut csv,
        "liabilities",
        &bs.liabilities,
        bs.total_liabilities,
        c,
    );
    section(&mut csv, "equity", &bs.equity, bs.total_equity, c);
    csv.row([
        Cell::Text("equity"),
        Cell::Text(""),
        Cell::Text("Current earnings"),
        Cell::Amount(c.format(bs.current_earnings)),
    ]);
    csv.row([
        Cell::Text("total"),
        Cell::Text(""),
        Cell::Text("Total liabilities and equity"),
        Cell::Amount(c.format(bs.total_liabilities_and_equity())),
    ]);
    csv.finish()
}

/// `date,number,entry_id,description,memo,debit,credit,balance`.
pub fn ledger(opening: i64, lines: &[(LedgerLine, i64)], c: &Currency) -> String {
    let mut csv = Csv::new(&[
        "date",
        "number",
        "entry_id",
        "description",
        "memo",
        "debit",
        "credit",
        "balance",
    ]);
    csv.row([
        Cell::Text(""),
        Cell::Text(""),
        Cell::Text(""),
        Cell::Text("Opening balance"),
        Cell::Text(""),
        Cell::Text(""),
        Cell::Text(""),
        Cell::Amount(c.format(opening)),
    ]);
    for (l, balance) in lines {
        csv.row([
            Cell::Text(&l.date),
            Cell::Text(&l.number),
            Cell::Text(&l.entry_id),
            Cell::Text(&l.description),
            Cell::Text(l.memo.as_deref().unwrap_or("")),
            Cell::Amount(c.format(l.debit)),
            Cell::Amount(c.format(l.credit)),
            Cell::Amount(c.format(*balance)),
        ]);
    }
    csv.finish()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{accounts::AccountType, reports};

    #[test]
    fn fields_are_quoted_and_formulas_defused() {
        let mut csv = Csv::new(&["a", "b", "c", "d"]);
        csv.row([
            Cell::Text("x,y"),
            Cell::Text("say \"hi\""),
            Cell::Text("=HYPERLINK(\"http://evil\")"),
            Cell::Amount("-5.00".into()),
        ]);
        assert_eq!(
            csv.finish(),
            "a,b,c,d\r\n\"x,y\",\"say \"\"hi\"\"\",\"'=HYPERLINK(\"\"http://evil\"\")\",-5.00\r\n"
        );
    }

    #[test]
    fn trial_balance_csv_has_a_header_rows_and_totals() {
        let totals = vec![
            reports::AccountTotals {
                code: "1000".into(),
                name: "Cash".into(),
                account_type: AccountType::Asset,
                debit: 500,
                credit: 0,
            },
            reports::AccountTotals {
                code: "4000".into(),
                name: "Sales, retail".into(),
                account_type: AccountType::Revenue,
                debit: 0,
                credit: 500,
            },
        ];
        let text = trial_balance(&reports::trial_balance(&totals), &Currency::usd());
        let lines: Vec<&str> = text.split("\r\n").collect();
        assert_eq!(lines[0], "code,name,type,debit,credit,balance");
        assert_eq!(lines[1], "1000,Cash,asset,5.00,0.00,5.00");
        assert_eq!(lines[2], "4000,\"Sales, retail\",revenue,0.00,5.00,5.00");
        assert_eq!(lines[3], ",Total,,5.00,5.00,");
        assert_eq!(lines[4], "");
    }
}

//! Response views: the JSON of entries and reports, with amounts as
//! decimal strings in the base currency. The shapes are the API's
//! contract (README; the original API's for `/transactions`); domain
//! types carry no JSON.

use serde_json::{Value, json};

use crate::domain::{
    entry::PostedEntry,
    money::Currency,
    reports::{BalanceSheet, IncomeStatement, StatementRow, TrialBalance},
};

/// A journal entry with its lines.
pub(crate) fn entry(e: &PostedEntry, c: &Currency) -> Value {
    json!({
        "id": e.id,
        "number": e.number,
        "date": e.date,
        "period": e.period,
        "description": e.description,
        "reference": e.reference,
        "status": if e.reversed_by.is_some() { "reversed" } else { "posted" },
        "source": e.source,
        "currency": e.currency,
        "total": c.format(e.total),
        "reverses": e.reverses,
        "reversed_by": e.reversed_by,
        "created_by": e.created_by,
        "created_at": e.created_at,
        "lines": e.lines.iter().map(|l| json!({
            "line_no": l.line_no,
            "account": l.account,
            "account_name": l.account_name,
            "debit": c.format(l.debit),
            "credit": c.format(l.credit),
            "memo": l.memo,
        })).collect::<Vec<_>>(),
    })
}

fn rows(rows: &[StatementRow], c: &Currency) -> Value {
    Value::Array(
        rows.iter()
            .map(|r| json!({"code": r.code, "name": r.name, "amount": c.format(r.amount)}))
            .collect(),
    )
}

pub(crate) fn trial_balance(tb: &TrialBalance, c: &Currency) -> Value {
    json!({
        "accounts": tb.rows.iter().map(|r| json!({
            "code": r.code,
            "name": r.name,
            "type": r.account_type,
            "normal_balance": r.account_type.normal_side(),
            "debit": c.format(r.debit),
            "credit": c.format(r.credit),
            "balance": c.format(r.balance),
        })).collect::<Vec<_>>(),
        "total_debit": c.format(tb.total_debit),
        "total_credit": c.format(tb.total_credit),
        "balanced": tb.balanced(),
    })
}

pub(crate) fn income_statement(is: &IncomeStatement, c: &Currency) -> Value {
    json!({
        "revenue": rows(&is.revenue, c),
        "expenses": rows(&is.expenses, c),
        "total_revenue": c.format(is.total_revenue),
        "total_expenses": c.format(is.total_expenses),
        "net_income": c.format(is.net_income),
    })
}

pub(crate) fn balance_sheet(bs: &BalanceSheet, c: &Currency) -> Value {
    json!({
        "assets": rows(&bs.assets, c),
        "liabilities": rows(&bs.liabilities, c),
        "equity": rows(&bs.equity, c),
        "total_assets": c.format(bs.total_assets),
        "total_liabilities": c.format(bs.total_liabilities),
        "total_equity": c.format(bs.total_equity),
        "current_earnings": c.format(bs.current_earnings),
        "total_liabilities_and_equity": c.format(bs.total_liabilities_and_equity()),
        "balanced": bs.balanced(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    // The sample of `domain::reports`' tests: capital 1000, a cash sale of
    // 500 + 50 tax, rent 200, stock bought on credit 300.
    use crate::domain::reports::{self, tests::sample};

    #[test]
    fn trial_balance_amounts_are_decimal_strings() {
        let json = trial_balance(&reports::trial_balance(&sample()), &Currency::usd());
        assert_eq!(json["total_debit"], "18.50");
        assert_eq!(json["accounts"][0]["balance"], "13.50");
    }

    #[test]
    fn balance_sheet_says_it_balances() {
        let bs = reports::balance_sheet(&sample());
        assert_eq!(balance_sheet(&bs, &Currency::usd())["balanced"], true);
    }
}

//! Reports: known figures, mid-month `as_of`, ranges, ledgers with running
//! balances, CSV export.

use marimo_testkit::backends;
use serde_json::{Value, json};

use crate::support::{App, accountant, app};

/// A small business's first quarter.
async fn first_quarter(app: &App) {
    let entries = [
        json!({"date": "2026-01-05", "description": "Owner invests", "lines": [
            {"account": "1010", "debit": "10000"}, {"account": "3000", "credit": "10000"}]}),
        json!({"date": "2026-01-20", "description": "Sale, \"cash\", with tax", "lines": [
            {"account": "1000", "debit": "1082.50"}, {"account": "4000", "credit": "1000"}, {"account": "2100", "credit": "82.50"}]}),
        json!({"date": "2026-02-10", "description": "=Rent", "lines": [
            {"account": "6200", "debit": "1500"}, {"account": "1010", "credit": "1500"}]}),
        json!({"date": "2026-02-15", "description": "Stock on credit", "lines": [
            {"account": "1200", "debit": "400"}, {"account": "2000", "credit": "400"}]}),
        json!({"date": "2026-03-03", "description": "Interest", "lines": [
            {"account": "1000", "debit": "200"}, {"account": "4900", "credit": "200"}]}),
    ];
    for e in entries {
        app.post(e).await.expect(201);
    }
}

fn row<'a>(rows: &'a Value, code: &str) -> &'a Value {
    rows.as_array()
        .and_then(|a| a.iter().find(|r| r["code"] == code))
        .unwrap_or(&Value::Null)
}

#[tokio::test]
async fn trial_balance_as_of_any_day() {
    for backend in backends() {
        let app = app(&backend).await;
        first_quarter(&app).await;
        let name = backend.name();
        // Mid-month: January whole, February up to the 12th.
        let tb = app.trial_balance("2026-02-12").await;
        assert_eq!(tb["as_of"], "2026-02-12");
        assert_eq!(tb["currency"], "USD");
        assert_eq!(tb["total_debit"], "11082.50", "{name}: {tb}");
        assert_eq!(tb["total_credit"], "11082.50");
        assert_eq!(tb["balanced"], true);
        let accounts = &tb["accounts"];
        assert_eq!(row(accounts, "1010")["balance"], "8500.00");
        assert_eq!(row(accounts, "1010")["debit"], "8500.00");
        assert_eq!(row(accounts, "4000")["credit"], "1000.00");
        assert_eq!(row(accounts, "4000")["balance"], "1000.00");
        assert!(row(accounts, "1200").is_null(), "the 15th is after as_of");
        // Month end and a day before anything.
        let end = app.trial_balance("2026-03-31").await;
        assert_eq!(end["total_debit"], end["total_credit"]);
        assert_eq!(row(&end["accounts"], "1000")["balance"], "1282.50");
        let before = app.trial_balance("2025-12-31").await;
        assert_eq!(before["accounts"], json!([]));
        assert_eq!(before["total_debit"], "0.00");
        // Bad dates are 400.
        for bad in ["2026-02-30", "yesterday", "2026-2-1"] {
            let res = app
                .get(&format!(
                    "/api/accounting/reports/trial-balance?as_of={bad}"
                ))
                .await;
            assert_eq!(res.status, 400, "{bad}");
        }
        app.get("/api/accounting/reports/trial-balance?format=pdf")
            .await
            .expect(400);
    }
}

#[tokio::test]
async fn income_statement_and_balance_sheet() {
    for backend in backends() {
        let app = app(&backend).await;
        first_quarter(&app).await;
        let is = app
            .get("/api/accounting/reports/income-statement?from=2026-01-15&to=2026-02-28")
            .await
            .expect(200)
            .json;
        assert_eq!(is["total_revenue"], "1000.00", "{}: {is}", backend.name());
        assert_eq!(is["total_expenses"], "1500.00");
        assert_eq!(is["net_income"], "-500.00");
        assert_eq!(row(&is["expenses"], "6200")["amount"], "1500.00");
        let q1 = app
            .get("/api/accounting/reports/income-statement?from=2026-01-01&to=2026-03-31")
            .await
            .expect(200)
            .json;
        assert_eq!(
            (q1["total_revenue"].as_str(), q1["net_income"].as_str()),
            (Some("1200.00"), Some("-300.00"))
        );
        app.get("/api/accounting/reports/income-statement?from=2026-03-01&to=2026-01-01")
            .await
            .expect(400);

        let bs = app
            .get("/api/accounting/reports/balance-sheet?as_of=2026-03-31")
            .await
            .expect(200)
            .json;
        assert_eq!(bs["total_assets"], "10182.50", "{bs}");
        assert_eq!(bs["total_liabilities"], "482.50");
        assert_eq!(bs["total_equity"], "10000.00");
        assert_eq!(bs["current_earnings"], "-300.00");
        assert_eq!(bs["total_liabilities_and_equity"], "10182.50");
        assert_eq!(bs["balanced"], true);
        let mid = app
            .get("/api/accounting/reports/balance-sheet?as_of=2026-02-12")
            .await
            .expect(200)
            .json;
        assert_eq!(mid["balanced"], true);
        assert_eq!(mid["total_assets"], "9582.50");
    }
}

#[tokio::test]
async fn ledger_with_running_balance() {
    for backend in backends() {
        let app = app(&backend).await;
        first_quarter(&app).await;
        let l = app
            .get("/api/accounting/accounts/1010/ledger?from=2026-02-01&to=2026-03-31")
            .await
            .expect(200)
            .json;
        assert_eq!(l["opening_balance"], "10000.00", "{}: {l}", backend.name());
        assert_eq!(l["closing_balance"], "8500.00");
        assert_eq!(l["lines"][0]["credit"], "1500.00");
        assert_eq!(l["lines"][0]["balance"], "8500.00");
        assert_eq!(l["account"]["normal_balance"], "debit");
        let cash = app
            .get("/api/accounting/accounts/1000/ledger?to=2026-12-31&limit=1&page=2")
            .await
            .expect(200)
            .json;
        assert_eq!(cash["total"], 2);
        assert_eq!(cash["lines"][0]["date"], "2026-03-03");
        assert_eq!(
            cash["lines"][0]["balance"], "1282.50",
            "the second page carries the balance on"
        );
        app.get("/api/accounting/accounts/0000/ledger")
            .await
            .expect(404);
        app.get("/api/accounting/accounts/1000/ledger?from=2026-05-01&to=2026-04-01")
            .await
            .expect(400);
        let csv = app
            .get("/api/accounting/accounts/1010/ledger?format=csv&to=2026-12-31")
            .await
            .expect(200);
        let rows = parse_csv(&csv.text);
        assert_eq!(rows[0][0], "date");
        assert_eq!(rows.last().unwrap()[7], "8500.00");
    }
}

/// RFC 4180, enough for the reports: quoted fields, doubled quotes, CRLF.
fn parse_csv(text: &str) -> Vec<Vec<String>> {
    let mut rows = Vec::new();
    let mut row = Vec::new();
    let mut field = String::new();
    let mut quoted = false;
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        match (quoted, c) {
            (true, '"') if chars.peek() == Some(&'"') => {
                chars.next();
                field.push('"');
            }
            (true, '"') => quoted = false,
            (true, c) => field.push(c),
            (false, '"') => quoted = true,
            (false, ',') => row.push(std::mem::take(&mut field)),
            (false, '\r') => {}
            (false, '\n') => {
                row.push(std::mem::take(&mut field));
                rows.push(std::mem::take(&mut row));
            }
            (false, c) => field.push(c),
        }
    }
    assert!(
        field.is_empty() && row.is_empty(),
        "the CSV ends with a line break"
    );
    rows
}

fn cents(s: &str) -> i64 {
    let (i, f) = s.split_once('.').unwrap_or((s, "0"));
    let neg = i.starts_with('-');
    let v = i.trim_start_matches('-').parse::<i64>().unwrap() * 100 + f.parse::<i64>().unwrap();
    if neg { -v } else { v }
}

#[tokio::test]
async fn csv_exports_parse() {
    for backend in backends() {
        let app = app(&backend).await;
        first_quarter(&app).await;
        let res = app
            .http
            .get("/api/accounting/reports/trial-balance?as_of=2026-03-31&format=csv")
            .bearer(&accountant())
            .send()
            .await
            .expect(200);
        assert!(
            res.header("content-type").unwrap().starts_with("text/csv"),
            "{:?}",
            res.headers
        );
        assert!(
            res.header("content-disposition")
                .unwrap()
                .contains("trial-balance-2026-03-31.csv")
        );
        let rows = parse_csv(&res.text);
        assert_eq!(
            rows[0],
            ["code", "name", "type", "debit", "credit", "balance"]
        );
        let (body, total) = rows[1..].split_at(rows.len() - 2);
        assert_eq!(body.len(), 9, "{}: {rows:?}", backend.name());
        assert!(body.iter().all(|r| r.len() == 6));
        let debit: i64 = body.iter().map(|r| cents(&r[3])).sum();
        let credit: i64 = body.iter().map(|r| cents(&r[4])).sum();
        assert_eq!(debit, credit);
        assert_eq!(total[0][1], "Total");
        assert_eq!(cents(&total[0][3]), debit);
        assert_eq!(cents(&total[0][4]), credit);

        let is = app
            .get(
                "/api/accounting/reports/income-statement?from=2026-01-01&to=2026-03-31&format=csv",
            )
            .await
            .expect(200);
        let rows = parse_csv(&is.text);
        assert_eq!(rows[0], ["section", "code", "name", "amount"]);
        assert_eq!(
            rows.last().unwrap(),
            &["net_income", "", "Net income", "-300.00"]
        );
        let bs = app
            .get("/api/accounting/reports/balance-sheet?as_of=2026-03-31&format=csv")
            .await
            .expect(200);
        let rows = parse_csv(&bs.text);
        let total_assets = rows.iter().find(|r| r[2] == "Total assets").unwrap();
        let total_le = rows
            .iter()
            .find(|r| r[2] == "Total liabilities and equity")
            .unwrap();
        assert_eq!(total_assets[3], total_le[3]);
        // A ledger export defuses formula-like descriptions.
        let l = app
            .get("/api/accounting/accounts/6200/ledger?format=csv&to=2026-12-31")
            .await
            .expect(200);
        assert!(
            parse_csv(&l.text).iter().any(|r| r[3] == "'=Rent"),
            "{}",
            l.text
        );
    }
}

#[tokio::test]
async fn the_dashboard_summary() {
    for backend in backends() {
        let app = app(&backend).await;
        let (today, _) = crate::support::today();
        app.post(json!({"date": today, "description": "sale", "lines": [
            {"account": "1000", "debit": "108.25"}, {"account": "4000", "credit": "100"}, {"account": "2100", "credit": "8.25"}]}))
            .await
            .expect(201);
        app.post(crate::support::simple("2020-01-01", "1000", "4000", "5"))
            .await
            .expect(201);
        let s = app.get("/api/accounting/summary").await.expect(200).json;
        assert_eq!(s["success"], true);
        assert_eq!(s["currency"], "USD");
        assert_eq!(s["revenue_today"], "100.00", "{}: {s}", backend.name());
        assert_eq!(s["revenue_month"], "100.00");
        assert_eq!(s["entries_posted"], 2);
        let days = s["revenue_by_day"].as_array().unwrap();
        assert_eq!(days.len(), 30);
        assert_eq!(days[29]["date"], today.as_str());
        assert_eq!(days[29]["amount"], "100.00");
        assert_eq!(days[0]["amount"], "0.00");
    }
}

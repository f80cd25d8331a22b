//! `/accounting` (accountants, admins): the journal (list, post an entry
//! with a line editor, reverse), the chart of accounts, the statements
//! with CSV download, the periods (close), and the inventory valuation
//! with its reconciliation and the inventory-account mapping.

use askama::Template;
use axum::{
    extract::{Path, Query},
    response::{IntoResponse, Response},
};
use http::{HeaderValue, Method, header};
use serde::Deserialize;
use serde_json::{Value, json};

use crate::{
    access::Area,
    format,
    page::{
        Chrome, FieldErrors, FormData, PageResult, Session, WebError, done, flash, form_answer,
        render, text, urlencode,
    },
};

#[derive(Deserialize, Default)]
pub struct Params {
    done: Option<String>,
    from: Option<String>,
    to: Option<String>,
    as_of: Option<String>,
}

// --------------------------------------------------------------- journal

pub struct EntryRow {
    pub id: String,
    pub number: String,
    pub date: String,
    pub description: String,
    pub reference: String,
    pub total: String,
    pub reversed: bool,
    pub lines: Vec<(String, String, String)>,
}

pub struct LineInput {
    pub account: String,
    pub debit: String,
    pub credit: String,
    pub memo: String,
}

#[derive(Template)]
#[template(path = "accounting/journal.html")]
struct JournalPage {
    p: Chrome,
    tab: &'static str,
    entries: Vec<EntryRow>,
    accounts: Vec<(String, String)>,
    today: String,
    form: FormData,
    lines: Vec<LineInput>,
    errors: FieldErrors,
    flash: Option<String>,
}

async fn journal_page(
    s: &Session,
    form: FormData,
    lines: Vec<LineInput>,
    errors: FieldErrors,
    done: Option<&str>,
) -> PageResult {
    let (list, accounts) = tokio::join!(
        s.api.get("/api/accounting/journal-entries?limit=50"),
        s.api.get("/api/accounting/accounts"),
    );
    let list = list.map_err(WebError::from)?;
    let accounts = accounts.map_err(WebError::from)?;
    let lang = s.lang;
    let entries = list["entries"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|e| {
            let currency = text(e, "currency");
            EntryRow {
                id: text(e, "id"),
                number: text(e, "number"),
                date: format::date(&text(e, "date"), lang),
                description: text(e, "description"),
                reference: text(e, "reference"),
                total: format::money(&text(e, "total"), &currency, lang),
                reversed: text(e, "status") == "reversed",
                lines: e["lines"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .map(|l| {
                        let amount = |k: &str| {
                            let a = text(l, k);
                            if format::hundredths(&a) == 0 {
                                String::new()
                            } else {
                                format::number(&a, lang)
                            }
                        };
                        (
                            format!("{} {}", text(l, "account"), text(l, "account_name")),
                            amount("debit"),
                            amount("credit"),
                        )
                    })
                    .collect(),
            }
        })
        .collect();
    let tr = s.tr();
    let mut lines = lines;
    while lines.len() < 2 {
        lines.push(LineInput {
            account: String::new(),
            debit: String::new(),
            credit: String::new(),
            memo: String::new(),
        });
    }
    Ok(render(&JournalPage {
        tab: "journal",
        p: s.chrome("accounting.journal").await,
        entries,
        accounts: account_options(&accounts),
        today: today(),
        form,
        lines,
        errors,
        flash: flash(&tr, done),
    }))
}

fn account_options(accounts: &Value) -> Vec<(String, String)> {
    accounts["accounts"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|a| a["active"].as_bool().unwrap_or(true))
        .map(|a| {
            (
                text(a, "code"),
                format!("{} {}", text(a, "code"), text(a, "name")),
            )
        })
        .collect()
}

fn today() -> String {
    marimo_platform::clock::now_text()
        .get(..10)
        .unwrap_or_default()
        .to_owned()
}

pub async fn journal(s: Session, Query(q): Query<Params>) -> PageResult {
    s.require(Area::Accounting)?;
    journal_page(
        &s,
        FormData(Vec::new()),
        Vec::new(),
        FieldErrors::default(),
        q.done.as_deref(),
    )
    .await
}

/// Posts an entry from the line editor: rows with an account and an
/// amount become lines; the ledger checks the balance and everything else.
pub async fn post_entry(s: Session, form: FormData) -> PageResult {
    s.require(Area::Accounting)?;
    let (accounts, debits, credits, memos) = (
        form.all("account"),
        form.all("debit"),
        form.all("credit"),
        form.all("memo"),
    );
    let mut lines = Vec::new();
    let mut inputs = Vec::new();
    for (i, account) in accounts.iter().enumerate() {
        let get = |v: &Vec<String>| v.get(i).cloned().unwrap_or_default();
        let (debit, credit, memo) = (get(&debits), get(&credits), get(&memos));
        inputs.push(LineInput {
            account: account.clone(),
            debit: debit.clone(),
            credit: credit.clone(),
            memo: memo.clone(),
        });
        if account.is_empty() && debit.is_empty() && credit.is_empty() {
            continue;
        }
        let mut line = json!({"account": account});
        if !debit.is_empty() {
            line["debit"] = json!(debit.replace(',', "."));
        }
        if !credit.is_empty() {
            line["credit"] = json!(credit.replace(',', "."));
        }
        if !memo.is_empty() {
            line["memo"] = json!(memo);
        }
        lines.push(line);
    }
    let body = json!({
        "date": form.get("date"),
        "description": form.get("description"),
        "reference": form.opt("reference"),
        "lines": lines,
    });
    let sent = s.api.post("/api/accounting/journal-entries", body).await;
    form_answer(
        sent,
        || done("/accounting", "entry_posted"),
        |errors| journal_page(&s, form, inputs, errors, None),
    )
    .await
}

pub async fn reverse(s: Session, Path(id): Path<String>) -> PageResult {
    s.require(Area::Accounting)?;
    s.api
        .post(
            &format!("/api/accounting/journal-entries/{}/reverse", urlencode(&id)),
            json!({}),
        )
        .await
        .map_err(WebError::from)?;
    Ok(done("/accounting", "entry_reversed"))
}

// --------------------------------------------------------------- accounts

pub struct AccountRow {
    pub code: String,
    pub name: String,
    pub kind: String,
    pub parent: String,
    pub active: bool,
}

#[derive(Template)]
#[template(path = "accounting/accounts.html")]
struct AccountsPage {
    p: Chrome,
    tab: &'static str,
    accounts: Vec<AccountRow>,
    types: Vec<(&'static str, String)>,
    form: FormData,
    errors: FieldErrors,
    flash: Option<String>,
}

const ACCOUNT_TYPES: [&str; 5] = ["asset", "liability", "equity", "revenue", "expense"];

async fn accounts_page(
    s: &Session,
    form: FormData,
    errors: FieldErrors,
    done: Option<&str>,
) -> PageResult {
    let list = s
        .api
        .get("/api/accounting/accounts")
        .await
        .map_err(WebError::from)?;
    let tr = s.tr();
    let accounts = list["accounts"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|a| AccountRow {
            code: text(a, "code"),
            name: text(a, "name"),
            kind: tr
                .t(&format!("accounting.type.{}", text(a, "type")))
                .to_owned(),
            parent: text(a, "parent"),
            active: a["active"].as_bool().unwrap_or(true),
        })
        .collect();
    Ok(render(&AccountsPage {
        tab: "accounts",
        p: s.chrome("accounting.accounts").await,
        accounts,
        types: ACCOUNT_TYPES
            .iter()
            .map(|t| (*t, tr.t(&format!("accounting.type.{t}")).to_owned()))
            .collect(),
        form,
        errors,
        flash: flash(&tr, done),
    }))
}

pub async fn accounts(s: Session, Query(q): Query<Params>) -> PageResult {
    s.require(Area::Accounting)?;
    accounts_page(
        &s,
        FormData(Vec::new()),
        FieldErrors::default(),
        q.done.as_deref(),
    )
    .await
}

pub async fn create_account(s: Session, form: FormData) -> PageResult {
    s.require(Area::Accounting)?;
    let body = json!({
        "code": form.get("code"),
        "name": form.get("name"),
        "type": form.get("type"),
        "parent": form.opt("parent"),
    });
    let sent = s.api.post("/api/accounting/accounts", body).await;
    form_answer(
        sent,
        || done("/accounting/accounts", "account_created"),
        |errors| accounts_page(&s, form, errors, None),
    )
    .await
}

// ---------------------------------------------------------------- reports

pub struct ReportSection {
    pub title: String,
    pub rows: Vec<(String, String, String)>,
    pub total_label: String,
    pub total: String,
}

#[derive(Template)]
#[template(path = "accounting/report.html")]
struct ReportPage {
    p: Chrome,
    tab: &'static str,
    ranged: bool,
    from: String,
    to: String,
    as_of: String,
    period_text: String,
    sections: Vec<ReportSection>,
    footer: Vec<(String, String)>,
    balanced: Option<bool>,
    csv_href: String,
}

fn report_kind(kind: &str) -> Option<&'static str> {
    ["trial-balance", "income-statement", "balance-sheet"]
        .into_iter()
        .find(|k| *k == kind)
}

fn report_query(kind: &str, q: &Params) -> String {
    let mut parts = Vec::new();
    let mut add = |k: &str, v: &Option<String>| {
        if let Some(v) = v.as_deref().map(str::trim).filter(|v| !v.is_empty()) {
            parts.push(format!("{k}={}", urlencode(v)));
        }
    };
    if kind == "income-statement" {
        add("from", &q.from);
        add("to", &q.to);
    } else {
        add("as_of", &q.as_of);
    }
    parts.join("&")
}

pub async fn report(s: Session, Path(kind): Path<String>, Query(q): Query<Params>) -> PageResult {
    s.require(Area::Accounting)?;
    let kind = report_kind(&kind).ok_or(WebError::NotFound)?;
    let query = report_query(kind, &q);
    let r = s
        .api
        .get(&format!("/api/accounting/reports/{kind}?{query}"))
        .await
        .map_err(WebError::from)?;
    let tr = s.tr();
    let lang = s.lang;
    let currency = text(&r, "currency");
    let money = |v: &Value, k: &str| format::money(&text(v, k), &currency, lang);
    let rows = |list: &Value| -> Vec<(String, String, String)> {
        list.as_array()
            .into_iter()
            .flatten()
            .map(|a| (text(a, "code"), text(a, "name"), money(a, "amount")))
            .collect()
    };
    let section = |key: &str, list: &Value, total_key: &str| ReportSection {
        title: tr.t(&format!("accounting.report.{key}")).to_owned(),
        rows: rows(list),
        total_label: tr.t(&format!("accounting.report.total_{key}")).to_owned(),
        total: money(&r, total_key),
    };
    let (sections, footer, balanced) = match kind {
        "income-statement" => (
            vec![
                section("revenue", &r["revenue"], "total_revenue"),
                section("expenses", &r["expenses"], "total_expenses"),
            ],
            vec![(
                tr.t("accounting.report.net_income").to_owned(),
                money(&r, "net_income"),
            )],
            None,
        ),
        "balance-sheet" => (
            vec![
                section("assets", &r["assets"], "total_assets"),
                section("liabilities", &r["liabilities"], "total_liabilities"),
                section("equity", &r["equity"], "total_equity"),
            ],
            vec![
                (
                    tr.t("accounting.report.current_earnings").to_owned(),
                    money(&r, "current_earnings"),
                ),
                (
                    tr.t("accounting.report.total_liabilities_and_equity")
                        .to_owned(),
                    money(&r, "total_liabilities_and_equity"),
                ),
            ],
            r["balanced"].as_bool(),
        ),
        _ => {
            let rows = r["accounts"]
                .as_array()
                .into_iter()
                .flatten()
                .map(|a| {
                    (
                        text(a, "code"),
                        text(a, "name"),
                        format!("{} / {}", money(a, "debit"), money(a, "credit")),
                    )
                })
                .collect();
            (
                vec![ReportSection {
                    title: tr.t("accounting.report.accounts").to_owned(),
                    rows,
                    total_label: tr.t("accounting.report.totals").to_owned(),
                    total: format!(
                        "{} / {}",
                        money(&r, "total_debit"),
                        money(&r, "total_credit")
                    ),
                }],
                Vec::new(),
                r["balanced"].as_bool(),
            )
        }
    };
    let period_text = if kind == "income-statement" {
        format!(
            "{} – {}",
            format::date(&text(&r, "from"), lang),
            format::date(&text(&r, "to"), lang)
        )
    } else {
        format::date(&text(&r, "as_of"), lang)
    };
    Ok(render(&ReportPage {
        tab: kind,
        p: s.chrome(&format!("accounting.{kind}")).await,
        ranged: kind == "income-statement",
        from: text(&r, "from"),
        to: text(&r, "to"),
        as_of: text(&r, "as_of"),
        period_text,
        sections,
        footer,
        balanced,
        csv_href: format!("/accounting/reports/{kind}/csv?{query}"),
    }))
}

/// The API's CSV, passed through as a download.
pub async fn report_csv(
    s: Session,
    Path(kind): Path<String>,
    Query(q): Query<Params>,
) -> Result<Response, WebError> {
    s.require(Area::Accounting)?;
    let kind = report_kind(&kind).ok_or(WebError::NotFound)?;
    let query = report_query(kind, &q);
    let raw = s
        .api
        .raw(
            Method::GET,
            &format!("/api/accounting/reports/{kind}?format=csv&{query}"),
            None,
        )
        .await
        .map_err(WebError::from)?;
    if !raw.status.is_success() {
        return Err(WebError::Refused(
            String::from_utf8_lossy(&raw.body).into_owned(),
        ));
    }
    let disposition = raw
        .headers
        .get(header::CONTENT_DISPOSITION)
        .cloned()
        .unwrap_or(HeaderValue::from_static(
            "attachment; filename=\"report.csv\"",
        ));
    Ok((
        [
            (
                header::CONTENT_TYPE,
                HeaderValue::from_static("text/csv; charset=utf-8"),
            ),
            (header::CONTENT_DISPOSITION, disposition),
        ],
        raw.body,
    )
        .into_response())
}

// ---------------------------------------------------------------- periods

pub struct PeriodRow {
    pub period: String,
    pub status: String,
    pub status_label: String,
    pub closable: bool,
}

#[derive(Template)]
#[template(path = "accounting/periods.html")]
struct PeriodsPage {
    p: Chrome,
    tab: &'static str,
    periods: Vec<PeriodRow>,
    current: String,
    flash: Option<String>,
}

pub async fn periods(s: Session, Query(q): Query<Params>) -> PageResult {
    s.require(Area::Accounting)?;
    let list = s
        .api
        .get("/api/accounting/periods")
        .await
        .map_err(WebError::from)?;
    let tr = s.tr();
    let periods: Vec<PeriodRow> = list["periods"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|p| {
            let status = text(p, "status");
            PeriodRow {
                period: text(p, "period"),
                status_label: tr.t(&format!("accounting.period.{status}")).to_owned(),
                closable: status == "open",
                status,
            }
        })
        .collect();
    let current = text(&list, "current_period");
    let mut periods: Vec<PeriodRow> = periods;
    if !current.is_empty() && !periods.iter().any(|p| p.period == current) {
        periods.insert(
            0,
            PeriodRow {
                period: current.clone(),
                status: "open".into(),
                status_label: tr.t("accounting.period.open").to_owned(),
                closable: true,
            },
        );
    }
    Ok(render(&PeriodsPage {
        tab: "periods",
        p: s.chrome("accounting.periods").await,
        periods,
        current,
        flash: flash(&tr, q.done.as_deref()),
    }))
}

pub async fn close_period(s: Session, form: FormData) -> PageResult {
    s.require(Area::Accounting)?;
    let period = form.get("period");
    s.api
        .post(
            &format!("/api/accounting/periods/{}/close", urlencode(period)),
            json!({}),
        )
        .await
        .map_err(WebError::from)?;
    Ok(done("/accounting/periods", "period_closed"))
}

// ------------------------------------------------------------- inventory

pub struct ReconciledRow {
    pub account: String,
    pub name: String,
    pub ledger: String,
    pub valuation: String,
    pub difference: String,
}

#[derive(Template)]
#[template(path = "accounting/inventory.html")]
struct InventoryPage {
    p: Chrome,
    tab: &'static str,
    date: String,
    ok: bool,
    rows: Vec<ReconciledRow>,
    /// Why the factory's valuation could not be read (the rest shows).
    unavailable: Option<String>,
    /// (what for, account) of the inventory-account mapping.
    mapping: Vec<(String, String)>,
}

/// The inventory valuation and its reconciliation with the ledger at a
/// day, and the inventory-account mapping.
pub async fn inventory(s: Session, Query(q): Query<Params>) -> PageResult {
    s.require(Area::Accounting)?;
    let tr = s.tr();
    let lang = s.lang;
    let date = q
        .as_of
        .as_deref()
        .map(str::trim)
        .filter(|d| !d.is_empty())
        .map_or_else(today, str::to_owned);
    let (mut ok, mut rows, mut unavailable) = (false, Vec::new(), None);
    match s
        .api
        .get(&format!(
            "/api/v1/accounting/reports/inventory-reconciliation?date={}",
            urlencode(&date)
        ))
        .await
    {
        Ok(r) => {
            let currency = text(&r, "currency");
            let money = |v: &Value, k: &str| format::money(&text(v, k), &currency, lang);
            ok = r["ok"].as_bool().unwrap_or(false);
            rows = r["accounts"]
                .as_array()
                .into_iter()
                .flatten()
                .map(|a| ReconciledRow {
                    account: text(a, "account"),
                    name: text(a, "name"),
                    ledger: money(a, "ledger"),
                    valuation: money(a, "valuation"),
                    difference: money(a, "difference"),
                })
                .collect();
        }
        // A bad date is the caller's; the factory away is shown in place.
        Err(e) if e.status.is_client_error() => return Err(WebError::from(e)),
        Err(e) => unavailable = Some(e.message),
    }
    let m = s
        .api
        .get("/api/v1/accounting/inventory-accounts")
        .await
        .map_err(WebError::from)?;
    let mut mapping = Vec::new();
    for (group, keys) in [
        (
            "categories",
            &[
                "raw_material",
                "sub_assembly",
                "finished_good",
                "merchandise",
            ][..],
        ),
        (
            "counter",
            &["grni", "wip", "cogs", "adjustments", "opening"][..],
        ),
    ] {
        for k in keys {
            mapping.push((
                tr.t(&format!("accounting.inventory.{k}")).to_owned(),
                text(&m[group], k),
            ));
        }
    }
    for o in m["overrides"].as_array().into_iter().flatten() {
        let category = text(o, "category");
        mapping.push((
            format!(
                "{} ({})",
                tr.t(&format!("accounting.inventory.{category}")),
                text(o, "warehouse")
            ),
            text(o, "account"),
        ));
    }
    Ok(render(&InventoryPage {
        tab: "inventory",
        p: s.chrome("accounting.inventory.tab").await,
        date,
        ok,
        rows,
        unavailable,
        mapping,
    }))
}

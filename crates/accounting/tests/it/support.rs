//! A running accounting service per backend, tokens and small helpers.

use marimo_platform::{
    auth::Role,
    bus::Bus,
    service::{ServiceContext, ServiceName},
};
use marimo_testkit::{Backend, Http, Res, Service, TestServer, start_service, token_for};
use serde_json::{Value, json};

pub struct App {
    pub backend: Backend,
    pub ctx: ServiceContext,
    pub http: Http,
    _server: TestServer,
}

/// The accounting service on a fresh database of `backend`, on its own bus.
pub async fn app(backend: &Backend) -> App {
    app_on(backend, Bus::embedded(), backend.settings(&[]).await).await
}

pub async fn app_on(
    backend: &Backend,
    bus: Bus,
    settings: marimo_platform::config::Settings,
) -> App {
    let Service { ctx, server } = start_service(
        ServiceName::Accounting,
        settings,
        bus,
        marimo_accounting::router,
    )
    .await;
    App {
        backend: backend.clone(),
        ctx,
        http: server.http.clone(),
        _server: server,
    }
}

/// What `testkit::each_backend` starts: the service on a fresh database.
impl marimo_testkit::Fixture for App {
    async fn start(backend: &Backend) -> Self {
        app(backend).await
    }
}

/// `testkit::token_for`: a fixed user per role, which Idempotency-Key
/// scoping relies on.
pub fn accountant() -> String {
    token_for(Role::Accountant)
}

pub fn admin() -> String {
    token_for(Role::Admin)
}

/// A two-line entry: `amount` from `debit` to `credit`.
pub fn simple(date: &str, debit: &str, credit: &str, amount: &str) -> Value {
    json!({
        "date": date,
        "description": format!("{debit} / {credit}"),
        "lines": [
            {"account": debit, "debit": amount},
            {"account": credit, "credit": amount},
        ]
    })
}

impl App {
    pub async fn post(&self, body: Value) -> Res {
        self.http
            .post("/api/accounting/journal-entries")
            .bearer(&accountant())
            .json(body)
            .send()
            .await
    }

    pub async fn get(&self, path: &str) -> Res {
        self.http.get(path).bearer(&accountant()).send().await
    }

    pub async fn scalar(&self, sql: &'static str) -> i64 {
        sqlx::query_scalar::<_, i64>(sql)
            .fetch_one(self.ctx.db().pool())
            .await
            .unwrap_or_else(|e| panic!("{sql}: {e}"))
    }

    /// The trial balance as of `as_of`: (total_debit, total_credit, body).
    pub async fn trial_balance(&self, as_of: &str) -> Value {
        self.get(&format!(
            "/api/accounting/reports/trial-balance?as_of={as_of}"
        ))
        .await
        .expect(200)
        .json
    }

    /// Account `code`'s balance (normal side) in the trial balance.
    pub async fn balance_of(&self, code: &str, as_of: &str) -> String {
        let tb = self.trial_balance(as_of).await;
        tb["accounts"]
            .as_array()
            .and_then(|a| a.iter().find(|r| r["code"] == code))
            .map_or_else(
                || "0.00".to_owned(),
                |r| r["balance"].as_str().unwrap_or("").to_owned(),
            )
    }

    /// The ledger's consistency: balances equal the lines, per tenant,
    /// account and month; every entry balances; numbers are gapless per
    /// tenant and year.
    pub async fn assert_consistent(&self) {
        let name = self.backend.name();
        let drift = self
            .scalar(
                "SELECT COUNT(*) FROM (
                   SELECT tenant_id, account_code, period, SUM(debit) AS d, SUM(credit) AS c FROM (
                     SELECT tenant_id, account_code, period, debit, credit FROM account_balances
                     UNION ALL
                     SELECT l.tenant_id, l.account_code, e.period, -l.debit, -l.credit
                     FROM journal_lines l
                     JOIN journal_entries e ON e.tenant_id = l.tenant_id AND e.id = l.entry_id
                   ) u GROUP BY tenant_id, account_code, period
                 ) t WHERE d <> 0 OR c <> 0",
            )
            .await;
        assert_eq!(drift, 0, "{name}: account_balances drifted from the lines");
        let unbalanced = self
            .scalar(
                "SELECT COUNT(*) FROM (
                   SELECT e.id FROM journal_entries e
                   JOIN journal_lines l ON l.tenant_id = e.tenant_id AND l.entry_id = e.id
                   GROUP BY e.id, e.total HAVING SUM(l.debit) <> SUM(l.credit) OR SUM(l.debit) <> e.total
                 ) t",
            )
            .await;
        assert_eq!(unbalanced, 0, "{name}: an entry does not balance");
        let gaps = self
            .scalar(
                "SELECT COUNT(*) FROM (
                   SELECT fiscal_year FROM journal_entries GROUP BY tenant_id, fiscal_year
                   HAVING COUNT(*) <> MAX(seq) OR MIN(seq) <> 1
                 ) t",
            )
            .await;
        assert_eq!(gaps, 0, "{name}: entry numbers have gaps");
        let counters = self
            .scalar(
                "SELECT COUNT(*) FROM entry_counters c
                 WHERE c.next <> (SELECT COUNT(*) FROM journal_entries e
                                  WHERE e.tenant_id = c.tenant_id AND e.fiscal_year = c.fiscal_year)",
            )
            .await;
        assert_eq!(counters, 0, "{name}: counters disagree with the entries");
    }
}

/// Today (UTC) as `YYYY-MM-DD` and its period `YYYY-MM`.
pub fn today() -> (String, String) {
    let d = marimo_platform::clock::now().date();
    let day = format!("{:04}-{:02}-{:02}", d.year(), u8::from(d.month()), d.day());
    let period = day[..7].to_owned();
    (day, period)
}

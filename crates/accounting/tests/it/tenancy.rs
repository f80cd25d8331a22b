//! Tenancy (docs/TENANCY.md): a tenant's books are seeded when accounting
//! hears of its creation (`users.tenant.created`, in its currency); two
//! tenants keep the same business in separate books (same account codes,
//! entry numbers, order references, Idempotency-Keys); nothing of one is
//! found, changed or posted to through the other, by id, by path or by
//! event; and on PostgreSQL, as an ordinary role, the row policies hide
//! the other tenant's rows even from a query without a tenant filter.

use marimo_contracts::users::TenantCreated;
use marimo_platform::{
    auth::{Role, jwt::Identity},
    bus::{Bus, Envelope},
    service::{ServiceContext, ServiceName},
    tenant::TenantId,
};
use marimo_testkit::{AppRole, Backend, Res, backends, context_on, eventually, sign};
use serde_json::{Value, json};

use crate::support::{App, app_on, today};

/// The accounting service with a users and a shop service on one bus.
struct World {
    app: App,
    users: ServiceContext,
    shop: ServiceContext,
}

async fn world(backend: &Backend) -> World {
    let bus = Bus::embedded();
    let settings = backend.settings(&[]).await;
    let app = app_on(backend, bus.clone(), settings.clone()).await;
    let users = context_on(ServiceName::Users, settings.clone(), bus.clone()).await;
    let shop = context_on(ServiceName::Shop, settings, bus).await;
    World { app, users, shop }
}

/// A token of `tenant`; the same user id in every tenant, so that keys
/// scoped only by user would collide.
fn token(tenant: &TenantId, role: Role) -> String {
    sign(&Identity {
        user_id: "acct-user".into(),
        email: "acct-user@example.com".into(),
        role,
        tenant: tenant.clone(),
    })
}

/// Publishes an event from `from` in a transaction of `tenant` (so the
/// envelope carries it) and waits until it was delivered.
async fn publish(from: &ServiceContext, tenant: &TenantId, kind: &str, payload: Value) {
    let mut tx = from.db().tenant(tenant).begin().await.unwrap();
    let env = Envelope::new(from.name.as_str(), kind, payload);
    from.outbox.publish(&mut tx, &env).await.unwrap();
    tx.commit().await.unwrap();
    from.outbox.wake();
    eventually("the outbox to drain", || async {
        sqlx::query_scalar::<_, i64>("SELECT COUNT(*) FROM outbox WHERE sent_at IS NULL")
            .fetch_one(from.db().pool())
            .await
            .unwrap()
            == 0
    })
    .await;
}

/// Creates a tenant the way the users service announces it.
async fn create_tenant(w: &World, slug: &str, currency: &str) -> TenantId {
    create_tenant_starting(w, slug, currency, 1).await
}

/// Creates a tenant whose fiscal year starts in `month`.
async fn create_tenant_starting(w: &World, slug: &str, currency: &str, month: u8) -> TenantId {
    let t = TenantId::generate();
    let created = TenantCreated {
        tenant_id: t.to_string(),
        slug: slug.into(),
        name: format!("{slug} Ltd"),
        currency: currency.into(),
        fiscal_year_start_month: month,
    };
    publish(
        &w.users,
        &t,
        "users.tenant.created",
        serde_json::to_value(&created).unwrap(),
    )
    .await;
    t
}

fn order(id: &str, currency: &str) -> Value {
    json!({
        "order_id": id, "user_id": "customer-7", "email": "c@example.com", "status": "paid",
        "currency": currency, "subtotal": "100.00", "tax": "8.25", "total": "108.25",
        "items": [{"product_id": "p1", "sku": "WID", "name": "Widget", "quantity": "2", "unit_price": "50.00", "line_total": "100.00"}],
    })
}

impl World {
    async fn get(&self, t: &TenantId, path: &str) -> Res {
        self.app
            .http
            .get(path)
            .bearer(&token(t, Role::Admin))
            .send()
            .await
    }

    async fn post(&self, t: &TenantId, path: &str, body: Value) -> Res {
        self.app
            .http
            .post(path)
            .bearer(&token(t, Role::Admin))
            .json(body)
            .send()
            .await
    }

    async fn entry(
        &self,
        t: &TenantId,
        date: &str,
        debit: &str,
        credit: &str,
        amount: &str,
    ) -> Res {
        self.post(
            t,
            "/api/accounting/journal-entries",
            json!({"date": date, "description": "tenancy", "lines": [
                {"account": debit, "debit": amount}, {"account": credit, "credit": amount}]}),
        )
        .await
    }

    /// `code → (debit, credit)` of the non-zero rows of a trial balance,
    /// with its totals and currency.
    async fn trial_balance(
        &self,
        t: &TenantId,
        as_of: &str,
    ) -> (Vec<(String, String, String)>, (String, String), String) {
        let tb = self
            .get(
                t,
                &format!("/api/accounting/reports/trial-balance?as_of={as_of}"),
            )
            .await
            .expect(200)
            .json;
        let rows = tb["accounts"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|r| r["debit"] != "0.00" || r["credit"] != "0.00")
            .map(|r| {
                (
                    r["code"].as_str().unwrap().to_owned(),
                    r["debit"].as_str().unwrap().to_owned(),
                    r["credit"].as_str().unwrap().to_owned(),
                )
            })
            .collect();
        let totals = (
            tb["total_debit"].as_str().unwrap().to_owned(),
            tb["total_credit"].as_str().unwrap().to_owned(),
        );
        (
            rows,
            totals,
            tb["currency"].as_str().unwrap_or("").to_owned(),
        )
    }
}

fn rows(list: &[(&str, &str, &str)]) -> Vec<(String, String, String)> {
    list.iter()
        .map(|(a, b, c)| ((*a).to_owned(), (*b).to_owned(), (*c).to_owned()))
        .collect()
}

#[tokio::test]
async fn a_new_tenant_gets_the_standard_chart_in_its_currency_once() {
    for backend in backends() {
        let name = backend.name();
        let w = world(&backend).await;
        let default = TenantId::default_tenant();
        let default_chart = w
            .get(&default, "/api/accounting/accounts")
            .await
            .expect(200)
            .json;
        let n = default_chart["accounts"].as_array().unwrap().len();
        assert!(n > 10, "{name}: the default tenant keeps its seeded chart");

        let acme = create_tenant(&w, "acme", "EUR").await;
        let chart = w
            .get(&acme, "/api/accounting/accounts")
            .await
            .expect(200)
            .json;
        assert_eq!(
            chart["accounts"],
            default_chart["accounts"]
                .clone()
                .as_array()
                .map(|a| {
                    a.iter()
                        .map(|r| {
                            let mut r = r.clone();
                            // Same chart; its own timestamps.
                            r["created_at"] = chart["accounts"][0]["created_at"].clone();
                            r["updated_at"] = chart["accounts"][0]["updated_at"].clone();
                            r
                        })
                        .collect::<Vec<_>>()
                })
                .map(Value::from)
                .unwrap(),
            "{name}: the standard chart"
        );
        let (_, _, currency) = w.trial_balance(&acme, "2026-12-31").await;
        assert_eq!(currency, "EUR", "{name}: the tenant's currency");
        let (_, _, currency) = w.trial_balance(&default, "2026-12-31").await;
        assert_eq!(currency, "USD", "{name}: the default tenant's stays");

        // The event again (a second announcement, another event id):
        // nothing doubles and the currency stays.
        publish(
            &w.users,
            &acme,
            "users.tenant.created",
            json!({"tenant_id": acme.as_str(), "slug": "acme", "name": "Acme", "currency": "GBP", "fiscal_year_start_month": 1}),
        )
        .await;
        let again = w
            .get(&acme, "/api/accounting/accounts")
            .await
            .expect(200)
            .json;
        assert_eq!(again["accounts"].as_array().unwrap().len(), n, "{name}");
        let (_, _, currency) = w.trial_balance(&acme, "2026-12-31").await;
        assert_eq!(currency, "EUR", "{name}");
    }
}

#[tokio::test]
async fn two_tenants_keep_the_same_business_in_separate_books() {
    for backend in backends() {
        let name = backend.name();
        let w = world(&backend).await;
        let (day, _) = today();
        let acme = create_tenant(&w, "acme", "USD").await;
        let globex = create_tenant(&w, "globex", "EUR").await;

        // The same business in both, at once: the owner puts in 500.00,
        // an order (same id in both shops) is paid 100.00 + 8.25 tax, the
        // rent of 40.00 is paid. Globex also sells a service for 10.00.
        let (a, b) = tokio::join!(
            async {
                let first = w
                    .entry(&acme, &day, "1000", "3000", "500.00")
                    .await
                    .expect(201);
                w.entry(&acme, &day, "6200", "1000", "40.00")
                    .await
                    .expect(201);
                publish(&w.shop, &acme, "shop.order.paid", order("o-1", "USD")).await;
                first.json
            },
            async {
                let first = w
                    .entry(&globex, &day, "1000", "3000", "500.00")
                    .await
                    .expect(201);
                w.entry(&globex, &day, "6200", "1000", "40.00")
                    .await
                    .expect(201);
                publish(&w.shop, &globex, "shop.order.paid", order("o-1", "EUR")).await;
                w.entry(&globex, &day, "1000", "4100", "10.00")
                    .await
                    .expect(201);
                first.json
            },
        );
        // Numbers are per tenant: both books start at 1.
        let year = &day[..4];
        assert_eq!(a["entry"]["number"], format!("JE-{year}-000001"), "{name}");
        assert_eq!(b["entry"]["number"], format!("JE-{year}-000001"), "{name}");

        // Acme: Cash 500.00 + 108.25 − 40.00 = 568.25 Dr; Rent 40.00 Dr;
        // Equity 500.00 Cr; Sales 100.00 Cr; Tax 8.25 Cr.
        // Σ Dr = 568.25 + 40.00 = 608.25 = Σ Cr = 500.00 + 100.00 + 8.25.
        let (rows_a, totals_a, currency_a) = w.trial_balance(&acme, &day).await;
        assert_eq!(
            rows_a,
            rows(&[
                ("1000", "568.25", "0.00"),
                ("2100", "0.00", "8.25"),
                ("3000", "0.00", "500.00"),
                ("4000", "0.00", "100.00"),
                ("6200", "40.00", "0.00"),
            ]),
            "{name}: acme"
        );
        assert_eq!(totals_a, ("608.25".into(), "608.25".into()), "{name}");
        assert_eq!(currency_a, "USD");
        // Globex: the same, plus Cash 10.00 Dr / Service revenue 10.00 Cr:
        // Cash 578.25 Dr; Σ Dr = 578.25 + 40.00 = 618.25 = Σ Cr.
        let (rows_b, totals_b, currency_b) = w.trial_balance(&globex, &day).await;
        assert_eq!(
            rows_b,
            rows(&[
                ("1000", "578.25", "0.00"),
                ("2100", "0.00", "8.25"),
                ("3000", "0.00", "500.00"),
                ("4000", "0.00", "100.00"),
                ("4100", "0.00", "10.00"),
                ("6200", "40.00", "0.00"),
            ]),
            "{name}: globex"
        );
        assert_eq!(totals_b, ("618.25".into(), "618.25".into()), "{name}");
        assert_eq!(currency_b, "EUR");
        // The default tenant saw none of it.
        let (rows_d, totals_d, _) = w.trial_balance(&TenantId::default_tenant(), &day).await;
        assert!(rows_d.is_empty(), "{name}: {rows_d:?}");
        assert_eq!(totals_d, ("0.00".into(), "0.00".into()));

        // Lists, ledgers, reports: each its own.
        let list = w
            .get(&acme, "/api/accounting/journal-entries")
            .await
            .expect(200)
            .json;
        assert_eq!(list["total"], 3, "{name}: {list}");
        let list = w
            .get(&globex, "/api/accounting/journal-entries")
            .await
            .expect(200)
            .json;
        assert_eq!(list["total"], 4, "{name}");
        let ledger = w
            .get(
                &acme,
                &format!("/api/accounting/accounts/1000/ledger?from={day}&to={day}"),
            )
            .await
            .expect(200)
            .json;
        assert_eq!(ledger["closing_balance"], "568.25", "{name}: {ledger}");
        let is = w
            .get(
                &globex,
                &format!("/api/accounting/reports/income-statement?from={day}&to={day}"),
            )
            .await
            .expect(200)
            .json;
        // Revenue 100.00 + 10.00 − rent 40.00 = 70.00.
        assert_eq!(is["net_income"], "70.00", "{name}: {is}");
        let summary = w
            .get(&acme, "/api/accounting/summary")
            .await
            .expect(200)
            .json;
        assert_eq!(summary["entries_posted"], 3, "{name}: {summary}");
        assert_eq!(summary["revenue_today"], "100.00", "{name}");
        w.app.assert_consistent().await;
    }
}

#[tokio::test]
async fn another_tenants_rows_are_not_found_and_stay_unchanged() {
    for backend in backends() {
        let name = backend.name();
        let w = world(&backend).await;
        let (day, period) = today();
        let acme = create_tenant(&w, "acme", "USD").await;
        let globex = create_tenant(&w, "globex", "USD").await;
        let entry = w
            .entry(&acme, &day, "1000", "3000", "500.00")
            .await
            .expect(201)
            .json;
        let id = entry["entry"]["id"].as_str().unwrap().to_owned();
        let tx = w
            .post(
                &acme,
                "/api/accounting/transactions",
                json!({"type": "expense", "amount": "12.50", "description": "paper", "category": "supplies"}),
            )
            .await
            .expect(201)
            .json;
        let tx_id = tx["transaction"]["id"].as_str().unwrap().to_owned();

        // By id, by path: not found for globex.
        w.get(&globex, &format!("/api/accounting/journal-entries/{id}"))
            .await
            .expect(404);
        w.post(
            &globex,
            &format!("/api/accounting/journal-entries/{id}/reverse"),
            json!({}),
        )
        .await
        .expect(404);
        w.get(&globex, &format!("/api/accounting/transactions/{tx_id}"))
            .await
            .expect(404);
        let shown = w
            .get(&acme, &format!("/api/accounting/journal-entries/{id}"))
            .await
            .expect(200)
            .json;
        assert!(shown["entry"]["reversed_by"].is_null(), "{name}: {shown}");

        // Globex renames its own 1000 and closes its own month: acme's
        // account and period are untouched.
        w.app
            .http
            .put("/api/accounting/accounts/1000")
            .bearer(&token(&globex, Role::Admin))
            .json(json!({"name": "Petty cash"}))
            .send()
            .await
            .expect(200);
        let a1000 = w
            .get(&acme, "/api/accounting/accounts/1000")
            .await
            .expect(200)
            .json;
        assert_eq!(a1000["account"]["name"], "Cash", "{name}");
        w.post(
            &globex,
            &format!("/api/accounting/periods/{period}/close"),
            json!({}),
        )
        .await
        .expect(200);
        w.entry(&acme, &day, "6200", "1000", "40.00")
            .await
            .expect(201);
        w.entry(&globex, &day, "6200", "1000", "40.00")
            .await
            .expect(409);
        let periods = w
            .get(&acme, "/api/accounting/periods")
            .await
            .expect(200)
            .json;
        assert_eq!(periods["periods"][0]["status"], "open", "{name}: {periods}");

        // Globex's lists and reports know nothing of acme's postings.
        let list = w
            .get(&globex, "/api/accounting/journal-entries")
            .await
            .expect(200)
            .json;
        assert_eq!(list["total"], 0, "{name}");
        let list = w
            .get(&globex, "/api/accounting/transactions")
            .await
            .expect(200)
            .json;
        assert_eq!(list["total"], 0, "{name}: {list}");
        let balance = w
            .get(&globex, "/api/accounting/balance")
            .await
            .expect(200)
            .json;
        assert_eq!(balance["expense"], "0.00", "{name}");

        // An event carrying globex posts in globex only, even for the
        // order reference acme has too.
        publish(&w.shop, &acme, "shop.order.paid", order("o-9", "USD")).await;
        let (before, _, _) = w.trial_balance(&acme, &day).await;
        w.post(
            &globex,
            &format!("/api/accounting/periods/{period}/reopen"),
            json!({}),
        )
        .await
        .expect(200);
        publish(&w.shop, &globex, "shop.order.paid", order("o-9", "USD")).await;
        let (after, _, _) = w.trial_balance(&acme, &day).await;
        assert_eq!(before, after, "{name}: acme's books moved");
        let (g, totals, _) = w.trial_balance(&globex, &day).await;
        // Cash 108.25 Dr; Sales 100.00 Cr; Tax 8.25 Cr.
        assert_eq!(
            g,
            rows(&[
                ("1000", "108.25", "0.00"),
                ("2100", "0.00", "8.25"),
                ("4000", "0.00", "100.00"),
            ]),
            "{name}"
        );
        assert_eq!(totals, ("108.25".into(), "108.25".into()));
        w.app.assert_consistent().await;
    }
}

#[tokio::test]
async fn the_same_codes_and_keys_serve_both_tenants() {
    for backend in backends() {
        let name = backend.name();
        let w = world(&backend).await;
        let (day, _) = today();
        let acme = create_tenant(&w, "acme", "USD").await;
        let globex = create_tenant(&w, "globex", "USD").await;
        for t in [&acme, &globex] {
            w.post(
                t,
                "/api/accounting/accounts",
                json!({"code": "7000", "name": "Research", "type": "expense"}),
            )
            .await
            .expect(201);
        }
        // The same user, the same Idempotency-Key: one posting per tenant,
        // not a replay of the other's.
        let mut ids = Vec::new();
        for t in [&acme, &globex] {
            let res = w
                .app
                .http
                .post("/api/accounting/journal-entries")
                .bearer(&token(t, Role::Admin))
                .header("Idempotency-Key", "same-key-1")
                .json(json!({"date": day, "description": "r&d", "lines": [
                    {"account": "7000", "debit": "25.00"}, {"account": "1000", "credit": "25.00"}]}))
                .send()
                .await
                .expect(201);
            assert!(res.header("idempotent-replayed").is_none(), "{name}");
            ids.push(res.json["entry"]["id"].as_str().unwrap().to_owned());
        }
        assert_ne!(ids[0], ids[1], "{name}");
        for t in [&acme, &globex] {
            let (rows_t, _, _) = w.trial_balance(t, &day).await;
            assert_eq!(
                rows_t,
                rows(&[("1000", "0.00", "25.00"), ("7000", "25.00", "0.00")]),
                "{name}"
            );
        }
    }
}

#[tokio::test]
async fn row_policies_hide_other_tenants_rows_from_unfiltered_queries() {
    let Some(backend) = marimo_testkit::postgres() else {
        return;
    };
    let w = world(&backend).await;
    let (day, _) = today();
    let acme = create_tenant(&w, "acme", "USD").await;
    let globex = create_tenant(&w, "globex", "USD").await;
    w.entry(&acme, &day, "1000", "3000", "500.00")
        .await
        .expect(201);
    w.entry(&globex, &day, "1000", "3000", "700.00")
        .await
        .expect(201);
    w.entry(&globex, &day, "6200", "1000", "70.00")
        .await
        .expect(201);

    // An application role that is not a superuser (superusers bypass
    // every policy), with every right on the service's tables.
    let role = AppRole::connect(&w.app.ctx.settings.database, "accounting").await;
    let app = &role.db;

    // Deliberately no tenant filter: only the policy filters.
    let mut tx = app.tenant(&acme).read().await.unwrap();
    let totals: Vec<i64> = sqlx::query_scalar("SELECT total FROM journal_entries ORDER BY total")
        .fetch_all(&mut *tx)
        .await
        .unwrap();
    assert_eq!(totals, [50000]);
    let lines: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM journal_lines")
        .fetch_one(&mut *tx)
        .await
        .unwrap();
    assert_eq!(lines, 2);
    let cash: i64 = sqlx::query_scalar(
        "SELECT CAST(SUM(debit) - SUM(credit) AS BIGINT) FROM account_balances WHERE account_code = '1000'",
    )
    .fetch_one(&mut *tx)
    .await
    .unwrap();
    assert_eq!(cash, 50000);
    let tenants: Vec<String> = sqlx::query_scalar("SELECT DISTINCT tenant_id FROM accounts")
        .fetch_all(&mut *tx)
        .await
        .unwrap();
    assert_eq!(tenants, [acme.to_string()]);
    drop(tx);
    let mut tx = app.tenant(&globex).read().await.unwrap();
    let totals: Vec<i64> = sqlx::query_scalar("SELECT total FROM journal_entries ORDER BY total")
        .fetch_all(&mut *tx)
        .await
        .unwrap();
    assert_eq!(totals, [7000, 70000]);
    drop(tx);

    // Without a tenant: no ledger rows at all.
    let none: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM accounts")
        .fetch_one(app.pool())
        .await
        .unwrap();
    assert_eq!(none, 0);
    // A row of another tenant cannot be written from acme's transaction.
    let mut tx = app.tenant(&acme).begin().await.unwrap();
    let foreign = sqlx::query(
        "INSERT INTO periods (tenant_id, period, status, updated_at) VALUES ($1, '2030-01', 'closed', 'x')",
    )
    .bind(globex.as_str())
    .execute(&mut *tx)
    .await;
    assert!(foreign.is_err(), "a row of another tenant was written");
    drop(tx);
    // The append-only triggers still hold on the rebuilt tables.
    let mut tx = app.tenant(&acme).begin().await.unwrap();
    let edited = sqlx::query("UPDATE journal_lines SET debit = debit + 1 WHERE debit > 0")
        .execute(&mut *tx)
        .await;
    assert!(edited.is_err(), "a posted line was edited");
    drop(tx);

    role.drop_role().await;
}

/// How many events the accounting queue has applied.
async fn processed(w: &World) -> i64 {
    sqlx::query_scalar("SELECT COUNT(*) FROM processed_events WHERE consumer = 'accounting'")
        .fetch_one(w.app.ctx.db().pool())
        .await
        .unwrap()
}

/// Tenant `t`'s income statement up to `to`, from its default start.
async fn income_statement(w: &World, t: &TenantId, to: &str) -> Value {
    w.get(
        t,
        &format!("/api/v1/accounting/reports/income-statement?to={to}"),
    )
    .await
    .expect(200)
    .json
}

/// The entry number an entry of `date` gets in tenant `t` (Dr cash, Cr
/// revenue, `amount`).
async fn number_of(w: &World, t: &TenantId, date: &str, amount: &str) -> String {
    let res = w.entry(t, date, "1000", "4000", amount).await.expect(201);
    res.json["entry"]["number"].as_str().unwrap().to_owned()
}

#[tokio::test]
async fn a_tenant_whose_fiscal_year_starts_in_april_numbers_and_reports_by_it() {
    for backend in backends() {
        let name = backend.name();
        let w = world(&backend).await;
        let april = create_tenant_starting(&w, "april", "USD", 4).await;
        // FY 2026 = 2026-04-01 ..= 2027-03-31; FY 2027 starts 2027-04-01.
        assert_eq!(
            number_of(&w, &april, "2027-03-31", "10.00").await,
            "JE-2026-000001",
            "{name}"
        );
        assert_eq!(
            number_of(&w, &april, "2027-04-01", "20.00").await,
            "JE-2027-000001",
            "{name}"
        );
        assert_eq!(
            number_of(&w, &april, "2027-01-15", "30.00").await,
            "JE-2026-000002",
            "{name}"
        );
        // The default tenant keeps the calendar year.
        let default = TenantId::default_tenant();
        let n = number_of(&w, &default, "2027-03-31", "1.00").await;
        assert!(n.starts_with("JE-2027-"), "{name}: {n}");

        // The income statement's year to date starts with the fiscal
        // year: to 2027-05-31 it covers only the 20.00 of 2027-04-01.
        let is = income_statement(&w, &april, "2027-05-31").await;
        assert_eq!(is["from"], "2027-04-01", "{name}");
        assert_eq!(is["total_revenue"], "20.00", "{name}: {is}");
        let is = income_statement(&w, &april, "2027-03-31").await;
        // FY 2026 so far: 10.00 + 30.00 = 40.00.
        assert_eq!(is["from"], "2026-04-01", "{name}");
        assert_eq!(is["total_revenue"], "40.00", "{name}: {is}");
        let is = income_statement(&w, &default, "2027-05-31").await;
        assert_eq!(is["from"], "2027-01-01", "{name}");
    }
}

#[tokio::test]
async fn tenant_updated_changes_fiscal_start_and_currency_only_while_the_ledger_is_empty() {
    for backend in backends() {
        let name = backend.name();
        let w = world(&backend).await;
        let july = create_tenant(&w, "july", "USD").await;
        let update = |currency: &str, month: u8| {
            json!({"tenant_id": july.as_str(), "slug": "july", "name": "July Ltd",
                   "currency": currency, "fiscal_year_start_month": month})
        };
        // Empty ledger: both apply.
        let before = processed(&w).await;
        publish(&w.users, &july, "users.tenant.updated", update("EUR", 7)).await;
        eventually("the update consumed", || async {
            processed(&w).await > before
        })
        .await;
        assert_eq!(
            w.trial_balance(&july, "2027-12-31").await.2,
            "EUR",
            "{name}"
        );
        // 2027-06-30 is in the year that started 2026-07-01.
        assert_eq!(
            number_of(&w, &july, "2027-06-30", "5.00").await,
            "JE-2026-000001",
            "{name}"
        );
        assert_eq!(
            number_of(&w, &july, "2027-07-01", "5.00").await,
            "JE-2027-000001",
            "{name}"
        );

        // Posted entries: neither changes (refusals are logged).
        let before = processed(&w).await;
        publish(&w.users, &july, "users.tenant.updated", update("GBP", 1)).await;
        eventually("the update consumed", || async {
            processed(&w).await > before
        })
        .await;
        assert_eq!(
            number_of(&w, &july, "2027-06-29", "5.00").await,
            "JE-2026-000002",
            "{name}"
        );
        assert_eq!(
            w.trial_balance(&july, "2027-12-31").await.2,
            "EUR",
            "{name}"
        );

        // An update naming another tenant than it travels in is refused.
        let other = TenantId::generate();
        publish(&w.users, &other, "users.tenant.updated", update("JPY", 3)).await;
        eventually("the foreign update dead-lettered", || async {
            sqlx::query_scalar::<_, i64>(
                "SELECT COUNT(*) FROM dead_letters WHERE event_type = 'users.tenant.updated'",
            )
            .fetch_one(w.app.ctx.db().pool())
            .await
            .unwrap()
                == 1
        })
        .await;
        assert_eq!(
            w.trial_balance(&july, "2027-12-31").await.2,
            "EUR",
            "{name}"
        );
    }
}

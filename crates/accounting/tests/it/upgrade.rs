//! The upgrade path of issue 19: books kept by the schema from before
//! tenancy are taken over by the current service and become the
//! `default` tenant's: the original clients (default-tenant tokens) read
//! the same entries and balances, numbering carries on where it stopped,
//! the posted facts stay immutable, and another tenant sees none of it.

use marimo_platform::{
    auth::{Role, jwt::Identity},
    bus::Bus,
    service::ServiceName,
    tenant::TenantId,
};
use marimo_testkit::{backends, context_on, sign};
use sqlx::migrate::Migrator;

use crate::support::{app_on, simple};

/// The ledger's migrations as this build knows them.
static MIGRATOR: Migrator = sqlx::migrate!();

/// The first migration of tenancy: the old schema is everything before.
const TENANCY: i64 = 20261203000001;

const ENTRY: &str = "0193a0c0-0000-7000-8000-0000000000e1";

/// The old books: USD, cash and revenue, November 2026 open, and one
/// entry JE-2026-000001 of 50.00 (Dr 1000 Cash / Cr 4000 Sales revenue)
/// with its monthly balances, as the old code wrote them.
const OLD_ROWS: &[&str] = &[
    "INSERT INTO ledger_settings (name, value, updated_at) VALUES ('currency', 'USD', '2026-11-01T00:00:00.000000Z')",
    "INSERT INTO accounts (code, name, account_type, parent_code, active, created_at, updated_at)
     VALUES ('1000', 'Cash', 'asset', NULL, 1, '2026-11-01T00:00:00.000000Z', '2026-11-01T00:00:00.000000Z')",
    "INSERT INTO accounts (code, name, account_type, parent_code, active, created_at, updated_at)
     VALUES ('4000', 'Sales revenue', 'revenue', NULL, 1, '2026-11-01T00:00:00.000000Z', '2026-11-01T00:00:00.000000Z')",
    "INSERT INTO periods (period, status, updated_at, updated_by) VALUES ('2026-11', 'open', '2026-11-01T00:00:00.000000Z', NULL)",
    "INSERT INTO entry_counters (fiscal_year, next) VALUES (2026, 1)",
    "INSERT INTO journal_entries (id, number, fiscal_year, seq, entry_date, period, description, reference,
                                  source, reverses_id, currency, total, created_by, created_at)
     VALUES ('0193a0c0-0000-7000-8000-0000000000e1', 'JE-2026-000001', 2026, 1, '2026-11-30', '2026-11',
             'Before tenancy', NULL, 'api', NULL, 'USD', 5000, 'old-user', '2026-11-30T10:00:00.000000Z')",
    "INSERT INTO journal_lines (entry_id, line_no, account_code, debit, credit, memo, entry_date)
     VALUES ('0193a0c0-0000-7000-8000-0000000000e1', 1, '1000', 5000, 0, NULL, '2026-11-30')",
    "INSERT INTO journal_lines (entry_id, line_no, account_code, debit, credit, memo, entry_date)
     VALUES ('0193a0c0-0000-7000-8000-0000000000e1', 2, '4000', 0, 5000, NULL, '2026-11-30')",
    "INSERT INTO account_balances (account_code, period, debit, credit) VALUES ('1000', '2026-11', 5000, 0)",
    "INSERT INTO account_balances (account_code, period, debit, credit) VALUES ('4000', '2026-11', 0, 5000)",
];

#[tokio::test]
async fn books_from_before_tenancy_become_the_default_tenants() {
    for backend in backends() {
        let name = backend.name();
        let settings = backend.settings(&[]).await;
        {
            let old = context_on(ServiceName::Accounting, settings.clone(), Bus::embedded()).await;
            let db = old.db().clone();
            let before = Migrator::with_migrations(
                MIGRATOR
                    .iter()
                    .filter(|m| m.version < TENANCY)
                    .cloned()
                    .collect(),
            );
            db.migrate(&before).await.unwrap();
            for sql in OLD_ROWS {
                sqlx::query(*sql)
                    .execute(db.pool())
                    .await
                    .unwrap_or_else(|e| panic!("{name}: {sql}: {e}"));
            }
        }

        // The current service takes the database over.
        let app = app_on(&backend, Bus::embedded(), settings).await;
        let pool = app.ctx.db().pool();
        let tenants: Vec<String> = sqlx::query_scalar(
            "SELECT DISTINCT tenant_id FROM journal_entries
             UNION SELECT DISTINCT tenant_id FROM journal_lines
             UNION SELECT DISTINCT tenant_id FROM account_balances
             UNION SELECT DISTINCT tenant_id FROM entry_counters",
        )
        .fetch_all(pool)
        .await
        .unwrap();
        assert_eq!(tenants, ["default"], "{name}");

        // The original client reads the entry and the balances.
        let entry = app
            .get(&format!("/api/accounting/journal-entries/{ENTRY}"))
            .await
            .expect(200);
        assert_eq!(entry.json["entry"]["number"], "JE-2026-000001", "{name}");
        assert_eq!(entry.json["entry"]["total"], "50.00", "{name}");
        let tb = app
            .get("/api/accounting/reports/trial-balance?as_of=2026-12-31")
            .await
            .expect(200);
        assert_eq!(tb.json["total_debit"], "50.00", "{name}: {}", tb.json);
        assert_eq!(tb.json["total_credit"], "50.00", "{name}");
        assert_eq!(tb.json["currency"], "USD", "{name}");

        // Numbering carries on in the old year's counter; the calendar year
        // stays the default tenant's fiscal year.
        let next = app
            .post(simple("2026-11-30", "1000", "4000", "10.00"))
            .await
            .expect(201);
        assert_eq!(next.json["entry"]["number"], "JE-2026-000002", "{name}");

        // The old facts are as immutable as new ones.
        let res = sqlx::query("UPDATE journal_entries SET description = 'tampered'")
            .execute(pool)
            .await;
        assert!(res.is_err(), "{name}: an old entry was changed");

        // Another tenant sees none of it.
        let other = sign(&Identity {
            user_id: "acct-user".into(),
            email: "acct-user@example.com".into(),
            role: Role::Accountant,
            tenant: TenantId::generate(),
        });
        app.http
            .get(&format!("/api/accounting/journal-entries/{ENTRY}"))
            .bearer(&other)
            .send()
            .await
            .expect(404);
    }
}

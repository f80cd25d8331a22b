//! Ledger benchmark: posting throughput, and report latency over a large
//! journal. Not a test: it prints numbers.
//!
//! ```sh
//! CARGO_TARGET_DIR=... cargo run --release -p marimo-accounting --example ledger_bench
//! # PostgreSQL too:
//! MARIMO_TEST_DATABASE_URL=postgres://postgres@127.0.0.1:5432/postgres cargo run --release ...
//! # smaller/larger: LINES=200000 POSTINGS=1000 CONCURRENCY=16
//! # PostgreSQL as an ordinary role, so that the row policies apply
//! # (superusers bypass them): APP_ROLE=1
//! ```
//!
//! 1. Postings per second through the HTTP API (`POSTINGS` two-line
//!    entries, `CONCURRENCY` clients), and through the ledger's posting
//!    path directly (one transaction per entry, no HTTP).
//! 2. Bulk load up to `LINES` journal lines through the same posting path,
//!    batched many entries per transaction (same checks, numbers and
//!    monthly balances; no outbox events), spread over 24 months.
//! 3. Report latency (median of 5) over that journal: trial balance and
//!    balance sheet at a month end (balances only) and mid-month (plus one
//!    partial month of lines), an income statement with partial months at
//!    both ends, a ledger page, the dashboard summary.

// A benchmark reports its numbers on stdout.
#![allow(clippy::print_stdout)]

use std::time::{Duration, Instant};

use marimo_accounting::domain::{
    calendar::Period,
    entry::{Draft, DraftLine},
};
use marimo_platform::{
    auth::{JwtKeys, Role, jwt::Identity},
    config::DatabaseConfig,
    service::ServiceName,
};
use marimo_testkit::{Backend, TEST_JWT_SECRET};
use serde_json::json;

fn env_usize(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// A small deterministic generator (xorshift), so runs are comparable.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

const ACCOUNTS: &[&str] = &[
    "1000", "1010", "1100", "1200", "1210", "1220", "2000", "2100", "3000", "4000", "4100", "4900",
    "5000", "6000", "6100", "6200", "6300", "6400", "6500", "6600", "6700",
];

fn day_in(rng: &mut Rng, first: Period, months: u64) -> time::Date {
    let mut p = first;
    for _ in 0..rng.below(months) {
        p = p.next();
    }
    let days = (p.last_day().day() - p.first_day().day() + 1) as u64;
    p.first_day() + time::Duration::days(rng.below(days) as i64)
}

fn amount(rng: &mut Rng) -> i64 {
    1 + rng.below(500_000) as i64
}

async fn median(mut f: impl AsyncFnMut() -> ()) -> Duration {
    let mut times = Vec::new();
    for _ in 0..5 {
        let t = Instant::now();
        f().await;
        times.push(t.elapsed());
    }
    times.sort();
    times[2]
}

fn ms(d: Duration) -> String {
    format!("{:.1} ms", d.as_secs_f64() * 1000.0)
}

/// `url` signing in as `user` instead.
fn as_user(url: &str, user: &str) -> String {
    let start = url.find("://").map_or(0, |i| i + 3);
    let rest = &url[start..];
    let host = rest.find('@').map_or(rest, |at| &rest[at + 1..]);
    format!("{}{user}@{host}", &url[..start])
}

async fn run(backend: &Backend) -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
    let postings = env_usize("POSTINGS", 2000);
    let concurrency = env_usize("CONCURRENCY", 16);
    let target_lines = env_usize("LINES", 1_000_000);
    println!("== {} ==", backend.name());

    let mut settings = backend.settings(&[]).await;
    let database = settings.database.clone();
    // With APP_ROLE=1 on PostgreSQL, the service runs as an ordinary role
    // (as in production): the schema is prepared as the owner first, then
    // every query of the benchmark passes the row policies.
    let app_role = match &database {
        DatabaseConfig::Postgres { url } if std::env::var("APP_ROLE").is_ok_and(|v| v == "1") => {
            let owner = marimo_testkit::context(ServiceName::Accounting, settings.clone()).await;
            marimo_accounting::start(&owner).await?;
            let role = format!(
                "marimo_bench_{}",
                marimo_platform::ids::new_id().replace('-', "")[..12].to_owned()
            );
            sqlx::raw_sql(sqlx::AssertSqlSafe(format!(
                "CREATE ROLE {role} LOGIN;
                 GRANT USAGE ON SCHEMA accounting TO {role};
                 GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA accounting TO {role};"
            )))
            .execute(owner.db().pool())
            .await?;
            owner.shutdown.cancel();
            owner.db().close().await;
            settings.database = DatabaseConfig::Postgres {
                url: as_user(url, &role),
            };
            println!("(as the ordinary role {role}: row policies apply)");
            Some(role)
        }
        _ => None,
    };
    let ctx = marimo_testkit::context(ServiceName::Accounting, settings).await;
    let router = marimo_accounting::router(ctx.clone()).await?;
    let ledger = marimo_accounting::start(&ctx).await?;
    let server = marimo_testkit::spawn(router).await;
    // The default tenant's books, as every posting below.
    let tenant = marimo_platform::tenant::TenantId::default_tenant();
    let count = async |sql: &'static str| -> Result<i64, sqlx::Error> {
        let mut tx = ctx.db().tenant(&tenant).read().await?;
        sqlx::query_scalar(sql).fetch_one(&mut *tx).await
    };
    let token = JwtKeys::new(TEST_JWT_SECRET.as_bytes())
        .issue(&Identity {
            user_id: "bench".into(),
            email: "bench@example.com".into(),
            role: Role::Accountant,
            tenant: Default::default(),
        })
        .0;

    // 1a. HTTP postings.
    let start = Instant::now();
    let mut clients = Vec::new();
    for c in 0..concurrency {
        let http = server.http.clone();
        let token = token.clone();
        let n = postings / concurrency + usize::from(c < postings % concurrency);
        clients.push(tokio::spawn(async move {
            let mut rng = Rng(0x9E37_79B9_7F4A_7C15 ^ (c as u64 + 1));
            for _ in 0..n {
                let d = ACCOUNTS[rng.below(ACCOUNTS.len() as u64) as usize];
                let mut k = ACCOUNTS[rng.below(ACCOUNTS.len() as u64) as usize];
                if k == d {
                    k = "1000";
                }
                let amt = format!("{}.{:02}", rng.below(10_000) + 1, rng.below(100));
                let date = format!("2027-{:02}-{:02}", rng.below(12) + 1, rng.below(28) + 1);
                http.post("/api/accounting/journal-entries")
                    .bearer(&token)
                    .json(json!({"date": date, "description": "bench", "lines": [
                        {"account": d, "debit": amt}, {"account": k, "credit": amt}]}))
                    .send()
                    .await
                    .expect(201);
            }
        }));
    }
    for c in clients {
        c.await?;
    }
    let elapsed = start.elapsed();
    println!(
        "HTTP API postings: {postings} entries, {concurrency} clients: {:.0} postings/s ({})",
        postings as f64 / elapsed.as_secs_f64(),
        ms(elapsed)
    );

    // 1b. The posting path directly, one transaction per entry.
    let mut rng = Rng(42);
    let start = Instant::now();
    let n = postings;
    for _ in 0..n {
        let a = amount(&mut rng);
        let draft = Draft {
            date: day_in(&mut rng, Period::parse("2028-01")?, 12),
            description: "bench".into(),
            reference: None,
            lines: vec![DraftLine::debit("1000", a), DraftLine::credit("4000", a)],
        };
        marimo_accounting::bulk_post(&ledger, &tenant, std::slice::from_ref(&draft)).await?;
    }
    let elapsed = start.elapsed();
    println!(
        "posting path (no HTTP, 1 entry per transaction): {:.0} postings/s",
        n as f64 / elapsed.as_secs_f64()
    );

    // 2. Bulk load to LINES lines over 2025-01 .. 2026-12.
    let existing = count("SELECT COUNT(*) FROM journal_lines").await?;
    let mut lines = existing as usize;
    let start = Instant::now();
    let first = Period::parse("2025-01")?;
    while lines < target_lines {
        let mut batch = Vec::with_capacity(1000);
        while batch.len() < 1000 && lines < target_lines {
            // 2 to 4 lines: a debit split over up to three accounts.
            let parts = 1 + rng.below(3) as usize;
            let mut ls = Vec::with_capacity(parts + 1);
            let mut total = 0;
            for _ in 0..parts {
                let a = amount(&mut rng);
                total += a;
                ls.push(DraftLine::debit(
                    ACCOUNTS[rng.below(ACCOUNTS.len() as u64) as usize],
                    a,
                ));
            }
            ls.push(DraftLine::credit(
                ACCOUNTS[rng.below(ACCOUNTS.len() as u64) as usize],
                total,
            ));
            lines += ls.len();
            batch.push(Draft {
                date: day_in(&mut rng, first, 24),
                description: "bulk".into(),
                reference: None,
                lines: ls,
            });
        }
        marimo_accounting::bulk_post(&ledger, &tenant, &batch).await?;
    }
    let elapsed = start.elapsed();
    println!(
        "bulk load: {} lines in {:.1} s ({:.0} lines/s)",
        lines - existing as usize,
        elapsed.as_secs_f64(),
        (lines - existing as usize) as f64 / elapsed.as_secs_f64()
    );
    if ctx.db().kind() == marimo_platform::db::DbKind::Postgres {
        sqlx::query("ANALYZE").execute(ctx.db().pool()).await?;
    }
    let total_lines = count("SELECT COUNT(*) FROM journal_lines").await?;
    let balance_rows = count("SELECT COUNT(*) FROM account_balances").await?;
    println!("journal: {total_lines} lines, {balance_rows} monthly balance rows");

    // 1c. The posting path again, on the large journal.
    let start = Instant::now();
    for _ in 0..n {
        let a = amount(&mut rng);
        let draft = Draft {
            date: day_in(&mut rng, Period::parse("2026-01")?, 12),
            description: "bench".into(),
            reference: None,
            lines: vec![DraftLine::debit("1000", a), DraftLine::credit("4000", a)],
        };
        marimo_accounting::bulk_post(&ledger, &tenant, std::slice::from_ref(&draft)).await?;
    }
    let elapsed = start.elapsed();
    println!(
        "posting path on the large journal (1 entry per transaction): {:.0} postings/s",
        n as f64 / elapsed.as_secs_f64()
    );

    // 3. Reports.
    let get = |path: String| {
        let http = server.http.clone();
        let token = token.clone();
        async move {
            let res = http.get(&path).bearer(&token).send().await.expect(200);
            res.json
        }
    };
    let tb = get("/api/accounting/reports/trial-balance?as_of=2026-12-31".into()).await;
    assert_eq!(tb["total_debit"], tb["total_credit"]);
    let bs = get("/api/accounting/reports/balance-sheet?as_of=2026-06-15".into()).await;
    assert_eq!(bs["balanced"], true);
    println!(
        "trial balance total: {} = {}",
        tb["total_debit"], tb["total_credit"]
    );
    for (label, path) in [
        (
            "trial balance, month end",
            "/api/accounting/reports/trial-balance?as_of=2026-12-31",
        ),
        (
            "trial balance, mid-month",
            "/api/accounting/reports/trial-balance?as_of=2026-06-15",
        ),
        (
            "balance sheet, month end",
            "/api/accounting/reports/balance-sheet?as_of=2026-12-31",
        ),
        (
            "balance sheet, mid-month",
            "/api/accounting/reports/balance-sheet?as_of=2026-06-15",
        ),
        (
            "income statement, partial months",
            "/api/accounting/reports/income-statement?from=2025-03-10&to=2026-09-20",
        ),
        (
            "trial balance CSV, mid-month",
            "/api/accounting/reports/trial-balance?as_of=2026-06-15&format=csv",
        ),
        (
            "ledger page (1000 lines)",
            "/api/accounting/accounts/1000/ledger?from=2026-01-01&to=2026-12-31&limit=1000&page=3",
        ),
        ("dashboard summary", "/api/accounting/summary"),
    ] {
        let t = median(async || {
            get(path.to_owned()).await;
        })
        .await;
        println!("{label}: {}", ms(t));
    }

    // Clean up the large database.
    drop(server);
    ctx.shutdown.cancel();
    ctx.db().close().await;
    match database {
        DatabaseConfig::Sqlite { dir } => {
            let _ = std::fs::remove_dir_all(dir);
        }
        DatabaseConfig::Postgres { url } => {
            if let (Some(name), Ok(server_url)) = (
                url.rsplit('/')
                    .next()
                    .map(|s| s.split('?').next().unwrap_or(s).to_owned()),
                std::env::var("MARIMO_TEST_DATABASE_URL"),
            ) {
                use sqlx::Connection;
                let mut conn = sqlx::AnyConnection::connect(&server_url).await?;
                let drop_db = format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)");
                sqlx::query(sqlx::AssertSqlSafe(drop_db))
                    .execute(&mut conn)
                    .await?;
                if let Some(role) = &app_role {
                    let drop_role = format!("DROP ROLE IF EXISTS {role}");
                    sqlx::query(sqlx::AssertSqlSafe(drop_role))
                        .execute(&mut conn)
                        .await?;
                }
            }
        }
    }
    Ok(())
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
    // BENCH_LOG=sqlx=debug shows each statement with its time.
    if let Ok(filter) = std::env::var("BENCH_LOG") {
        marimo_platform::telemetry::init_logging(
            &filter,
            marimo_platform::config::LogFormat::Pretty,
        );
    }
    for backend in marimo_testkit::backends() {
        run(&backend).await?;
    }
    Ok(())
}

//! The database itself refuses to change posted facts, on both backends.

use marimo_testkit::backends;

use crate::support::{app, simple};

#[tokio::test]
async fn direct_sql_cannot_update_or_delete_posted_records() {
    for backend in backends() {
        let app = app(&backend).await;
        let posted = app
            .post(simple("2026-04-01", "1000", "4000", "25"))
            .await
            .expect(201);
        let id = posted.json["entry"]["id"].as_str().unwrap().to_owned();
        app.http
            .post(&format!("/api/accounting/journal-entries/{id}/reverse"))
            .bearer(&crate::support::accountant())
            .send()
            .await
            .expect(201);
        let pool = app.ctx.db().pool();
        for sql in [
            "UPDATE journal_entries SET description = 'tampered'",
            "UPDATE journal_entries SET total = total + 1",
            "DELETE FROM journal_entries",
            "UPDATE journal_lines SET debit = debit + 100 WHERE debit > 0",
            "UPDATE journal_lines SET account_code = '1010' WHERE account_code = '1000'",
            "DELETE FROM journal_lines",
            "DELETE FROM reversals",
            "UPDATE reversals SET created_at = 'x'",
            "UPDATE account_balances SET debit = 0",
            "DELETE FROM account_balances",
        ] {
            let res = sqlx::query(sql).execute(pool).await;
            let err = res.expect_err(&format!("{}: {sql} was accepted", backend.name()));
            let text = err.to_string();
            assert!(
                text.contains("immutable") || text.contains("only grow"),
                "{}: {sql}: {text}",
                backend.name()
            );
        }
        if backend.name() == "postgres" {
            for sql in [
                "TRUNCATE journal_lines CASCADE",
                "TRUNCATE account_balances",
            ] {
                assert!(sqlx::query(sql).execute(pool).await.is_err(), "{sql}");
            }
        }
        assert_eq!(app.scalar("SELECT COUNT(*) FROM journal_entries").await, 2);
        assert_eq!(app.scalar("SELECT COUNT(*) FROM journal_lines").await, 4);
        let desc: String =
            sqlx::query_scalar("SELECT description FROM journal_entries WHERE id = $1")
                .bind(&id)
                .fetch_one(pool)
                .await
                .unwrap();
        assert_ne!(desc, "tampered");
        app.assert_consistent().await;
        // Posting still works: balance rows may grow.
        app.post(simple("2026-04-02", "1000", "4000", "1"))
            .await
            .expect(201);
        app.assert_consistent().await;
    }
}

#[tokio::test]
async fn the_guards_survive_a_restart() {
    for backend in backends() {
        let settings = backend.settings(&[]).await;
        for round in 0..2 {
            // Same database, started twice: migrations, triggers and seeds
            // are idempotent, and the second start leaves data alone.
            let ctx = marimo_testkit::context(
                marimo_platform::service::ServiceName::Accounting,
                settings.clone(),
            )
            .await;
            let server = marimo_testkit::spawn(
                marimo_accounting::router(ctx.clone())
                    .await
                    .expect("starts"),
            )
            .await;
            server
                .http
                .post("/api/accounting/journal-entries")
                .bearer(&crate::support::accountant())
                .json(simple("2026-04-01", "1000", "4000", "25"))
                .send()
                .await
                .expect(201);
            let pool = ctx.db().pool();
            let n: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM accounts")
                .fetch_one(pool)
                .await
                .unwrap();
            assert_eq!(
                n,
                marimo_accounting::domain::accounts::DEFAULT_CHART.len() as i64
            );
            let entries: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM journal_entries")
                .fetch_one(pool)
                .await
                .unwrap();
            assert_eq!(entries, round + 1);
            assert!(
                sqlx::query("DELETE FROM journal_lines")
                    .execute(pool)
                    .await
                    .is_err(),
                "{}: round {round}",
                backend.name()
            );
        }
    }
}

//! Posting, validation, numbering under concurrency, idempotency,
//! reversals.

use std::collections::BTreeSet;

use marimo_testkit::backends;
use reqwest::Method;
use serde_json::json;

use crate::support::{accountant, app, simple};

#[tokio::test]
async fn a_balanced_entry_posts_and_reads_back() {
    for backend in backends() {
        let app = app(&backend).await;
        let res = app
            .post(json!({
                "date": "2026-03-15",
                "description": "Owner invests",
                "reference": "DEP-1",
                "lines": [
                    {"account": "1010", "debit": 1500.25, "memo": "wire"},
                    {"account": "3000", "credit": "1500.25"}
                ]
            }))
            .await
            .expect(201);
        let e = &res.json["entry"];
        assert_eq!(res.json["success"], true);
        assert_eq!(e["number"], "JE-2026-000001", "{}", backend.name());
        assert_eq!(e["total"], "1500.25");
        assert_eq!(e["status"], "posted");
        assert_eq!(e["lines"][0]["debit"], "1500.25");
        assert_eq!(e["lines"][0]["credit"], "0.00");
        assert_eq!(e["lines"][0]["memo"], "wire");
        assert_eq!(e["lines"][1]["account_name"], "Owner's equity");
        assert_eq!(e["created_by"], "accountant-user");
        let id = e["id"].as_str().unwrap();

        let got = app
            .get(&format!("/api/accounting/journal-entries/{id}"))
            .await
            .expect(200);
        assert_eq!(got.json["entry"], *e);

        let list = app
            .get("/api/accounting/journal-entries?reference=DEP-1")
            .await
            .expect(200);
        assert_eq!(list.json["total"], 1);
        assert_eq!(list.json["entries"][0]["id"], id);
        let by_account = app
            .get("/api/accounting/journal-entries?account=3000&from=2026-03-01&to=2026-03-31")
            .await
            .expect(200);
        assert_eq!(by_account.json["total"], 1);
        let none = app
            .get("/api/accounting/journal-entries?account=4000")
            .await
            .expect(200);
        assert_eq!(none.json["total"], 0);
        let outside = app
            .get("/api/accounting/journal-entries?from=2026-04-01")
            .await
            .expect(200);
        assert_eq!(outside.json["total"], 0);

        // A second year starts its own sequence.
        let next = app
            .post(simple("2027-01-02", "1000", "1010", "1"))
            .await
            .expect(201);
        assert_eq!(next.json["entry"]["number"], "JE-2027-000001");
        let again = app
            .post(simple("2026-12-31", "1000", "1010", "1"))
            .await
            .expect(201);
        assert_eq!(again.json["entry"]["number"], "JE-2026-000002");
        app.assert_consistent().await;
    }
}

#[tokio::test]
async fn invalid_entries_are_rejected_and_change_nothing() {
    for backend in backends() {
        let app = app(&backend).await;
        let line = |a: &str, side: &str, amt: serde_json::Value| json!({"account": a, side: amt});
        let cases = vec![
            (
                json!({"date": "2026-01-05", "description": "one line", "lines": [line("1000", "debit", json!("5"))]}),
                400,
                "VALIDATION_ERROR",
            ),
            (
                json!({"date": "2026-01-05", "description": "both sides", "lines": [{"account": "1000", "debit": "5", "credit": "5"}, line("4000", "credit", json!("5"))]}),
                400,
                "VALIDATION_ERROR",
            ),
            (
                json!({"date": "2026-01-05", "description": "negative", "lines": [line("1000", "debit", json!("-5")), line("4000", "credit", json!("-5"))]}),
                400,
                "VALIDATION_ERROR",
            ),
            (
                json!({"date": "2026-01-05", "description": "zero", "lines": [line("1000", "debit", json!(0)), line("4000", "credit", json!(0))]}),
                400,
                "VALIDATION_ERROR",
            ),
            (
                json!({"date": "2026-01-05", "description": "too precise", "lines": [line("1000", "debit", json!("5.001")), line("4000", "credit", json!("5.001"))]}),
                400,
                "VALIDATION_ERROR",
            ),
            (
                json!({"date": "2026-02-30", "description": "bad date", "lines": [line("1000", "debit", json!("5")), line("4000", "credit", json!("5"))]}),
                400,
                "VALIDATION_ERROR",
            ),
            (
                json!({"date": "2026-01-05", "description": "not a number", "lines": [line("1000", "debit", json!("five")), line("4000", "credit", json!("5"))]}),
                400,
                "VALIDATION_ERROR",
            ),
            (
                json!({"date": "2026-01-05", "lines": []}),
                400,
                "VALIDATION_ERROR",
            ),
            (
                json!({"date": "2026-01-05", "description": "unbalanced", "lines": [line("1000", "debit", json!("5.00")), line("4000", "credit", json!("4.99"))]}),
                422,
                "UNBALANCED",
            ),
            (
                json!({"date": "2026-01-05", "description": "unknown", "lines": [line("1000", "debit", json!("5")), line("9999", "credit", json!("5"))]}),
                422,
                "UNKNOWN_ACCOUNT",
            ),
        ];
        for (body, status, code) in cases {
            let res = app.post(body.clone()).await;
            assert_eq!(
                (res.status, res.code()),
                (status, code),
                "{}: {body}: {}",
                backend.name(),
                res.text
            );
            assert_eq!(res.json["success"], false);
        }
        // The unbalanced one names both totals.
        let res = app
            .post(json!({"date": "2026-01-05", "description": "u", "lines": [line("1000", "debit", json!("5.00")), line("4000", "credit", json!("4.99"))]}))
            .await
            .expect(422);
        assert_eq!(res.json["error"]["details"]["total_debit"], "5.00");
        assert_eq!(res.json["error"]["details"]["total_credit"], "4.99");

        // An inactive account is refused by name.
        app.http
            .put("/api/accounting/accounts/6700")
            .bearer(&accountant())
            .json(json!({"active": false}))
            .send()
            .await
            .expect(200);
        let res = app
            .post(simple("2026-01-05", "6700", "1000", "3"))
            .await
            .expect(422);
        assert_eq!(res.code(), "INACTIVE_ACCOUNT");
        assert_eq!(res.json["error"]["details"]["inactive"], json!(["6700"]));

        // Malformed JSON and a missing content type.
        let res = app
            .http
            .post("/api/accounting/journal-entries")
            .bearer(&accountant())
            .header("content-type", "application/json")
            .body("{nope")
            .send()
            .await;
        assert_eq!(res.status, 400);
        let res = app
            .http
            .post("/api/accounting/journal-entries")
            .bearer(&accountant())
            .body("{}")
            .send()
            .await;
        assert_eq!(res.status, 415);

        assert_eq!(app.scalar("SELECT COUNT(*) FROM journal_entries").await, 0);
        assert_eq!(app.scalar("SELECT COUNT(*) FROM journal_lines").await, 0);
        assert_eq!(app.scalar("SELECT COUNT(*) FROM account_balances").await, 0);
        assert_eq!(app.scalar("SELECT COUNT(*) FROM entry_counters").await, 0);
        // The next good entry still gets number 1.
        let ok = app
            .post(simple("2026-01-05", "1000", "4000", "5"))
            .await
            .expect(201);
        assert_eq!(ok.json["entry"]["number"], "JE-2026-000001");
    }
}

#[tokio::test]
async fn garbage_ids_are_404() {
    for backend in backends() {
        let app = app(&backend).await;
        for path in [
            "/api/accounting/journal-entries/not-a-uuid",
            "/api/accounting/journal-entries/0190b6a4-0000-7000-8000-000000000000",
            "/api/accounting/transactions/x'; DROP TABLE accounts; --",
            "/api/accounting/accounts/%E2%9C%93",
        ] {
            let res = app.get(path).await;
            assert_eq!(res.status, 404, "{path}: {}", res.text);
            assert_eq!(res.code(), "NOT_FOUND");
        }
        let res = app
            .http
            .post("/api/accounting/journal-entries/nope/reverse")
            .bearer(&accountant())
            .send()
            .await;
        assert_eq!(res.status, 404);
    }
}

#[tokio::test]
async fn fifty_concurrent_postings_get_unique_gapless_numbers() {
    for backend in backends() {
        let app = app(&backend).await;
        let mut tasks = Vec::new();
        for i in 0..50 {
            let http = app.http.clone();
            let token = accountant();
            // Alternate accounts so that balance rows are contended too.
            let (d, c) = if i % 2 == 0 {
                ("1000", "4000")
            } else {
                ("6000", "1000")
            };
            tasks.push(tokio::spawn(async move {
                http.post("/api/accounting/journal-entries")
                    .bearer(&token)
                    // Spread over months: one period row does not
                    // serialise them, only the year's counter does.
                    .json(simple(
                        &format!("2026-{:02}-20", i % 12 + 1),
                        d,
                        c,
                        &format!("{}.{:02}", i + 1, i),
                    ))
                    .send()
                    .await
            }));
        }
        let mut numbers = BTreeSet::new();
        for t in tasks {
            let res = t.await.unwrap().expect(201);
            numbers.insert(res.json["entry"]["number"].as_str().unwrap().to_owned());
        }
        let want: BTreeSet<String> = (1..=50).map(|n| format!("JE-2026-{n:06}")).collect();
        assert_eq!(numbers, want, "{}", backend.name());
        app.assert_consistent().await;
        let tb = app.trial_balance("2026-12-31").await;
        assert_eq!(tb["total_debit"], tb["total_credit"]);
        assert_eq!(tb["balanced"], true);
    }
}

#[tokio::test]
async fn idempotency_keys_replay_the_first_response() {
    for backend in backends() {
        let app = app(&backend).await;
        let body = simple("2026-02-02", "1000", "4000", "12.50");
        let send = |body: serde_json::Value, key: &str| {
            app.http
                .post("/api/accounting/journal-entries")
                .bearer(&accountant())
                .header("Idempotency-Key", key)
                .json(body)
                .send()
        };
        let first = send(body.clone(), "key-1").await.expect(201);
        let replay = send(body.clone(), "key-1").await;
        assert_eq!(replay.status, 201);
        assert_eq!(replay.json, first.json, "{}", backend.name());
        assert_eq!(replay.header("idempotent-replayed"), Some("true"));
        // Same key, different body.
        let other = send(simple("2026-02-02", "1000", "4000", "13"), "key-1")
            .await
            .expect(422);
        assert_eq!(other.code(), "IDEMPOTENCY_KEY_REUSED");
        assert_eq!(app.scalar("SELECT COUNT(*) FROM journal_entries").await, 1);
        // Keys belong to their caller: another user's same key is new.
        let res = app
            .http
            .post("/api/accounting/journal-entries")
            .bearer(&crate::support::admin())
            .header("Idempotency-Key", "key-1")
            .json(body.clone())
            .send()
            .await
            .expect(201);
        assert_ne!(res.json["entry"]["id"], first.json["entry"]["id"]);
        // A failed request does not burn its key.
        let bad = simple("2026-02-02", "1000", "9999", "1");
        send(bad, "key-2").await.expect(422);
        send(simple("2026-02-02", "1000", "4000", "1"), "key-2")
            .await
            .expect(201);
        // Concurrent requests with one key post once.
        let mut tasks = Vec::new();
        for _ in 0..8 {
            let http = app.http.clone();
            tasks.push(tokio::spawn(async move {
                http.post("/api/accounting/journal-entries")
                    .bearer(&accountant())
                    .header("Idempotency-Key", "key-3")
                    .json(simple("2026-02-03", "1000", "4000", "7"))
                    .send()
                    .await
            }));
        }
        let mut ids = BTreeSet::new();
        for t in tasks {
            let r = t.await.unwrap().expect(201);
            ids.insert(r.json["entry"]["id"].as_str().unwrap().to_owned());
        }
        assert_eq!(ids.len(), 1, "{}", backend.name());
        assert_eq!(app.scalar("SELECT COUNT(*) FROM journal_entries").await, 4);
        // Malformed keys are refused.
        send(body, &"k".repeat(300)).await.expect(400);
        app.assert_consistent().await;
    }
}

#[tokio::test]
async fn an_entry_is_reversed_once() {
    for backend in backends() {
        let app = app(&backend).await;
        let posted = app
            .post(simple("2026-06-10", "6200", "1010", "800"))
            .await
            .expect(201);
        let id = posted.json["entry"]["id"].as_str().unwrap().to_owned();
        let path = format!("/api/accounting/journal-entries/{id}/reverse");

        // Not before the original.
        app.http
            .post(&path)
            .bearer(&accountant())
            .json(json!({"date": "2026-06-09"}))
            .send()
            .await
            .expect(400);
        let rev = app
            .http
            .post(&path)
            .bearer(&accountant())
            .json(json!({"date": "2026-07-01"}))
            .send()
            .await
            .expect(201);
        let r = &rev.json["entry"];
        assert_eq!(r["reverses"], id.as_str());
        assert_eq!(r["date"], "2026-07-01");
        assert_eq!(r["lines"][0]["account"], "6200");
        assert_eq!(r["lines"][0]["credit"], "800.00");
        assert_eq!(r["number"], "JE-2026-000002");
        let orig = app
            .get(&format!("/api/accounting/journal-entries/{id}"))
            .await
            .expect(200);
        assert_eq!(orig.json["entry"]["reversed_by"], r["id"]);
        assert_eq!(orig.json["entry"]["status"], "reversed");

        // Twice: 409, and nothing posted.
        let again = app
            .http
            .post(&path)
            .bearer(&accountant())
            .send()
            .await
            .expect(409);
        assert_eq!(again.code(), "ALREADY_REVERSED");
        // A reversal is not reversible.
        let rid = r["id"].as_str().unwrap();
        let res = app
            .http
            .post(&format!("/api/accounting/journal-entries/{rid}/reverse"))
            .bearer(&accountant())
            .send()
            .await
            .expect(409);
        assert_eq!(res.code(), "NOT_REVERSIBLE");
        assert_eq!(app.scalar("SELECT COUNT(*) FROM journal_entries").await, 2);
        assert_eq!(app.balance_of("6200", "2026-12-31").await, "0.00");
        assert_eq!(app.balance_of("6200", "2026-06-30").await, "800.00");

        // Concurrent reversals of one entry: exactly one wins.
        let posted = app
            .post(simple("2026-06-11", "1000", "4000", "5"))
            .await
            .expect(201);
        let id = posted.json["entry"]["id"].as_str().unwrap().to_owned();
        let mut tasks = Vec::new();
        for _ in 0..6 {
            let http = app.http.clone();
            let path = format!("/api/accounting/journal-entries/{id}/reverse");
            tasks.push(tokio::spawn(async move {
                http.post(&path).bearer(&accountant()).send().await
            }));
        }
        let mut created = 0;
        for t in tasks {
            let r = t.await.unwrap();
            match r.status {
                201 => created += 1,
                409 => assert_eq!(r.code(), "ALREADY_REVERSED"),
                other => panic!("{other}: {}", r.text),
            }
        }
        assert_eq!(created, 1, "{}", backend.name());
        // The database refuses a second link for the same original.
        let dup = sqlx::query("INSERT INTO reversals (original_id, reversal_id, created_at) SELECT original_id, original_id, created_at FROM reversals LIMIT 1")
            .execute(app.ctx.db().pool())
            .await;
        assert!(
            dup.is_err(),
            "{}: a second reversal link was accepted",
            backend.name()
        );
        app.assert_consistent().await;
    }
}

#[tokio::test]
async fn posted_entries_cannot_be_changed_through_the_api() {
    for backend in backends() {
        let app = app(&backend).await;
        let posted = app
            .post(simple("2026-03-03", "1000", "4000", "10"))
            .await
            .expect(201);
        let path = format!(
            "/api/accounting/journal-entries/{}",
            posted.json["entry"]["id"].as_str().unwrap()
        );
        for method in [Method::PUT, Method::PATCH, Method::DELETE] {
            let res = app
                .http
                .request(method.clone(), &path)
                .bearer(&accountant())
                .json(json!({}))
                .send()
                .await;
            assert_eq!(res.status, 405, "{method}");
            assert_eq!(res.code(), "METHOD_NOT_ALLOWED");
            assert_eq!(res.json["success"], false);
            assert_eq!(res.header("allow"), Some("GET"));
        }
        assert_eq!(
            app.get(&path).await.expect(200).json["entry"]["total"],
            "10.00"
        );
    }
}

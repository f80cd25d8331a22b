//! Periods: close, reopen, lock; closed periods refuse postings on every
//! path (API, the original API, events — events are covered in events.rs).

use marimo_platform::auth::Role;
use marimo_testkit::{backends, token_for};
use serde_json::json;

use crate::support::{accountant, admin, app, simple, today};

#[tokio::test]
async fn closed_and_locked_periods_refuse_postings() {
    for backend in backends() {
        let app = app(&backend).await;
        let name = backend.name();
        app.post(simple("2026-01-10", "1000", "4000", "10"))
            .await
            .expect(201);

        let close = |p: &str, action: &str, who: String| {
            app.http
                .post(&format!("/api/accounting/periods/{p}/{action}"))
                .bearer(&who)
                .send()
        };
        // Only admins change periods.
        close("2026-01", "close", accountant()).await.expect(403);
        close("2026-01", "close", token_for(Role::Manager))
            .await
            .expect(403);
        let res = close("2026-01", "close", admin()).await.expect(200);
        assert_eq!(res.json["period"]["status"], "closed");
        assert_eq!(res.json["period"]["previous_status"], "open");
        close("2026-01", "close", admin()).await.expect(200);

        let res = app
            .post(simple("2026-01-31", "1000", "4000", "5"))
            .await
            .expect(409);
        assert_eq!(res.code(), "PERIOD_CLOSED", "{name}");
        assert_eq!(res.json["error"]["details"]["period"], "2026-01");
        assert_eq!(res.json["error"]["details"]["status"], "closed");
        // The neighbours are open.
        app.post(simple("2026-02-01", "1000", "4000", "5"))
            .await
            .expect(201);
        app.post(simple("2025-12-31", "1000", "4000", "5"))
            .await
            .expect(201);

        // A reversal dated in a closed period is refused too; dated later
        // it goes through.
        let jan = app
            .get("/api/accounting/journal-entries?from=2026-01-01&to=2026-01-31")
            .await
            .expect(200);
        let id = jan.json["entries"][0]["id"].as_str().unwrap().to_owned();
        let rev = app
            .http
            .post(&format!("/api/accounting/journal-entries/{id}/reverse"))
            .bearer(&accountant())
            .json(json!({"date": "2026-01-20"}))
            .send()
            .await
            .expect(409);
        assert_eq!(rev.code(), "PERIOD_CLOSED");

        // Reopen, post, lock, and a locked period stays locked.
        close("2026-01", "reopen", admin()).await.expect(200);
        app.post(simple("2026-01-31", "1000", "4000", "5"))
            .await
            .expect(201);
        close("2026-01", "lock", admin()).await.expect(200);
        let res = close("2026-01", "reopen", admin()).await.expect(409);
        assert_eq!(res.code(), "PERIOD_LOCKED");
        close("2026-01", "close", admin()).await.expect(409);
        close("2026-01", "lock", admin()).await.expect(200);
        let res = app
            .post(simple("2026-01-15", "1000", "4000", "5"))
            .await
            .expect(409);
        assert_eq!(
            (res.code(), res.json["error"]["details"]["status"].as_str()),
            ("PERIOD_CLOSED", Some("locked"))
        );

        // Bad periods are 400; an unknown action is 404.
        for bad in ["2026-13", "2026-1", "garbage", "2026-01-01"] {
            close(bad, "close", admin()).await.expect(400);
        }
        close("2026-01", "explode", admin()).await.expect(404);

        let list = app.get("/api/accounting/periods").await.expect(200);
        let periods = list.json["periods"].as_array().unwrap();
        let jan = periods.iter().find(|p| p["period"] == "2026-01").unwrap();
        assert_eq!(jan["status"], "locked");
        assert_eq!(jan["updated_by"], "admin-user");
        let feb = periods.iter().find(|p| p["period"] == "2026-02").unwrap();
        assert_eq!(feb["status"], "open");
        assert_eq!(
            app.get("/api/accounting/periods?year=2025")
                .await
                .expect(200)
                .json["periods"]
                .as_array()
                .unwrap()
                .len(),
            1
        );
        assert_eq!(
            app.scalar("SELECT COUNT(*) FROM period_events").await,
            3,
            "{name}: close, reopen, lock (no-ops are not recorded)"
        );
        app.assert_consistent().await;
    }
}

#[tokio::test]
async fn a_closed_period_refuses_the_original_api_too() {
    for backend in backends() {
        let app = app(&backend).await;
        let (_, period) = today();
        app.http
            .post(&format!("/api/accounting/periods/{period}/close"))
            .bearer(&admin())
            .send()
            .await
            .expect(200);
        let res = app
            .http
            .post("/api/accounting/transactions")
            .bearer(&accountant())
            .json(
                json!({"type": "income", "amount": 10, "description": "sale", "category": "sales"}),
            )
            .send()
            .await
            .expect(409);
        assert_eq!(res.code(), "PERIOD_CLOSED", "{}", backend.name());
        assert_eq!(
            app.scalar("SELECT COUNT(*) FROM compat_transactions").await,
            0
        );
        app.http
            .post(&format!("/api/accounting/periods/{period}/reopen"))
            .bearer(&admin())
            .send()
            .await
            .expect(200);
        app.http
            .post("/api/accounting/transactions")
            .bearer(&accountant())
            .json(
                json!({"type": "income", "amount": 10, "description": "sale", "category": "sales"}),
            )
            .send()
            .await
            .expect(201);
    }
}

#[tokio::test]
async fn closing_waits_for_postings_in_flight() {
    // Postings and a close race; every posting either committed before the
    // close (and is in the period) or was refused with PERIOD_CLOSED.
    for backend in backends() {
        let app = app(&backend).await;
        let mut tasks = Vec::new();
        for i in 0..30 {
            let http = app.http.clone();
            tasks.push(tokio::spawn(async move {
                if i == 10 {
                    let r = http
                        .post("/api/accounting/periods/2026-08/close")
                        .bearer(&admin())
                        .send()
                        .await;
                    (true, r)
                } else {
                    let r = http
                        .post("/api/accounting/journal-entries")
                        .bearer(&accountant())
                        .json(simple("2026-08-15", "1000", "4000", "1"))
                        .send()
                        .await;
                    (false, r)
                }
            }));
        }
        let mut posted = 0;
        for t in tasks {
            let (is_close, r) = t.await.unwrap();
            match (is_close, r.status) {
                (true, 200) => {}
                (false, 201) => posted += 1,
                (false, 409) => assert_eq!(r.code(), "PERIOD_CLOSED"),
                other => panic!("{other:?}: {}", r.text),
            }
        }
        let in_period = app
            .scalar("SELECT COUNT(*) FROM journal_entries WHERE period = '2026-08'")
            .await;
        assert_eq!(in_period, posted, "{}", backend.name());
        // After the close, nothing more gets in.
        app.post(simple("2026-08-16", "1000", "4000", "1"))
            .await
            .expect(409);
        app.assert_consistent().await;
    }
}

//! Releases and issues competing for the same stock, concurrently: stock
//! never goes negative, nothing reserves more than exists, and the ledger
//! still adds up — on every backend.

use futures_util::future::join_all;
use marimo_testkit::each_backend;
use serde_json::json;

use crate::support::{App, manager};

#[tokio::test]
async fn concurrent_releases_and_issues_never_oversell() {
    each_backend(|app: App| async move {
        app.raw("CHIP").await;
        app.item("BOARD", "finished_good", "pcs", "0").await;
        app.bom("BOARD", "1", &[("CHIP", "1")]).await.expect(201);
        app.receive("CHIP", "5", "1.00").await;
        let mut orders = Vec::new();
        for _ in 0..10 {
            orders.push(app.work_order("BOARD", "1").await);
        }

        // 10 releases and 10 issues of one chip each, all at once, over 5.
        let releases = orders.iter().map(|id| {
            let http = app.http.clone();
            let path = format!("/api/factory/work-orders/{id}/release");
            async move { http.post(&path).bearer(&manager()).send().await }
        });
        let issues = (0..10).map(|_| {
            let http = app.http.clone();
            async move {
                http.post("/api/factory/stock/issues")
                    .bearer(&manager())
                    .json(json!({"sku": "CHIP", "qty": 1}))
                    .send()
                    .await
            }
        });
        let (released, issued) = tokio::join!(join_all(releases), join_all(issues));
        let all: Vec<_> = released.iter().chain(issued.iter()).collect();
        let ok = all.iter().filter(|r| r.status / 100 == 2).count();
        for r in &all {
            assert!(
                r.status / 100 == 2 || (r.status == 409 && r.code() == "INSUFFICIENT_STOCK"),
                "{}: unexpected {} {}",
                app.name(),
                r.status,
                r.text
            );
        }
        assert_eq!(
            ok,
            5,
            "{}: exactly the 5 chips in stock were handed out",
            app.name()
        );
        let released_ok = released.iter().filter(|r| r.status == 200).count() as i64;
        let issued_ok = issued.iter().filter(|r| r.status == 201).count() as i64;

        let (on_hand, reserved, available, _) = app.level("CHIP").await;
        assert_eq!(on_hand, format!("{}.000", 5 - issued_ok));
        assert_eq!(reserved, format!("{released_ok}.000"));
        assert_eq!(available, "0.000");
        assert_eq!(
            app.scalar("SELECT COUNT(*) FROM work_orders WHERE status = 'released'")
                .await,
            released_ok
        );
        app.assert_consistent().await;

        // Now complete and cancel the released orders concurrently with
        // more issues: still consistent, still nothing negative.
        let open: Vec<String> =
            sqlx::query_scalar("SELECT id FROM work_orders WHERE status = 'released' ORDER BY id")
                .fetch_all(app.ctx.db().pool())
                .await
                .unwrap();
        let mut work = Vec::new();
        for (n, id) in open.iter().enumerate() {
            let http = app.http.clone();
            let id = id.clone();
            work.push(tokio::spawn(async move {
                let go = |a: &str| {
                    http.post(&format!("/api/factory/work-orders/{id}/{a}"))
                        .bearer(&manager())
                        .send()
                };
                if n % 2 == 0 {
                    go("start").await.expect(200);
                    go("complete").await.expect(200);
                } else {
                    go("cancel").await.expect(200);
                }
            }));
        }
        for _ in 0..5 {
            let http = app.http.clone();
            work.push(tokio::spawn(async move {
                let r = http
                    .post("/api/factory/stock/issues")
                    .bearer(&manager())
                    .json(json!({"sku": "CHIP", "qty": 1}))
                    .send()
                    .await;
                assert!(r.status == 201 || r.status == 409, "{}", r.text);
            }));
        }
        for w in work {
            w.await.expect("task");
        }
        app.assert_consistent().await;
        let negative = app
            .scalar("SELECT COUNT(*) FROM stock_levels WHERE on_hand < 0 OR reserved <> 0")
            .await;
        assert_eq!(negative, 0, "{}", app.name());
        // Σ moves = on hand, per the ledger itself.
        let moved = app
            .scalar("SELECT CAST(SUM(qty) AS BIGINT) FROM stock_moves WHERE sku = 'CHIP'")
            .await;
        let held = app
            .scalar("SELECT on_hand FROM stock_levels WHERE sku = 'CHIP' AND warehouse = 'MAIN'")
            .await;
        assert_eq!(moved, held);
        assert!(held >= 0);
    })
    .await;
}

#[tokio::test]
async fn concurrent_transfers_both_ways_do_not_deadlock() {
    each_backend(|app: App| async move {
        app.raw("CRATE").await;
        app.post(
            "/api/factory/warehouses",
            json!({"code": "EAST", "name": "East"}),
        )
        .await
        .expect(201);
        app.receive("CRATE", "20", "1").await;
        app.post(
            "/api/factory/stock/transfers",
            json!({"sku": "CRATE", "from": "MAIN", "to": "EAST", "qty": 10}),
        )
        .await
        .expect(201);
        let tasks = (0..16).map(|n| {
            let http = app.http.clone();
            let (from, to) = if n % 2 == 0 {
                ("MAIN", "EAST")
            } else {
                ("EAST", "MAIN")
            };
            async move {
                http.post("/api/factory/stock/transfers")
                    .bearer(&manager())
                    .json(json!({"sku": "CRATE", "from": from, "to": to, "qty": 1}))
                    .send()
                    .await
            }
        });
        for r in join_all(tasks).await {
            assert_eq!(r.status, 201, "{}: {}", app.name(), r.text);
        }
        let total = app
            .scalar("SELECT CAST(SUM(on_hand) AS BIGINT) FROM stock_levels WHERE sku = 'CRATE'")
            .await;
        assert_eq!(total, 20_000);
        app.assert_consistent().await;
    })
    .await;
}

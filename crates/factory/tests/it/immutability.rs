//! The database itself refuses to change stock moves and BOMs, on both
//! backends, and the guards survive a restart.

use marimo_platform::service::ServiceName;
use marimo_testkit::each_backend;
use serde_json::json;

use crate::support::{App, manager};

#[tokio::test]
async fn direct_sql_cannot_update_or_delete_moves_or_boms() {
    each_backend(|app: App| async move {
        app.raw("RAW").await;
        app.item("P", "component", "pcs", "0").await;
        app.receive("RAW", "5", "1").await;
        app.bom("P", "1", &[("RAW", "2")]).await.expect(201);
        let pool = app.ctx.db().pool();
        for sql in [
            "UPDATE stock_moves SET qty = qty + 1000",
            "UPDATE stock_moves SET reference = 'tampered'",
            "DELETE FROM stock_moves",
            "UPDATE bom_components SET qty = 1",
            "DELETE FROM bom_components",
            "UPDATE boms SET output_qty = 5",
            "DELETE FROM boms",
        ] {
            let err = sqlx::query(sql)
                .execute(pool)
                .await
                .expect_err(&format!("{}: {sql} was accepted", app.name()));
            assert!(
                err.to_string().contains("immutable"),
                "{}: {sql}: {err}",
                app.name()
            );
        }
        if app.name() == "postgres" {
            assert!(
                sqlx::query("TRUNCATE stock_moves CASCADE")
                    .execute(pool)
                    .await
                    .is_err()
            );
        }
        // The balance rules hold in the schema too.
        for sql in [
            "UPDATE stock_levels SET on_hand = -1",
            "UPDATE stock_levels SET reserved = on_hand + 1",
            "UPDATE stock_levels SET value = -1",
            "UPDATE stock_levels SET on_hand = 0, reserved = 0",
        ] {
            assert!(
                sqlx::query(sql).execute(pool).await.is_err(),
                "{}: {sql}",
                app.name()
            );
        }
        assert_eq!(app.scalar("SELECT COUNT(*) FROM stock_moves").await, 1);
        assert_eq!(app.scalar("SELECT COUNT(*) FROM bom_components").await, 1);
        app.assert_consistent().await;
    })
    .await;
}

#[tokio::test]
async fn the_guards_and_seeds_survive_a_restart() {
    for backend in marimo_testkit::backends() {
        let settings = backend.settings(&[]).await;
        for round in 0..2 {
            // Same database, started twice: migrations, triggers and seeds
            // are idempotent, and the second start leaves data alone.
            let ctx = marimo_testkit::context(ServiceName::Factory, settings.clone()).await;
            let server =
                marimo_testkit::spawn(marimo_factory::router(ctx.clone()).await.expect("starts"))
                    .await;
            if round == 0 {
                server
                    .http
                    .post("/api/factory/items")
                    .bearer(&manager())
                    .json(json!({"sku": "RAW", "name": "Raw", "kind": "raw_material"}))
                    .send()
                    .await
                    .expect(201);
            }
            server
                .http
                .post("/api/factory/stock/receipts")
                .bearer(&manager())
                .json(json!({"sku": "RAW", "qty": 1, "unit_cost": 1}))
                .send()
                .await
                .expect(201);
            let pool = ctx.db().pool();
            let err = sqlx::query("UPDATE stock_moves SET qty = 5")
                .execute(pool)
                .await
                .expect_err("guarded after a restart");
            assert!(err.to_string().contains("immutable"), "{err}");
            let count = |sql: &'static str| async move {
                sqlx::query_scalar::<_, i64>(sql)
                    .fetch_one(pool)
                    .await
                    .unwrap()
            };
            assert_eq!(count("SELECT COUNT(*) FROM warehouses").await, 1);
            assert_eq!(count("SELECT COUNT(*) FROM units").await, 6);
            assert_eq!(count("SELECT COUNT(*) FROM stock_moves").await, round + 1);
        }
    }
}

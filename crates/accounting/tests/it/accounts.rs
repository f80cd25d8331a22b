//! The chart of accounts: seeded, created, changed under its rules.

use marimo_testkit::backends;
use serde_json::json;

use crate::support::{accountant, app, simple};

#[tokio::test]
async fn the_chart_of_accounts() {
    for backend in backends() {
        let app = app(&backend).await;
        let name = backend.name();
        let list = app.get("/api/accounting/accounts").await.expect(200);
        let accounts = list.json["accounts"].as_array().unwrap();
        for code in [
            "1000", "1010", "1100", "1200", "1210", "1220", "2000", "2100", "3000", "3100", "4000",
            "4900", "5000", "6000", "6100",
        ] {
            assert!(
                accounts.iter().any(|a| a["code"] == code),
                "{name}: {code} not seeded"
            );
        }
        let cash = accounts.iter().find(|a| a["code"] == "1000").unwrap();
        assert_eq!(
            (
                cash["type"].as_str(),
                cash["normal_balance"].as_str(),
                cash["active"].as_bool()
            ),
            (Some("asset"), Some("debit"), Some(true))
        );
        let salaries = accounts.iter().find(|a| a["code"] == "6100").unwrap();
        assert_eq!(salaries["parent"], "6000");
        let revenue = app
            .get("/api/accounting/accounts?type=revenue")
            .await
            .expect(200);
        assert!(
            revenue.json["accounts"]
                .as_array()
                .unwrap()
                .iter()
                .all(|a| a["type"] == "revenue")
        );
        app.get("/api/accounting/accounts?type=income")
            .await
            .expect(400);

        let post = |body: serde_json::Value| {
            app.http
                .post("/api/accounting/accounts")
                .bearer(&accountant())
                .json(body)
                .send()
        };
        let put = |code: &str, body: serde_json::Value| {
            app.http
                .put(&format!("/api/accounting/accounts/{code}"))
                .bearer(&accountant())
                .json(body)
                .send()
        };
        let created =
            post(json!({"code": "6110", "name": "Bonuses", "type": "expense", "parent": "6100"}))
                .await
                .expect(201);
        assert_eq!(created.json["account"]["parent"], "6100");
        assert_eq!(
            post(json!({"code": "6110", "name": "Again", "type": "expense"}))
                .await
                .expect(409)
                .code(),
            "DUPLICATE_ACCOUNT"
        );
        post(json!({"code": "bad code", "name": "x", "type": "asset"}))
            .await
            .expect(400);
        post(json!({"code": "1300", "name": "", "type": "asset"}))
            .await
            .expect(400);
        post(json!({"code": "1300", "name": "x", "type": "stuff"}))
            .await
            .expect(400);
        assert_eq!(
            post(json!({"code": "1300", "name": "x", "type": "asset", "parent": "9999"}))
                .await
                .expect(422)
                .code(),
            "INVALID_PARENT"
        );
        assert_eq!(
            post(json!({"code": "1300", "name": "x", "type": "asset", "parent": "6000"}))
                .await
                .expect(422)
                .code(),
            "INVALID_PARENT"
        );

        // Rename, move, deactivate and reactivate.
        let r = put("6110", json!({"name": "Staff bonuses", "parent": null}))
            .await
            .expect(200);
        assert_eq!(r.json["account"]["name"], "Staff bonuses");
        assert_eq!(r.json["account"]["parent"], serde_json::Value::Null);
        put("6110", json!({"parent": "6000"})).await.expect(200);
        // A cycle: 6000 under its own sub-account.
        assert_eq!(
            put("6000", json!({"parent": "6110"}))
                .await
                .expect(422)
                .code(),
            "INVALID_PARENT"
        );
        put("6110", json!({"active": false})).await.expect(200);
        assert_eq!(
            app.post(simple("2026-05-01", "6110", "1000", "1"))
                .await
                .expect(422)
                .code(),
            "INACTIVE_ACCOUNT"
        );
        put("6110", json!({"active": true})).await.expect(200);

        // The type may change until the account has postings.
        put("6110", json!({"type": "asset"})).await.expect(422); // its parent is an expense
        let r = put("6110", json!({"type": "asset", "parent": null}))
            .await
            .expect(200);
        assert_eq!(r.json["account"]["type"], "asset");
        put("6110", json!({"type": "expense"})).await.expect(200);
        app.post(simple("2026-05-01", "6110", "1000", "1"))
            .await
            .expect(201);
        let res = put("6110", json!({"type": "asset"})).await.expect(409);
        assert_eq!(res.code(), "ACCOUNT_HAS_POSTINGS", "{name}");
        // A parent whose sub-accounts have its type keeps that type.
        assert_eq!(
            put("6000", json!({"type": "asset"}))
                .await
                .expect(422)
                .code(),
            "INVALID_PARENT"
        );
        put("9999", json!({"name": "x"})).await.expect(404);
        app.get("/api/accounting/accounts/6110").await.expect(200);
        app.get("/api/accounting/accounts/none").await.expect(404);
    }
}

//! The original API's endpoints: shapes and figures, on the ledger.

use marimo_testkit::backends;
use serde_json::json;

use crate::support::{accountant, app, today};

#[tokio::test]
async fn transactions_and_balance_keep_the_original_shapes() {
    for backend in backends() {
        let app = app(&backend).await;
        let name = backend.name();
        let post = |body: serde_json::Value| {
            app.http
                .post("/api/accounting/transactions")
                .bearer(&accountant())
                .json(body)
                .send()
        };
        let income = post(json!({"type": "income", "amount": 1250.75, "description": "Widget sale", "category": "Sales"}))
            .await
            .expect(201);
        assert_eq!(income.json["success"], true);
        assert!(income.json["message"].is_string());
        let t = &income.json["transaction"];
        for field in [
            "id",
            "type",
            "amount",
            "description",
            "category",
            "created_by",
            "created_at",
        ] {
            assert!(!t[field].is_null(), "{name}: {field} missing in {t}");
        }
        assert_eq!(t["type"], "income");
        assert_eq!(t["amount"], "1250.75");
        assert_eq!(t["category"], "Sales");
        assert_eq!(t["created_by"], "accountant-user");

        post(json!({"type": "expense", "amount": "300", "description": "March salary", "category": "salary"})).await.expect(201);
        post(json!({"type": "expense", "amount": "50.5", "description": "Misc", "category": "something new"})).await.expect(201);
        post(json!({"type": "income", "amount": "10", "description": "Odd job"}))
            .await
            .expect(201);

        // Amounts: positive, finite, at most the currency's decimals.
        for bad in [
            json!(0),
            json!(-5),
            json!("-1"),
            json!("1.005"),
            json!("NaN"),
            json!("Infinity"),
            json!("1e3"),
            json!(true),
            json!(null),
        ] {
            let res = post(
                json!({"type": "income", "amount": bad, "description": "x", "category": "sales"}),
            )
            .await;
            assert_eq!(res.status, 400, "{name}: {bad}: {}", res.text);
        }
        post(json!({"type": "gift", "amount": 5, "description": "x", "category": "sales"}))
            .await
            .expect(400);

        // Categories map to accounts: salary → 6100, unknown → 6000,
        // Sales → 4000, none → 4000.
        assert_eq!(app.balance_of("6100", "9999-12-31").await, "300.00");
        assert_eq!(app.balance_of("6000", "9999-12-31").await, "50.50");
        assert_eq!(app.balance_of("4000", "9999-12-31").await, "1260.75");
        assert_eq!(app.balance_of("1000", "9999-12-31").await, "910.25");

        let list = app.get("/api/accounting/transactions").await.expect(200);
        assert_eq!(list.json["success"], true);
        let txs = list.json["transactions"].as_array().unwrap();
        assert_eq!(txs.len(), 4);
        assert_eq!(txs[0]["description"], "Odd job", "newest first");
        assert_eq!(txs[3]["amount"], "1250.75");

        let id = t["id"].as_str().unwrap();
        let one = app
            .get(&format!("/api/accounting/transactions/{id}"))
            .await
            .expect(200);
        assert_eq!(one.json["success"], true);
        assert_eq!(one.json["id"], id, "the transaction at the top level");
        assert_eq!(one.json["amount"], "1250.75");
        assert_eq!(one.json["type"], "income");
        app.get("/api/accounting/transactions/0190b6a4-0000-7000-8000-000000000000")
            .await
            .expect(404);

        // The transaction is a ledger entry, dated today.
        let entry = app
            .get(&format!("/api/accounting/journal-entries/{id}"))
            .await
            .expect(200);
        assert_eq!(entry.json["entry"]["source"], "compat");
        assert_eq!(entry.json["entry"]["date"], today().0.as_str());

        // /balance is derived from the ledger: journal postings count too.
        app.post(crate::support::simple(&today().0, "6200", "1010", "100"))
            .await
            .expect(201);
        let b = app.get("/api/accounting/balance").await.expect(200);
        assert_eq!(b.json["success"], true);
        assert_eq!(b.json["income"], "1260.75", "{name}: {}", b.json);
        assert_eq!(b.json["expense"], "450.50");
        assert_eq!(b.json["balance"], "810.25");

        // Reversing a transaction's entry takes it out of the balance.
        app.http
            .post(&format!("/api/accounting/journal-entries/{id}/reverse"))
            .bearer(&accountant())
            .send()
            .await
            .expect(201);
        let b = app.get("/api/accounting/balance").await.expect(200);
        assert_eq!(b.json["income"], "10.00");
        assert_eq!(b.json["balance"], "-440.50");
        let one = app
            .get(&format!("/api/accounting/transactions/{id}"))
            .await
            .expect(200);
        assert_eq!(one.json["reversed"], true);

        // Idempotency-Key works here too.
        let send = || {
            app.http
                .post("/api/accounting/transactions")
                .bearer(&accountant())
                .header("Idempotency-Key", "tx-1")
                .json(json!({"type": "expense", "amount": "1", "description": "once", "category": "rent"}))
                .send()
        };
        let a = send().await.expect(201);
        let b = send().await.expect(201);
        assert_eq!(a.json, b.json);
        assert_eq!(
            app.scalar("SELECT COUNT(*) FROM compat_transactions").await,
            5
        );
        app.assert_consistent().await;
    }
}

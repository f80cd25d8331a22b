//! Who may do what: accountants and admins keep the books; everyone else
//! is refused (403), strangers are asked to sign in (401).

use marimo_platform::auth::Role;
use marimo_testkit::{backends, token_for};
use reqwest::Method;
use serde_json::json;

use crate::support::{app, simple};

#[tokio::test]
async fn roles_are_enforced_on_every_endpoint() {
    for backend in backends() {
        let app = app(&backend).await;
        let entry = simple("2026-03-01", "1000", "4000", "1");
        let endpoints: Vec<(Method, &str, Option<serde_json::Value>)> = vec![
            (Method::GET, "/api/accounting/accounts", None),
            (
                Method::POST,
                "/api/accounting/accounts",
                Some(json!({"code": "1300", "name": "Prepaid", "type": "asset"})),
            ),
            (Method::GET, "/api/accounting/accounts/1000", None),
            (
                Method::PUT,
                "/api/accounting/accounts/1000",
                Some(json!({"name": "Cash on hand"})),
            ),
            (Method::GET, "/api/accounting/accounts/1000/ledger", None),
            (Method::GET, "/api/accounting/journal-entries", None),
            (
                Method::POST,
                "/api/accounting/journal-entries",
                Some(entry.clone()),
            ),
            (Method::GET, "/api/accounting/periods", None),
            (Method::GET, "/api/accounting/reports/trial-balance", None),
            (
                Method::GET,
                "/api/accounting/reports/income-statement",
                None,
            ),
            (Method::GET, "/api/accounting/reports/balance-sheet", None),
            (Method::GET, "/api/accounting/transactions", None),
            (
                Method::POST,
                "/api/accounting/transactions",
                Some(
                    json!({"type": "income", "amount": "1", "description": "x", "category": "sales"}),
                ),
            ),
            (Method::GET, "/api/accounting/balance", None),
        ];
        for (method, path, body) in &endpoints {
            let send = |tok: Option<String>| {
                let mut req = app.http.request(method.clone(), path);
                if let Some(t) = tok {
                    req = req.bearer(&t);
                }
                if let Some(b) = body {
                    req = req.json(b.clone());
                }
                req.send()
            };
            let anon = send(None).await;
            assert_eq!(
                (anon.status, anon.code()),
                (401, "UNAUTHORIZED"),
                "{method} {path}"
            );
            let forged = send(Some("not.a.jwt".into())).await;
            assert_eq!(forged.status, 401, "{method} {path}");
            for role in [Role::User, Role::Manager, Role::ShopManager] {
                let res = send(Some(token_for(role))).await;
                assert_eq!(
                    (res.status, res.code()),
                    (403, "FORBIDDEN"),
                    "{role} {method} {path}"
                );
            }
            for role in [Role::Accountant, Role::Admin] {
                let res = send(Some(token_for(role))).await;
                assert!(
                    res.status == 200
                        || res.status == 201
                        || (res.status == 409
                            && *method == Method::POST
                            && path.ends_with("/accounts")),
                    "{}: {role} {method} {path}: {} {}",
                    backend.name(),
                    res.status,
                    res.text
                );
            }
        }
        // Period changes: admin only.
        for role in [
            Role::Accountant,
            Role::Manager,
            Role::User,
            Role::ShopManager,
        ] {
            for action in ["close", "reopen", "lock"] {
                app.http
                    .post(&format!("/api/accounting/periods/2026-03/{action}"))
                    .bearer(&token_for(role))
                    .send()
                    .await
                    .expect(403);
            }
        }
        app.http
            .post("/api/accounting/periods/2026-03/close")
            .send()
            .await
            .expect(401);
        app.http
            .post("/api/accounting/periods/2026-03/close")
            .bearer(&token_for(Role::Admin))
            .send()
            .await
            .expect(200);
        // The dashboard summary: admin, manager, accountant, shop_manager.
        for role in [
            Role::Admin,
            Role::Manager,
            Role::Accountant,
            Role::ShopManager,
        ] {
            app.http
                .get("/api/accounting/summary")
                .bearer(&token_for(role))
                .send()
                .await
                .expect(200);
        }
        app.http
            .get("/api/accounting/summary")
            .bearer(&token_for(Role::User))
            .send()
            .await
            .expect(403);
        app.http
            .get("/api/accounting/summary")
            .send()
            .await
            .expect(401);
        // A forbidden caller learns nothing from validation: 403 before 400.
        let res = app
            .http
            .post("/api/accounting/journal-entries")
            .bearer(&token_for(Role::User))
            .header("content-type", "application/json")
            .body("{garbage")
            .send()
            .await;
        assert_eq!(res.status, 403);
    }
}

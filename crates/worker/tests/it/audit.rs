//! Audit: every event recorded once with its actor, address and request;
//! the log is append-only in the database; the API is admin-only.

use marimo_platform::{auth::Role, bus::Envelope, service::ServiceName};
use marimo_testkit::{backends, context_on};
use serde_json::{Value, json};

use marimo_testkit::eventually;

use crate::support::{World, fast_tuning, token, world};

/// Publishes `events` with distinct, increasing times (a minute apart
/// from 2026-03-01T10:00Z) and waits until all are in the audit log.
async fn publish_all(w: &World, events: Vec<Envelope>) -> Vec<Envelope> {
    let before = w.count("SELECT COUNT(*) FROM audit_log").await;
    let mut out = Vec::new();
    for (i, mut env) in events.into_iter().enumerate() {
        env.occurred_at = format!("2026-03-01T10:{i:02}:00.000000Z");
        w.publish(&env).await;
        out.push(env);
    }
    let want = before + out.len() as i64;
    eventually("audit rows", || async {
        (w.count("SELECT COUNT(*) FROM audit_log").await == want).then_some(())
    })
    .await;
    out
}

fn catalog(admin_id: &str) -> Vec<Envelope> {
    let mut login = Envelope::new(
        "users",
        "users.user.logged_in",
        json!({"user_id": "u-ann", "email": "ann@example.com"}),
    )
    .client_ip("203.0.113.7");
    login.request_id = Some("req-login-1".into());
    vec![
        login,
        Envelope::new(
            "users",
            "users.user.login_failed",
            json!({"email": "ann@example.com", "reason": "bad_password"}),
        )
        .client_ip("198.51.100.9"),
        Envelope::new(
            "users",
            "users.user.role_changed",
            json!({"user_id": "u-ann", "email": "ann@example.com", "old_role": "user", "new_role": "manager"}),
        )
        .actor(admin_id),
        Envelope::new(
            "users",
            "users.user.deactivated",
            json!({"user_id": "u-bob", "email": "bob@example.com"}),
        )
        .actor(admin_id),
        Envelope::new(
            "config",
            "config.setting.changed",
            json!({"key": "smtp.password", "version": 2, "value_type": "secret", "value": "hunter2"}),
        )
        .actor(admin_id),
        Envelope::new(
            "accounting",
            "accounting.entry.posted",
            json!({"entry_id": "e-1", "number": "JE-000001", "reference": "INV-7", "total": "100.00"}),
        ),
        Envelope::new(
            "accounting",
            "accounting.entry.reversed",
            json!({"entry_id": "e-1", "number": "JE-000002", "reference": "INV-7", "total": "100.00"}),
        ),
        Envelope::new(
            "shop",
            "shop.order.paid",
            json!({"order_id": "o-1", "user_id": "u-ann", "email": "ann@example.com", "total": "9.99", "currency": "EUR", "items": []}),
        ),
        Envelope::new(
            "factory",
            "factory.work_order.completed",
            json!({"work_order_id": "wo-1", "sku": "CHAIR", "qty": "4"}),
        ),
    ]
}

async fn get(w: &World, token: &str, query: &str) -> Value {
    w.server
        .http
        .get(&format!("/api/audit{query}"))
        .bearer(token)
        .send()
        .await
        .expect(200)
        .json
}

fn actions(v: &Value) -> Vec<String> {
    v["entries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["action"].as_str().unwrap().to_owned())
        .collect()
}

#[tokio::test]
async fn every_event_is_audited_once_with_actor_ip_and_request() {
    for backend in backends() {
        let w = world(&backend, &[]).await;
        let (admin_id, admin) = token(Role::Admin);
        let events = publish_all(&w, catalog(&admin_id)).await;
        // Redelivery changes nothing.
        w.redeliver_all().await;
        assert_eq!(
            w.count("SELECT COUNT(*) FROM audit_log").await,
            events.len() as i64,
            "{}",
            w.name()
        );

        let all = get(&w, &admin, "?limit=100").await;
        assert_eq!(all["success"], true);
        assert_eq!(all["total"], events.len());
        let entries = all["entries"].as_array().unwrap();
        // Newest first.
        assert_eq!(entries[0]["action"], "factory.work_order.completed");
        assert_eq!(entries[0]["target"], "work_order:wo-1");

        let login = entries
            .iter()
            .find(|e| e["action"] == "users.user.logged_in")
            .unwrap();
        assert_eq!(login["event_id"], events[0].id.as_str());
        assert_eq!(login["actor"], "u-ann");
        assert_eq!(login["target"], "user:u-ann");
        assert_eq!(login["client_ip"], "203.0.113.7");
        assert_eq!(login["request_id"], "req-login-1");
        assert_eq!(login["occurred_at"], "2026-03-01T10:00:00.000000Z");
        assert_eq!(login["source"], "users");
        assert_eq!(login["details"]["email"], "ann@example.com");

        let failed = entries
            .iter()
            .find(|e| e["action"] == "users.user.login_failed")
            .unwrap();
        assert_eq!(failed["actor"], Value::Null);
        assert_eq!(failed["target"], "email:ann@example.com");
        assert_eq!(failed["client_ip"], "198.51.100.9");

        let role = entries
            .iter()
            .find(|e| e["action"] == "users.user.role_changed")
            .unwrap();
        assert_eq!(role["actor"], admin_id.as_str());
        assert_eq!(role["details"]["new_role"], "manager");

        let setting = entries
            .iter()
            .find(|e| e["action"] == "config.setting.changed")
            .unwrap();
        assert_eq!(setting["target"], "setting:smtp.password");
        assert_eq!(setting["details"]["value"], "[redacted]");
        assert!(!all.to_string().contains("hunter2"));

        for (action, target) in [
            ("accounting.entry.posted", "entry:e-1"),
            ("accounting.entry.reversed", "entry:e-1"),
            ("shop.order.paid", "order:o-1"),
            ("users.user.deactivated", "user:u-bob"),
        ] {
            let e = entries.iter().find(|e| e["action"] == action).unwrap();
            assert_eq!(e["target"], target, "{action}");
        }
    }
}

#[tokio::test]
async fn the_audit_api_filters_pages_and_is_for_admins_only() {
    for backend in backends() {
        let w = world(&backend, &[]).await;
        let (admin_id, admin) = token(Role::Admin);
        publish_all(&w, catalog(&admin_id)).await;

        let v = get(&w, &admin, "?action=users.user").await;
        assert_eq!(v["total"], 4, "{}: {v}", w.name());
        assert_eq!(
            actions(&v),
            vec![
                "users.user.deactivated",
                "users.user.role_changed",
                "users.user.login_failed",
                "users.user.logged_in"
            ]
        );
        let v = get(&w, &admin, "?action=users.user.logged_in").await;
        assert_eq!(actions(&v), vec!["users.user.logged_in"]);
        let v = get(&w, &admin, "?action=shop.order.*").await;
        assert_eq!(actions(&v), vec!["shop.order.paid"]);
        // `_` is not a wildcard: this prefix matches nothing.
        let v = get(&w, &admin, "?action=factory.workXorder").await;
        assert_eq!(v["total"], 0);
        let v = get(&w, &admin, "?action=factory.work_order").await;
        assert_eq!(v["total"], 1);

        let v = get(&w, &admin, &format!("?actor={admin_id}")).await;
        assert_eq!(v["total"], 3);
        let v = get(&w, &admin, "?target=user:u-ann").await;
        assert_eq!(v["total"], 2);
        let v = get(&w, &admin, "?target=entry:e-1&action=accounting").await;
        assert_eq!(v["total"], 2);

        // Times: 10:00 .. 10:08; from/to are inclusive and any RFC 3339.
        let v = get(
            &w,
            &admin,
            "?from=2026-03-01T10:02:00Z&to=2026-03-01T13:04:00%2B03:00",
        )
        .await;
        assert_eq!(
            actions(&v),
            vec![
                "config.setting.changed",
                "users.user.deactivated",
                "users.user.role_changed"
            ]
        );

        // Pages, newest first.
        let p1 = get(&w, &admin, "?limit=4&page=1").await;
        let p3 = get(&w, &admin, "?limit=4&page=3").await;
        assert_eq!(
            (p1["total"].clone(), p1["page"].clone(), p1["limit"].clone()),
            (json!(9), json!(1), json!(4))
        );
        assert_eq!(actions(&p1).len(), 4);
        assert_eq!(actions(&p3), vec!["users.user.logged_in"]);

        let http = &w.server.http;
        let (_, user) = token(Role::User);
        let res = http
            .get("/api/audit")
            .bearer(&user)
            .send()
            .await
            .expect(403);
        assert_eq!(res.code(), "FORBIDDEN");
        let (_, manager) = token(Role::Manager);
        http.get("/api/audit")
            .bearer(&manager)
            .send()
            .await
            .expect(403);
        http.get("/api/audit").send().await.expect(401);
        let res = http
            .get("/api/audit?from=yesterday")
            .bearer(&admin)
            .send()
            .await
            .expect(400);
        assert_eq!(res.code(), "VALIDATION_ERROR");
        http.get("/api/audit?limit=1000")
            .bearer(&admin)
            .send()
            .await
            .expect(400);
        http.get("/api/audit?page=0")
            .bearer(&admin)
            .send()
            .await
            .expect(400);
    }
}

#[tokio::test]
async fn the_database_refuses_to_change_or_delete_audit_rows() {
    for backend in backends() {
        let w = world(&backend, &[]).await;
        publish_all(&w, catalog("admin-x")).await;
        let pool = w.worker.db().pool();

        let update = sqlx::query("UPDATE audit_log SET action = 'forged'")
            .execute(pool)
            .await;
        let err = update.expect_err("UPDATE must be refused").to_string();
        assert!(err.contains("append-only"), "{}: {err}", w.name());
        let delete = sqlx::query("DELETE FROM audit_log").execute(pool).await;
        let err = delete.expect_err("DELETE must be refused").to_string();
        assert!(err.contains("append-only"), "{}: {err}", w.name());
        assert_eq!(w.count("SELECT COUNT(*) FROM audit_log").await, 9);
        assert_eq!(
            w.count("SELECT COUNT(*) FROM audit_log WHERE action = 'forged'")
                .await,
            0
        );

        // A restart on the same database re-applies the triggers
        // idempotently, and they still hold.
        let again = context_on(ServiceName::Worker, w.settings.clone(), w.bus.clone()).await;
        let _router = marimo_worker::router_with(again.clone(), fast_tuning())
            .await
            .expect("second start on the same database");
        let err = sqlx::query("DELETE FROM audit_log WHERE action = 'users.user.logged_in'")
            .execute(again.db().pool())
            .await
            .expect_err("still refused after a restart")
            .to_string();
        assert!(err.contains("append-only"), "{err}");
    }
}

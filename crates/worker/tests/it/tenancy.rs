//! Tenancy (docs/TENANCY.md): two tenants' events flow through the worker
//! at once; each tenant's audit log, notifications, mails and webhooks
//! hold only its own events; ids of the other tenant's rows are 404 and
//! change nothing; the dead-letter API is the default tenant's admins'
//! only; on PostgreSQL the row policies hide the other tenant's rows from
//! an application role even without the store's filter.

use std::sync::{Arc, Mutex};

use axum::{Router, body::Bytes, http::StatusCode, routing::post};
use marimo_platform::{
    auth::{Role, jwt::Identity},
    bus::Envelope,
    ids::new_id,
    tenant::TenantId,
};
use marimo_testkit::{AppRole, backends, eventually, sign, spawn};
use serde_json::{Value, json};

use crate::support::{World, world};

fn tenants() -> (TenantId, TenantId) {
    (
        TenantId::parse("acme").unwrap(),
        TenantId::parse("globex").unwrap(),
    )
}

fn token_in(tenant: &TenantId, user_id: &str, role: Role) -> String {
    sign(&Identity {
        user_id: user_id.to_owned(),
        email: format!("{user_id}@example.com"),
        role,
        tenant: tenant.clone(),
    })
}

/// Publishes `env` in `tenant`'s transaction (the outbox stamps it).
async fn publish_in(w: &World, tenant: &TenantId, env: &Envelope) {
    let mut tx = w.publisher.db().tenant(tenant).begin().await.unwrap();
    w.publisher.outbox.publish(&mut tx, env).await.unwrap();
    tx.commit().await.unwrap();
    w.publisher.outbox.wake();
}

fn paid(order: &str, user: &str, total: &str) -> Envelope {
    Envelope::new(
        "shop",
        "shop.order.paid",
        json!({"order_id": order, "user_id": user, "email": format!("{user}@example.com"),
               "total": total, "currency": "EUR", "items": [], "status": "paid"}),
    )
}

/// A receiver counting the event types POSTed to it.
async fn receiver() -> (marimo_testkit::TestServer, String, Arc<Mutex<Vec<Value>>>) {
    let hits: Arc<Mutex<Vec<Value>>> = Arc::default();
    let h = hits.clone();
    let app = Router::new().route(
        "/hook",
        post(move |body: Bytes| {
            let h = h.clone();
            async move {
                h.lock()
                    .unwrap()
                    .push(serde_json::from_slice(&body).unwrap_or(Value::Null));
                StatusCode::NO_CONTENT
            }
        }),
    );
    let server = spawn(app).await;
    let url = format!("{}/hook", server.url);
    (server, url, hits)
}

async fn get(w: &World, token: &str, path: &str) -> Value {
    w.server
        .http
        .get(path)
        .bearer(token)
        .send()
        .await
        .expect(200)
        .json
}

#[tokio::test]
async fn two_tenants_events_stay_in_their_tenant() {
    for backend in backends() {
        let w = world(&backend, &[]).await;
        let http = &w.server.http;
        let (acme, globex) = tenants();
        let (acme_admin, globex_admin) = (new_id(), new_id());
        let acme_tok = token_in(&acme, &acme_admin, Role::Admin);
        let globex_tok = token_in(&globex, &globex_admin, Role::Admin);
        // The same customer id in both tenants: ids are only unique per
        // tenant as far as the worker knows.
        let customer = new_id();
        let acme_cust = token_in(&acme, &customer, Role::User);
        let globex_cust = token_in(&globex, &customer, Role::User);

        // Each tenant registers a webhook for shop orders.
        let (_ra, acme_url, acme_hits) = receiver().await;
        let (_rg, globex_url, globex_hits) = receiver().await;
        let hook = |tok: &str, url: &str| {
            let body = json!({"url": url, "event_types": ["shop.order.*"], "secret": "s3cret-s3cret-s3cret"});
            let tok = tok.to_owned();
            async move {
                http.post("/api/notifications/webhooks")
                    .bearer(&tok)
                    .json(body)
                    .send()
                    .await
                    .expect(201)
                    .json["webhook"]["id"]
                    .as_str()
                    .unwrap()
                    .to_owned()
            }
        };
        let acme_hook = hook(&acme_tok, &acme_url).await;
        let globex_hook = hook(&globex_tok, &globex_url).await;

        // Acme: two paid orders; Globex: one. The same order number in both.
        publish_in(&w, &acme, &paid("o-1", &customer, "10.00")).await;
        publish_in(&w, &acme, &paid("o-2", &customer, "2.50")).await;
        publish_in(&w, &globex, &paid("o-1", &customer, "7.00")).await;
        w.relayed().await;
        eventually("three deliveries delivered", || async {
            (w.count("SELECT COUNT(*) FROM webhook_deliveries WHERE status = 'delivered'")
                .await
                == 3)
                .then_some(())
        })
        .await;

        // Webhooks: each receiver got only its tenant's events.
        let totals = |hits: &Arc<Mutex<Vec<Value>>>| {
            let mut t: Vec<String> = hits
                .lock()
                .unwrap()
                .iter()
                .map(|e| e["payload"]["total"].as_str().unwrap_or("").to_owned())
                .collect();
            t.sort();
            t
        };
        assert_eq!(totals(&acme_hits), ["10.00", "2.50"], "{}", w.name());
        assert_eq!(totals(&globex_hits), ["7.00"], "{}", w.name());
        let acme_list = get(&w, &acme_tok, "/api/notifications/webhooks").await;
        assert_eq!(acme_list["webhooks"].as_array().unwrap().len(), 1);
        assert_eq!(acme_list["webhooks"][0]["id"], acme_hook.as_str());
        let d = get(
            &w,
            &acme_tok,
            &format!("/api/notifications/webhooks/{acme_hook}/deliveries"),
        )
        .await;
        assert_eq!(d["total"], 2, "{}", w.name());

        // Audit: 2 entries for Acme, 1 for Globex.
        let a = get(&w, &acme_tok, "/api/audit").await;
        assert_eq!(a["total"], 2, "{}", w.name());
        let g = get(&w, &globex_tok, "/api/audit").await;
        assert_eq!(g["total"], 1, "{}", w.name());
        assert!(g["entries"][0]["details"].to_string().contains("7.00"));

        // Notifications: the same user id sees 2 in Acme, 1 in Globex.
        let na = get(&w, &acme_cust, "/api/notifications").await;
        assert_eq!(
            (na["total"].clone(), na["unread_count"].clone()),
            (json!(2), json!(2))
        );
        let ng = get(&w, &globex_cust, "/api/notifications").await;
        assert_eq!(
            (ng["total"].clone(), ng["unread_count"].clone()),
            (json!(1), json!(1))
        );
        let globex_note = ng["notifications"][0]["id"].as_str().unwrap().to_owned();

        // Summary: per tenant (mails: one per paid order).
        eventually("mails stored", || async {
            (w.count("SELECT COUNT(*) FROM outgoing_mail").await == 3).then_some(())
        })
        .await;
        let sa = get(&w, &acme_tok, "/api/worker/summary").await;
        assert_eq!(sa["summary"]["audit_entries"], 2, "{sa}");
        assert_eq!(sa["summary"]["webhook_deliveries"]["delivered"], 2, "{sa}");
        let sg = get(&w, &globex_tok, "/api/worker/summary").await;
        assert_eq!(sg["summary"]["audit_entries"], 1, "{sg}");
        assert_eq!(sg["summary"]["webhook_deliveries"]["delivered"], 1, "{sg}");

        // Id guessing across tenants: 404, nothing changes.
        http.post(&format!("/api/notifications/{globex_note}/read"))
            .bearer(&acme_cust)
            .send()
            .await
            .expect(404);
        http.get(&format!(
            "/api/notifications/webhooks/{globex_hook}/deliveries"
        ))
        .bearer(&acme_tok)
        .send()
        .await
        .expect(404);
        http.delete(&format!("/api/notifications/webhooks/{globex_hook}"))
            .bearer(&acme_tok)
            .send()
            .await
            .expect(404);
        // Acme reads all its notifications: Globex's stays unread.
        let marked = http
            .post("/api/notifications/read-all")
            .bearer(&acme_cust)
            .send()
            .await
            .expect(200)
            .json;
        assert_eq!(marked["marked"], 2, "{}", w.name());
        let ng = get(&w, &globex_cust, "/api/notifications").await;
        assert_eq!(ng["unread_count"], 1, "{}", w.name());
        assert_eq!(
            get(&w, &globex_tok, "/api/notifications/webhooks").await["webhooks"]
                .as_array()
                .unwrap()
                .len(),
            1
        );

        // An event of Globex never touches Acme: Acme deletes its webhook,
        // Globex's next order is still delivered to Globex only.
        http.delete(&format!("/api/notifications/webhooks/{acme_hook}"))
            .bearer(&acme_tok)
            .send()
            .await
            .expect(200);
        publish_in(&w, &globex, &paid("o-2", &customer, "1.00")).await;
        w.relayed().await;
        eventually("globex's second delivery", || async {
            (globex_hits.lock().unwrap().len() == 2).then_some(())
        })
        .await;
        assert_eq!(acme_hits.lock().unwrap().len(), 2, "{}", w.name());
        assert_eq!(get(&w, &acme_tok, "/api/audit").await["total"], 2);
        assert_eq!(get(&w, &globex_tok, "/api/audit").await["total"], 2);
    }
}

#[tokio::test]
async fn dead_letters_are_for_the_default_tenants_admins_only() {
    for backend in backends() {
        let w = world(&backend, &[]).await;
        let (acme, _) = tenants();
        let acme_admin = token_in(&acme, &new_id(), Role::Admin);
        let default_admin = token_in(&TenantId::default_tenant(), &new_id(), Role::Admin);
        for path in [
            "/api/worker/dead-letters",
            "/api/worker/dead-letters/worker",
        ] {
            w.server
                .http
                .get(path)
                .bearer(&acme_admin)
                .send()
                .await
                .expect(403);
        }
        w.server
            .http
            .post("/api/worker/dead-letters/worker/replay")
            .bearer(&acme_admin)
            .send()
            .await
            .expect(403);
        w.server
            .http
            .get("/api/worker/dead-letters")
            .bearer(&default_admin)
            .send()
            .await
            .expect(200);
    }
}

#[tokio::test]
async fn row_policies_hide_other_tenants_rows_from_the_application_role() {
    let Some(backend) = marimo_testkit::postgres() else {
        return;
    };
    let w = world(&backend, &[]).await;
    let (acme, globex) = tenants();
    publish_in(&w, &acme, &paid("o-1", &new_id(), "3.00")).await;
    publish_in(&w, &globex, &paid("o-1", &new_id(), "4.00")).await;
    w.relayed().await;
    eventually("both audited", || async {
        (w.count("SELECT COUNT(*) FROM audit_log").await == 2).then_some(())
    })
    .await;

    let role = AppRole::connect(&w.settings.database, "worker").await;
    let app = &role.db;
    for table in marimo_worker_tables() {
        // Deliberately no tenant filter: the policy filters.
        let sql = format!("SELECT DISTINCT tenant_id FROM {table}");
        let mut tx = app.tenant(&acme).read().await.unwrap();
        let seen: Vec<String> = sqlx::query_scalar(sqlx::AssertSqlSafe(sql.clone()))
            .fetch_all(&mut *tx)
            .await
            .unwrap();
        assert!(seen.iter().all(|t| t == "acme"), "{table}: {seen:?}");
        drop(tx);
        let unscoped: Vec<String> = sqlx::query_scalar(sqlx::AssertSqlSafe(sql))
            .fetch_all(app.pool())
            .await
            .unwrap();
        assert!(
            unscoped.is_empty(),
            "{table} without a tenant: {unscoped:?}"
        );
    }
    let mut tx = app.tenant(&acme).read().await.unwrap();
    let totals: Vec<String> = sqlx::query_scalar("SELECT details FROM audit_log")
        .fetch_all(&mut *tx)
        .await
        .unwrap();
    assert_eq!(totals.len(), 1);
    assert!(totals[0].contains("3.00"), "{totals:?}");
    drop(tx);
    role.drop_role().await;
}

fn marimo_worker_tables() -> [&'static str; 7] {
    [
        "outgoing_mail",
        "audit_log",
        "notifications",
        "notification_reads",
        "webhooks",
        "webhook_deliveries",
        "webhook_attempts",
    ]
}

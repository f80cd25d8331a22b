//! In-app notifications: personal ones for the customer only, role ones
//! for every holder of the role, each with their own read state.

use marimo_platform::{auth::Role, bus::Envelope, ids::new_id};
use marimo_testkit::backends;
use serde_json::{Value, json};

use marimo_testkit::{eventually, token_for_user};

use crate::support::{World, token, world};

async fn list(w: &World, token: &str, query: &str) -> Value {
    w.server
        .http
        .get(&format!("/api/notifications{query}"))
        .bearer(token)
        .send()
        .await
        .expect(200)
        .json
}

fn kinds(v: &Value) -> Vec<String> {
    v["notifications"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| n["kind"].as_str().unwrap().to_owned())
        .collect()
}

#[tokio::test]
async fn a_paid_order_notifies_its_customer_only_who_can_mark_it_read() {
    for backend in backends() {
        let w = world(&backend, &[]).await;
        let ann = new_id();
        let bob = new_id();
        let ann_token = token_for_user(&ann, Role::User);
        let bob_token = token_for_user(&bob, Role::User);
        w.publish(&Envelope::new(
            "shop",
            "shop.order.paid",
            json!({"order_id": "o-42", "user_id": ann, "email": "ann@example.com",
                   "total": "19.90", "currency": "EUR", "items": [], "status": "paid"}),
        ))
        .await;
        eventually("the notification", || async {
            (w.count("SELECT COUNT(*) FROM notifications").await == 1).then_some(())
        })
        .await;
        w.redeliver_all().await;
        assert_eq!(
            w.count("SELECT COUNT(*) FROM notifications").await,
            1,
            "{}",
            w.name()
        );

        let v = list(&w, &ann_token, "").await;
        assert_eq!(v["success"], true);
        assert_eq!(v["unread_count"], 1);
        assert_eq!(v["total"], 1);
        let n = &v["notifications"][0];
        assert_eq!(n["kind"], "order.paid");
        assert_eq!(n["read"], false);
        assert!(n["body"].as_str().unwrap().contains("o-42"), "{n}");
        assert!(n["body"].as_str().unwrap().contains("19.90 EUR"), "{n}");
        let id = n["id"].as_str().unwrap().to_owned();

        // Bob sees nothing and cannot touch Ann's notification.
        let v = list(&w, &bob_token, "").await;
        assert_eq!(
            (v["total"].clone(), v["unread_count"].clone()),
            (json!(0), json!(0))
        );
        let http = &w.server.http;
        http.post(&format!("/api/notifications/{id}/read"))
            .bearer(&bob_token)
            .send()
            .await
            .expect(404);
        http.post("/api/notifications/not-a-uuid/read")
            .bearer(&ann_token)
            .send()
            .await
            .expect(404);
        http.get("/api/notifications").send().await.expect(401);

        // Ann marks it read (twice: the second is a no-op).
        for _ in 0..2 {
            http.post(&format!("/api/notifications/{id}/read"))
                .bearer(&ann_token)
                .send()
                .await
                .expect(200);
        }
        let v = list(&w, &ann_token, "").await;
        assert_eq!(v["unread_count"], 0);
        assert_eq!(v["notifications"][0]["read"], true);
        assert!(v["notifications"][0]["read_at"].is_string());
        let v = list(&w, &ann_token, "?unread_only=true").await;
        assert_eq!((v["total"].clone(), kinds(&v).len()), (json!(0), 0));
    }
}

#[tokio::test]
async fn role_notifications_reach_every_holder_with_a_read_state_each() {
    for backend in backends() {
        let w = world(&backend, &[]).await;
        let (_, manager_a) = token(Role::Manager);
        let (_, manager_b) = token(Role::Manager);
        let (_, customer) = token(Role::User);
        let (_, shop) = token(Role::ShopManager);
        w.publish(&Envelope::new(
            "factory",
            "factory.stock.low",
            json!({"sku": "BOLT-M8", "warehouse": "main", "on_hand": "3", "reorder_point": "10"}),
        ))
        .await;
        w.publish(&Envelope::new(
            "factory",
            "factory.work_order.released",
            json!({"work_order_id": "wo-7", "sku": "CHAIR", "qty": "12"}),
        ))
        .await;
        w.relayed().await;
        eventually("role notifications", || async {
            // stock.low → manager + admin; work order → manager.
            (w.count("SELECT COUNT(*) FROM notifications").await == 3).then_some(())
        })
        .await;

        let a = list(&w, &manager_a, "").await;
        assert_eq!(
            kinds(&a),
            vec!["work_order.released", "stock.low"],
            "{}",
            w.name()
        );
        assert_eq!(a["unread_count"], 2);
        assert_eq!(a["notifications"][1]["audience_role"], "manager");
        assert!(
            a["notifications"][1]["body"]
                .as_str()
                .unwrap()
                .contains("BOLT-M8 in warehouse main is down to 3")
        );
        assert_eq!(list(&w, &customer, "").await["total"], 0);
        assert_eq!(list(&w, &shop, "").await["total"], 0);

        // Manager A reads everything; manager B's state is their own.
        let res = w
            .server
            .http
            .post("/api/notifications/read-all")
            .bearer(&manager_a)
            .send()
            .await
            .expect(200);
        assert_eq!(res.json["marked"], 2);
        assert_eq!(list(&w, &manager_a, "").await["unread_count"], 0);
        let b = list(&w, &manager_b, "?unread_only=true").await;
        assert_eq!(b["unread_count"], 2);
        assert_eq!(kinds(&b).len(), 2);

        let stock_id = b["notifications"][1]["id"].as_str().unwrap().to_owned();
        w.server
            .http
            .post(&format!("/api/notifications/{stock_id}/read"))
            .bearer(&manager_b)
            .send()
            .await
            .expect(200);
        let b = list(&w, &manager_b, "?unread_only=true").await;
        assert_eq!(kinds(&b), vec!["work_order.released"]);
        assert_eq!(b["unread_count"], 1);
        // A customer cannot mark the managers' notification read.
        w.server
            .http
            .post(&format!("/api/notifications/{stock_id}/read"))
            .bearer(&customer)
            .send()
            .await
            .expect(404);

        // Paging.
        let p = list(&w, &manager_b, "?limit=1&page=2").await;
        assert_eq!(kinds(&p), vec!["stock.low"]);
        assert_eq!(
            (p["total"].clone(), p["page"].clone()),
            (json!(2), json!(2))
        );
    }
}

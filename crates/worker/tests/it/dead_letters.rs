//! `/api/worker/dead-letters`: every queue's dead letters, listed with why
//! they were given up on and sent back on request; admins only. (Here on
//! the embedded broker; the system suite runs it on RabbitMQ too.)

use marimo_platform::{auth::Role, bus::Envelope};
use marimo_testkit::{backends, eventually};
use serde_json::{Value, json};

use crate::support::{World, token, world};

/// A `shop.order.paid` of a version this worker does not read: the email
/// and notification consumers (both bound to it) dead-letter it at once;
/// the audit consumer records it.
fn unreadable() -> Envelope {
    let mut env = Envelope::new(
        "shop",
        "shop.order.paid",
        json!({"order_id": "o-1", "email": "ann@example.com", "total": "1.00"}),
    );
    env.version = 2;
    env
}

async fn depths(w: &World, admin: &str) -> Value {
    w.server
        .http
        .get("/api/worker/dead-letters")
        .bearer(admin)
        .send()
        .await
        .expect(200)
        .json
}

fn depth_of(queues: &Value, queue: &str) -> Option<u64> {
    queues["queues"]
        .as_array()?
        .iter()
        .find(|q| q["queue"] == queue)?["depth"]
        .as_u64()
}

#[tokio::test]
async fn dead_letters_are_listed_with_their_reason_and_replayed() {
    for backend in backends() {
        let w = world(&backend, &[]).await;
        let (_, admin) = token(Role::Admin);
        let env = unreadable();
        w.publish(&env).await;
        w.relayed().await;

        let queues = depths(&w, &admin).await;
        assert_eq!(queues["success"], true);
        assert_eq!(depth_of(&queues, "email_queue"), Some(1), "{queues}");
        assert_eq!(depth_of(&queues, "notification_queue"), Some(1));
        assert_eq!(depth_of(&queues, "audit_queue"), Some(0));
        assert_eq!(depth_of(&queues, "accounting"), Some(0));
        assert_eq!(queues["total"], 2);

        let listed = w
            .server
            .http
            .get("/api/worker/dead-letters/email_queue")
            .bearer(&admin)
            .send()
            .await
            .expect(200)
            .json;
        assert_eq!(listed["queue"], "email_queue");
        assert_eq!(listed["total"], 1);
        let letter = &listed["dead_letters"][0];
        assert_eq!(letter["event_id"], env.id.as_str());
        assert_eq!(letter["event_type"], "shop.order.paid");
        assert_eq!(letter["reason"], "permanent", "{letter}");
        assert_eq!(letter["attempts"], 1, "a permanent failure is not retried");
        assert!(letter["error"].as_str().unwrap().contains("v2"), "{letter}");
        assert!(
            marimo_platform::clock::parse(letter["failed_at"].as_str().unwrap()).is_some(),
            "{letter}"
        );
        assert_eq!(letter["envelope"]["id"], env.id.as_str());

        // Choosing an event that is not there sends nothing back.
        let none = w
            .server
            .http
            .post("/api/worker/dead-letters/email_queue/replay")
            .bearer(&admin)
            .json(json!({"ids": ["no-such-event"]}))
            .send()
            .await
            .expect(200)
            .json;
        assert_eq!(none["replayed"], 0);
        assert_eq!(depth_of(&depths(&w, &admin).await, "email_queue"), Some(1));

        // Replayed by id: it goes back through the worker's outbox, and —
        // still a version this worker cannot read — is given up on again.
        let again = w
            .server
            .http
            .post("/api/worker/dead-letters/email_queue/replay")
            .bearer(&admin)
            .json(json!({"ids": [env.id]}))
            .send()
            .await
            .expect(200)
            .json;
        assert_eq!(again["replayed"], 1, "{}", w.name());
        eventually("the replayed event was consumed again", || async {
            let n: i64 = sqlx::query_scalar(
                "SELECT COUNT(*) FROM outbox WHERE id = $1 AND sent_at IS NOT NULL",
            )
            .bind(&env.id)
            .fetch_one(w.worker.db().pool())
            .await
            .unwrap();
            (n == 1).then_some(())
        })
        .await;
        let queues = depths(&w, &admin).await;
        assert_eq!(depth_of(&queues, "email_queue"), Some(1), "{queues}");
        // The audit consumer applied it once, replay or not.
        assert_eq!(
            w.count("SELECT COUNT(*) FROM audit_log WHERE event_id IS NOT NULL")
                .await,
            1
        );

        // No body: every dead letter of the queue.
        let all = w
            .server
            .http
            .post("/api/worker/dead-letters/notification_queue/replay")
            .bearer(&admin)
            .send()
            .await
            .expect(200)
            .json;
        assert_eq!(all["replayed"], 1);
    }
}

#[tokio::test]
async fn only_admins_see_or_replay_dead_letters_and_only_of_known_queues() {
    let backend = backends().remove(0);
    let w = world(&backend, &[]).await;
    let http = &w.server.http;
    let (_, admin) = token(Role::Admin);
    for role in [
        Role::Manager,
        Role::Accountant,
        Role::ShopManager,
        Role::User,
    ] {
        let (_, t) = token(role);
        http.get("/api/worker/dead-letters")
            .bearer(&t)
            .send()
            .await
            .expect(403);
        http.get("/api/worker/dead-letters/email_queue")
            .bearer(&t)
            .send()
            .await
            .expect(403);
        http.post("/api/worker/dead-letters/email_queue/replay")
            .bearer(&t)
            .send()
            .await
            .expect(403);
    }
    http.get("/api/worker/dead-letters")
        .send()
        .await
        .expect(401);
    http.get("/api/worker/dead-letters/nope")
        .bearer(&admin)
        .send()
        .await
        .expect(404);
    http.post("/api/worker/dead-letters/nope/replay")
        .bearer(&admin)
        .send()
        .await
        .expect(404);
    let res = http
        .post("/api/worker/dead-letters/email_queue/replay")
        .bearer(&admin)
        .json(json!({"ids": []}))
        .send()
        .await
        .expect(400);
    assert_eq!(res.code(), "VALIDATION_ERROR");
    http.post("/api/worker/dead-letters/email_queue/replay")
        .bearer(&admin)
        .json(json!({"ids": "x"}))
        .send()
        .await
        .expect(400);
}

//! The expiry sweep runs under a lease, in Redis when configured: while
//! another replica holds it this shop skips its turns, and it sweeps once
//! the lease is free.

use std::time::Duration;

use marimo_platform::{auth::Role, lock};
use marimo_testkit::eventually;
use marimo_testkit::{Backend, TestRedis, redis_url};
use serde_json::json;

use crate::support::{App, WIDGET, line};

/// `scheduled_job_turns_total` of the sweep with this outcome.
async fn turns(app: &App, outcome: &str) -> u64 {
    let metrics = app.http().get("/metrics").send().await.expect(200).text;
    metrics
        .lines()
        .filter(|l| l.starts_with("scheduled_job_turns_total{"))
        .filter(|l| l.contains("job=\"shop.order-expiry\""))
        .find(|l| l.contains(&format!("outcome=\"{outcome}\"")))
        .and_then(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .map_or(0, |v| v as u64)
}

async fn order_status(app: &App, id: &str) -> String {
    sqlx::query_scalar("SELECT status FROM orders WHERE id = $1")
        .bind(id)
        .fetch_one(app.pool())
        .await
        .unwrap()
}

#[tokio::test]
async fn the_sweep_waits_for_the_lease_another_replica_holds_in_redis() {
    let Some(url) = redis_url() else { return };
    let redis = TestRedis::new(&url);
    let app = App::start_with(&Backend::Sqlite, &redis.vars()).await;
    // Another replica holds the sweep's lease.
    let other = lock::from_redis(Some(redis.client("shop")));
    let name = format!("shop.{}", marimo_shop::SWEEP_JOB);
    assert!(
        other
            .acquire(&name, "other-replica", Duration::from_secs(120))
            .await
            .unwrap()
    );

    let ann = app.user(Role::User);
    let order = app.order(&ann, json!([line(WIDGET, 2)])).await;
    let id = order["id"].as_str().unwrap();
    sqlx::query("UPDATE orders SET expires_at = '2000-01-01T00:00:00.000000Z' WHERE id = $1")
        .bind(id)
        .execute(app.pool())
        .await
        .unwrap();
    // A whole turn after the order fell due, taken while the lease is held.
    let busy = turns(&app, "busy").await;
    eventually("a busy turn of the expiry job", || async {
        turns(&app, "busy").await > busy
    })
    .await;
    assert_eq!(
        order_status(&app, id).await,
        "pending",
        "swept without the lease"
    );
    assert_eq!(turns(&app, "ran").await, 0);

    assert!(other.release(&name, "other-replica").await.unwrap());
    eventually("the order to expire", || async {
        order_status(&app, id).await == "expired"
    })
    .await;
    assert!(turns(&app, "ran").await >= 1);
}

//! A service process killed with SIGKILL in the middle of relaying its
//! outbox to RabbitMQ, then started again: every event arrives, and the
//! consumer applies each exactly once (its inbox absorbs the redeliveries
//! of what was sent but not yet marked sent when the process died).

use std::{
    process::{Child, Command, Stdio},
    time::Duration,
};

use marimo_platform::{
    bus::{Bus, Envelope, Outbox, inbox, rabbit::RabbitBroker, schema},
    config::DatabaseConfig,
    db::Db,
    ids::new_id,
    service::ServiceName,
};
use marimo_testkit::{TEST_JWT_SECRET, backends, context_on, eventually_within, rabbitmq_url};
use serde_json::json;
use tokio_util::sync::CancellationToken;

const EVENTS: i64 = 4000;

/// `marimo serve shop` on `settings`' database and the real RabbitMQ.
fn serve_shop(settings: &marimo_platform::config::Settings, rabbit: &str) -> Child {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_marimo"));
    cmd.env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("MARIMO_DATA_DIR", &settings.data_dir)
        .env("JWT_SECRET", TEST_JWT_SECRET)
        .env("RABBITMQ_URL", rabbit)
        .env("LOG_LEVEL", "warn")
        .args(["serve", "shop", "--port", "0"])
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    if let DatabaseConfig::Postgres { url } = &settings.database {
        cmd.env("DATABASE_URL", url);
    }
    cmd.spawn().expect("marimo starts")
}

async fn count(db: &Db, sql: &'static str) -> i64 {
    sqlx::query_scalar::<_, i64>(sql)
        .fetch_one(db.pool())
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_service_killed_mid_relay_loses_nothing_and_applies_nothing_twice() {
    let Some(url) = rabbitmq_url() else { return };
    for backend in backends() {
        eprintln!("--- backend: {}", backend.name());
        let settings = backend.settings(&[]).await;
        let token = new_id().replace('-', "");
        let event_type = format!("shop.t{token}.paid");
        let queue = format!("test-crash-{token}");

        // The shop's outbox, filled before its process starts.
        let shop_db = Db::connect("shop", &settings.database, settings.migrate)
            .await
            .unwrap();
        schema::prepare(&shop_db).await.unwrap();
        let outbox = Outbox::default();
        let mut tx = shop_db.begin().await.unwrap();
        for n in 0..EVENTS {
            let env = Envelope::new("shop", &event_type, json!({"n": n}));
            outbox.publish(&mut tx, &env).await.unwrap();
        }
        tx.commit().await.unwrap();

        // The consumer: its own queue, an inbox, one effect row per event.
        let broker = RabbitBroker::start(&url, CancellationToken::new())
            .await
            .unwrap();
        let bus = Bus::new(broker.clone());
        let consumer = context_on(ServiceName::Accounting, settings.clone(), bus.clone()).await;
        let db = consumer.db().clone();
        sqlx::query("CREATE TABLE effects (event_id TEXT PRIMARY KEY)")
            .execute(db.pool())
            .await
            .unwrap();
        let handler_db = db.clone();
        let binding = format!("shop.t{token}.*");
        bus.subscribe(&db, &queue, &[binding.as_str()], move |env: Envelope| {
            let db = handler_db.clone();
            async move {
                let Some(mut tx) = inbox::begin(&db, "crash-test", &env.id).await? else {
                    return Ok(());
                };
                // A plain INSERT: a second application would violate the key.
                sqlx::query("INSERT INTO effects (event_id) VALUES ($1)")
                    .bind(&env.id)
                    .execute(&mut *tx)
                    .await?;
                tx.commit().await?;
                Ok(())
            }
        })
        .await
        .unwrap();

        // Start the shop, let it relay part of the outbox, then kill it.
        let mut shop = serve_shop(&settings, &url);
        eventually_within(
            Duration::from_secs(60),
            "the first events applied",
            async || count(&db, "SELECT COUNT(*) FROM effects").await >= 200,
        )
        .await;
        shop.kill().unwrap(); // SIGKILL: no drain, no lease release
        shop.wait().unwrap();
        let unsent = count(
            &shop_db,
            "SELECT COUNT(*) FROM outbox WHERE sent_at IS NULL",
        )
        .await;
        assert!(
            unsent > 0,
            "the process died mid-relay (everything was sent already)"
        );

        // Started again, it takes the lease once the dead holder's expires
        // and sends the rest.
        let mut shop = serve_shop(&settings, &url);
        eventually_within(
            Duration::from_secs(120),
            "every event applied",
            async || count(&db, "SELECT COUNT(*) FROM effects").await == EVENTS,
        )
        .await;
        eventually_within(Duration::from_secs(60), "the outbox drained", async || {
            count(
                &shop_db,
                "SELECT COUNT(*) FROM outbox WHERE sent_at IS NULL",
            )
            .await
                == 0
        })
        .await;
        shop.kill().unwrap();
        shop.wait().unwrap();

        assert_eq!(count(&db, "SELECT COUNT(*) FROM effects").await, EVENTS);
        assert_eq!(
            count(
                &db,
                "SELECT COUNT(*) FROM processed_events WHERE consumer = 'crash-test'"
            )
            .await,
            EVENTS,
            "each event applied exactly once"
        );
        broker.shutdown().await;
        delete_queue(&url, &queue).await;
    }
}

async fn delete_queue(url: &str, queue: &str) {
    use lapin::{Connection, ConnectionProperties, options::QueueDeleteOptions};
    let conn = Connection::connect(url, ConnectionProperties::default())
        .await
        .unwrap();
    let channel = conn.create_channel().await.unwrap();
    for q in [
        queue.to_owned(),
        marimo_platform::bus::rabbit::dlq_name(queue),
    ] {
        let _ = channel
            .queue_delete(q.as_str().into(), QueueDeleteOptions::default())
            .await;
    }
    let _ = conn.close(200, "OK".into()).await;
}

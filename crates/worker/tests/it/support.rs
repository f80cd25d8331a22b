//! A worker on a real database and a shared embedded bus, plus a publisher
//! service whose outbox feeds it, as in production.

use std::{future::Future, time::Duration};

use marimo_platform::{
    auth::{JwtKeys, Role, jwt::Identity},
    bus::{Bus, Envelope},
    config::Settings,
    ids::new_id,
    service::{ServiceContext, ServiceName},
};
use marimo_testkit::{Backend, TEST_JWT_SECRET, TestServer, context_on, spawn};
use marimo_worker::{WorkerTuning, domain::Backoff};

pub struct World {
    pub backend: Backend,
    pub settings: Settings,
    pub bus: Bus,
    pub worker: ServiceContext,
    pub publisher: ServiceContext,
    pub server: TestServer,
}

/// Short waits so retries happen within a test; the schedule's shape is
/// the production one.
pub fn fast_tuning() -> WorkerTuning {
    WorkerTuning {
        mail_retry: Backoff {
            base: Duration::from_millis(50),
            factor: 2,
            cap: Duration::from_millis(200),
            max_attempts: 1000,
        },
        webhook_retry: Backoff {
            base: Duration::from_millis(50),
            factor: 2,
            cap: Duration::from_millis(200),
            max_attempts: 4,
        },
        poll_interval: Duration::from_millis(25),
        ..WorkerTuning::default()
    }
}

pub async fn world(backend: &Backend, overrides: &[(&str, &str)]) -> World {
    let bus = Bus::embedded();
    // The test receivers listen on loopback, which webhooks may reach only
    // when allowed; a test that says otherwise overrides it.
    let mut vars = vec![("WEBHOOK_ALLOWED_NETWORKS", "127.0.0.1/32")];
    vars.extend_from_slice(overrides);
    let settings = backend.settings(&vars).await;
    let worker = context_on(ServiceName::Worker, settings.clone(), bus.clone()).await;
    let router = marimo_worker::router_with(worker.clone(), fast_tuning())
        .await
        .expect("worker starts");
    let server = spawn(router).await;
    let publisher = context_on(ServiceName::Users, settings.clone(), bus.clone()).await;
    World {
        backend: backend.clone(),
        settings,
        bus,
        worker,
        publisher,
        server,
    }
}

impl World {
    /// Publishes through the publisher's outbox, in a transaction.
    pub async fn publish(&self, env: &Envelope) {
        let mut tx = self.publisher.db().begin().await.unwrap();
        self.publisher.outbox.publish(&mut tx, env).await.unwrap();
        tx.commit().await.unwrap();
        self.publisher.outbox.wake();
    }

    /// Waits until the publisher's relay has handed every event to the
    /// bus; the embedded broker confirms only after every consumer ran.
    pub async fn relayed(&self) {
        eventually("outbox relayed", || async {
            (self
                .count_pub("SELECT COUNT(*) FROM outbox WHERE sent_at IS NULL")
                .await
                == 0)
                .then_some(())
        })
        .await;
    }

    /// As if the relay had crashed before marking the events sent.
    pub async fn redeliver_all(&self) {
        sqlx::query("UPDATE outbox SET sent_at = NULL")
            .execute(self.publisher.db().pool())
            .await
            .unwrap();
        self.publisher.outbox.wake();
        self.relayed().await;
    }

    pub async fn count(&self, sql: &'static str) -> i64 {
        sqlx::query_scalar::<_, i64>(sql)
            .fetch_one(self.worker.db().pool())
            .await
            .unwrap()
    }

    async fn count_pub(&self, sql: &'static str) -> i64 {
        sqlx::query_scalar::<_, i64>(sql)
            .fetch_one(self.publisher.db().pool())
            .await
            .unwrap()
    }

    pub fn name(&self) -> &'static str {
        self.backend.name()
    }
}

/// A bearer token for a new user id with `role`.
pub fn token(role: Role) -> (String, String) {
    let user_id = new_id();
    let (token, _) = JwtKeys::new(TEST_JWT_SECRET.as_bytes()).issue(&Identity {
        user_id: user_id.clone(),
        email: format!("{}@example.com", role.as_str()),
        role,
    });
    (user_id, token)
}

/// A bearer token for a given user id.
pub fn token_for(user_id: &str, role: Role) -> String {
    JwtKeys::new(TEST_JWT_SECRET.as_bytes())
        .issue(&Identity {
            user_id: user_id.to_owned(),
            email: "someone@example.com".into(),
            role,
        })
        .0
}

/// Polls `probe` until it yields a value; fails after 30 s.
pub async fn eventually<T, F, Fut>(what: &str, mut probe: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    loop {
        if let Some(v) = probe().await {
            return v;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

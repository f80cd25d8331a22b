//! A worker on a real database and a shared embedded bus, plus a publisher
//! service whose outbox feeds it, as in production.

use std::time::Duration;

use marimo_platform::{
    auth::Role,
    bus::{Bus, Envelope},
    config::Settings,
    ids::new_id,
    service::{ServiceContext, ServiceName},
};
use marimo_testkit::{
    Backend, Service, TestServer, context_on, eventually, start_service, token_for_user,
};
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
    let Service {
        ctx: worker,
        server,
    } = start_service(ServiceName::Worker, settings.clone(), bus.clone(), |ctx| {
        marimo_worker::router_with(ctx, fast_tuning())
    })
    .await;
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

/// A new user id with `role`, and its bearer token (users own their
/// notifications and webhooks, so each test wants users of its own).
pub fn token(role: Role) -> (String, String) {
    let user_id = new_id();
    let token = token_for_user(&user_id, role);
    (user_id, token)
}

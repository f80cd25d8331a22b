//! A config service on a fresh database, and tokens for each role.

use marimo_platform::db::DbPool;
use marimo_platform::{
    auth::Role,
    bus::Bus,
    ids,
    service::{ServiceContext, ServiceName},
};
use marimo_testkit::{self as testkit, Backend, Http, TestServer};
use serde_json::Value;

pub struct App {
    pub server: TestServer,
    pub ctx: ServiceContext,
    pub settings: marimo_platform::config::Settings,
}

/// What `testkit::each_backend` starts: the service on a fresh database.
impl testkit::Fixture for App {
    async fn start(backend: &Backend) -> Self {
        App::on(backend.settings(&[]).await).await
    }
}

impl App {
    /// A start of the service on `settings` (again: a restart).
    pub async fn on(settings: marimo_platform::config::Settings) -> App {
        let testkit::Service { ctx, server } = testkit::start_service(
            ServiceName::Config,
            settings.clone(),
            Bus::embedded(),
            marimo_config::router,
        )
        .await;
        App {
            server,
            ctx,
            settings,
        }
    }

    pub fn http(&self) -> &Http {
        &self.server.http
    }

    pub fn pool(&self) -> &DbPool {
        self.ctx.db().pool()
    }

    /// An access token for a (made-up) user with `role`.
    pub fn token(&self, role: Role) -> String {
        testkit::token_for_user(&ids::new_id(), role)
    }

    pub fn admin(&self) -> String {
        self.token(Role::Admin)
    }

    /// Payloads of the outbox events of `event_type`, oldest first.
    pub async fn events(&self, event_type: &str) -> Vec<Value> {
        let rows: Vec<String> =
            sqlx::query_scalar("SELECT envelope FROM outbox WHERE event_type = $1 ORDER BY id")
                .bind(event_type)
                .fetch_all(self.pool())
                .await
                .unwrap();
        rows.iter()
            .map(|r| serde_json::from_str::<Value>(r).unwrap())
            .collect()
    }
}

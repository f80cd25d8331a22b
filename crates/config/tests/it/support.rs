//! A config service on a fresh database, and tokens for each role.

use marimo_platform::db::DbPool;
use marimo_platform::{
    auth::{Role, jwt::Identity},
    ids,
    service::{ServiceContext, ServiceName},
};
use marimo_testkit::{self as testkit, Http, TestServer};
use serde_json::Value;

pub struct App {
    pub server: TestServer,
    pub ctx: ServiceContext,
    pub settings: marimo_platform::config::Settings,
}

/// Runs `test` once per backend, each on a fresh database.
pub async fn each_backend<F, Fut>(test: F)
where
    F: Fn(App) -> Fut,
    Fut: std::future::Future<Output = ()>,
{
    for backend in testkit::backends() {
        eprintln!("--- backend: {}", backend.name());
        let settings = backend.settings(&[]).await;
        test(App::on(settings).await).await;
    }
}

impl App {
    /// A start of the service on `settings` (again: a restart).
    pub async fn on(settings: marimo_platform::config::Settings) -> App {
        let ctx = testkit::context(ServiceName::Config, settings.clone()).await;
        let router = marimo_config::router(ctx.clone())
            .await
            .expect("config router starts");
        App {
            server: testkit::spawn(router).await,
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
        self.ctx
            .jwt
            .issue(&Identity {
                user_id: ids::new_id(),
                email: format!("{role}@example.com"),
                role,
            })
            .0
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

//! A users service on a fresh database, driven over HTTP.

use marimo_platform::db::DbPool;
use marimo_platform::{
    auth::Role,
    bus::Bus,
    config::Settings,
    service::{ServiceContext, ServiceName},
};
use marimo_testkit::{self as testkit, Backend, Http, Res, TestServer};
use serde_json::{Value, json};

pub const ADMIN_EMAIL: &str = "root@marimo.test";
pub const ADMIN_PASSWORD: &str = "Bootstrap1Admin";
pub const PASSWORD: &str = "Secret123";

pub struct App {
    pub server: TestServer,
    pub ctx: ServiceContext,
    pub settings: Settings,
    pub backend: &'static str,
}

#[derive(Debug, Clone)]
pub struct Tokens {
    pub access: String,
    pub refresh: String,
    pub user_id: String,
}

/// What `testkit::each_backend` starts: a fresh database with the
/// bootstrap admin.
impl testkit::Fixture for App {
    async fn start(backend: &Backend) -> Self {
        App::start(backend).await
    }
}

impl App {
    pub async fn start(backend: &Backend) -> App {
        let settings = backend
            .settings(&[
                ("MARIMO_ADMIN_EMAIL", ADMIN_EMAIL),
                ("MARIMO_ADMIN_PASSWORD", ADMIN_PASSWORD),
            ])
            .await;
        Self::on(settings, backend.name()).await
    }

    /// Another start of the service on the same settings (a restart).
    pub async fn on(settings: Settings, backend: &'static str) -> App {
        let testkit::Service { ctx, server } = testkit::start_service(
            ServiceName::Users,
            settings.clone(),
            Bus::embedded(),
            marimo_users::router,
        )
        .await;
        App {
            server,
            ctx,
            settings,
            backend,
        }
    }

    pub fn http(&self) -> &Http {
        &self.server.http
    }

    pub fn pool(&self) -> &DbPool {
        self.ctx.db().pool()
    }

    pub async fn register(&self, email: &str, name: &str) -> Value {
        let res = self
            .http()
            .post("/api/users/register")
            .json(json!({"email": email, "password": PASSWORD, "name": name}))
            .send()
            .await
            .expect(201);
        res.json["user"].clone()
    }

    pub async fn login(&self, email: &str, password: &str) -> Res {
        self.http()
            .post("/api/users/login")
            .json(json!({"email": email, "password": password}))
            .send()
            .await
    }

    #[track_caller]
    pub fn tokens(res: Res) -> Tokens {
        let res = res.expect(200);
        Tokens {
            access: res.json["access_token"].as_str().unwrap().to_owned(),
            refresh: res.json["refresh_token"].as_str().unwrap().to_owned(),
            user_id: res.json["user"]["id"].as_str().unwrap_or("").to_owned(),
        }
    }

    pub async fn login_ok(&self, email: &str, password: &str) -> Tokens {
        Self::tokens(self.login(email, password).await)
    }

    pub async fn admin(&self) -> Tokens {
        self.login_ok(ADMIN_EMAIL, ADMIN_PASSWORD).await
    }

    /// An account with `role` (through the CLI's entry point), signed in.
    pub async fn user_with_role(&self, email: &str, role: Role) -> Tokens {
        marimo_users::create_user(&self.ctx, email, "Test User", PASSWORD, role)
            .await
            .expect("create_user");
        self.login_ok(email, PASSWORD).await
    }

    pub async fn refresh(&self, token: &str) -> Res {
        self.http()
            .post("/api/users/refresh")
            .json(json!({"refresh_token": token}))
            .send()
            .await
    }

    pub async fn profile(&self, access: &str) -> Res {
        self.http()
            .get("/api/users/profile")
            .bearer(access)
            .send()
            .await
    }

    pub async fn stored_hash(&self, email: &str) -> String {
        sqlx::query_scalar("SELECT password_hash FROM users WHERE email = $1")
            .bind(email)
            .fetch_one(self.pool())
            .await
            .unwrap()
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

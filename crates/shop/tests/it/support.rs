//! A shop service on a fresh database, driven over HTTP, with other
//! services' contexts on the same bus to publish the events it consumes.

use marimo_platform::db::DbPool;
use marimo_platform::{
    auth::{Role, jwt::Identity},
    bus::{Bus, Envelope},
    config::Settings,
    ids,
    service::{ServiceContext, ServiceName},
    tenant::TenantId,
};
use marimo_testkit::{self as testkit, Backend, Http, Res, TestServer, eventually};
use serde_json::{Value, json};

/// The seeded catalog (migration `..._seed_catalog.sql`).
pub const WIDGET: &str = "0193a0c0-0000-7000-8000-000000000001";
pub const GADGET: &str = "0193a0c0-0000-7000-8000-000000000002";

pub struct App {
    pub server: TestServer,
    pub ctx: ServiceContext,
    pub settings: Settings,
    pub bus: Bus,
    pub backend: &'static str,
}

/// A signed-in user: an access token for a random id.
#[derive(Debug, Clone)]
pub struct User {
    pub id: String,
    pub email: String,
    pub token: String,
}

/// What `testkit::each_backend` starts: a shop on a fresh database.
impl testkit::Fixture for App {
    async fn start(backend: &Backend) -> Self {
        App::start(backend).await
    }
}

impl App {
    pub async fn start(backend: &Backend) -> App {
        Self::start_with(backend, &[]).await
    }

    /// A shop with these settings overrides (e.g. Redis).
    pub async fn start_with(backend: &Backend, overrides: &[(&str, &str)]) -> App {
        Self::start_on(backend.settings(overrides).await, backend.name()).await
    }

    /// A shop on the database `settings` name (which may hold data).
    pub async fn start_on(settings: Settings, backend: &'static str) -> App {
        let bus = Bus::embedded();
        let testkit::Service { ctx, server } = testkit::start_service(
            ServiceName::Shop,
            settings.clone(),
            bus.clone(),
            marimo_shop::router,
        )
        .await;
        App {
            server,
            ctx,
            settings,
            bus,
            backend,
        }
    }

    pub fn http(&self) -> &Http {
        &self.server.http
    }

    pub fn pool(&self) -> &DbPool {
        self.ctx.db().pool()
    }

    pub fn user(&self, role: Role) -> User {
        self.user_in(role, &TenantId::default_tenant())
    }

    /// A signed-in user of `tenant` (the token's `tid`).
    pub fn user_in(&self, role: Role, tenant: &TenantId) -> User {
        self.user_as(&ids::new_id(), role, tenant)
    }

    /// User `id` signed in to `tenant` (one person may belong to several).
    pub fn user_as(&self, id: &str, role: Role, tenant: &TenantId) -> User {
        let email = format!("{}-{}@example.com", role.as_str(), &id[id.len() - 8..]);
        let token = testkit::sign(&Identity {
            user_id: id.to_owned(),
            email: email.clone(),
            role,
            tenant: tenant.clone(),
        });
        User {
            id: id.to_owned(),
            email,
            token,
        }
    }

    /// Creates a product as an admin; returns its JSON.
    pub async fn product(&self, fields: Value) -> Value {
        let admin = self.user(Role::Admin);
        self.http()
            .post("/api/shop/admin/products")
            .bearer(&admin.token)
            .json(fields)
            .send()
            .await
            .expect(201)
            .json["product"]
            .clone()
    }

    pub async fn place(&self, user: &User, items: Value) -> Res {
        self.http()
            .post("/api/shop/orders")
            .bearer(&user.token)
            .json(json!({ "items": items }))
            .send()
            .await
    }

    /// Places an order that must succeed; returns the order JSON.
    pub async fn order(&self, user: &User, items: Value) -> Value {
        self.place(user, items).await.expect(201).json["order"].clone()
    }

    /// An action on an order; `pay` carries the method and reference of
    /// the payment received that staff must give.
    pub async fn act(&self, user: &User, order_id: &str, action: &str) -> Res {
        let req = self
            .http()
            .post(&format!("/api/shop/orders/{order_id}/{action}"))
            .bearer(&user.token);
        let req = if action == "pay" {
            req.json(json!({"method": "card", "reference": "TEST-RECEIPT"}))
        } else {
            req
        };
        req.send().await
    }

    pub async fn stock(&self, product_id: &str) -> i64 {
        sqlx::query_scalar("SELECT stock FROM products WHERE id = $1")
            .bind(product_id)
            .fetch_one(self.pool())
            .await
            .unwrap()
    }

    pub async fn scalar(&self, sql: &'static str) -> i64 {
        sqlx::query_scalar::<_, i64>(sql)
            .fetch_one(self.pool())
            .await
            .unwrap()
    }

    /// Envelopes of the shop's outbox of `event_type`, oldest first.
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

    /// The envelopes of `event_type` about `order_id`.
    pub async fn order_events(&self, event_type: &str, order_id: &str) -> Vec<Value> {
        self.events(event_type)
            .await
            .into_iter()
            .filter(|e| e["payload"]["order_id"] == order_id)
            .collect()
    }

    /// Another service's context on the shop's bus (a publisher of the
    /// events the shop consumes).
    pub async fn peer(&self, name: ServiceName) -> ServiceContext {
        testkit::context_on(name, self.settings.clone(), self.bus.clone()).await
    }

    /// Sets a shop setting the way the config service will: by publishing
    /// `config.setting.changed`, then waits until the shop applied it.
    pub async fn set_setting(&self, config: &ServiceContext, key: &str, value: &str, version: i64) {
        publish(
            config,
            Envelope::new(
                "config",
                "config.setting.changed",
                json!({"key": key, "version": version, "value_type": "decimal", "value": value}),
            ),
        )
        .await;
        let admin = self.user(Role::Admin);
        eventually("the setting to reach the shop", || async {
            let res = self
                .http()
                .get("/api/shop/admin/settings")
                .bearer(&admin.token)
                .send()
                .await
                .expect(200);
            res.json["settings"][key] == value
        })
        .await;
    }
}

/// Publishes `env` through `ctx`'s outbox (as that service would) and
/// wakes its relay.
pub async fn publish(ctx: &ServiceContext, env: Envelope) -> Envelope {
    publish_in(ctx, &TenantId::default_tenant(), env).await
}

/// [`publish`] from a transaction of `tenant`: the event carries it.
pub async fn publish_in(ctx: &ServiceContext, tenant: &TenantId, mut env: Envelope) -> Envelope {
    env.tenant = tenant.clone();
    let mut tx = ctx.db().tenant(tenant).begin().await.unwrap();
    ctx.outbox.publish(&mut tx, &env).await.unwrap();
    tx.commit().await.unwrap();
    ctx.outbox.wake();
    env
}

/// Waits until `ctx`'s relay handed `env` to every consumer (the embedded
/// broker confirms only after each matching handler returned).
pub async fn delivered(ctx: &ServiceContext, env: &Envelope) {
    let pool = ctx.db().pool().clone();
    eventually("the event to be relayed", || {
        let pool = pool.clone();
        let id = env.id.clone();
        async move {
            sqlx::query_scalar::<_, i64>(
                "SELECT COUNT(*) FROM outbox WHERE id = $1 AND sent_at IS NOT NULL",
            )
            .bind(id)
            .fetch_one(&pool)
            .await
            .unwrap()
                == 1
        }
    })
    .await;
}

pub fn line(product_id: &str, quantity: i64) -> Value {
    json!({"product_id": product_id, "quantity": quantity})
}

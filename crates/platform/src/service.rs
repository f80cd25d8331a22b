//! The services of Marimo ERP and what a service is started with.

use std::{fmt, str::FromStr, sync::Arc};

use tokio_util::{sync::CancellationToken, task::TaskTracker};

use crate::{
    auth::jwt::JwtKeys,
    bus::{Bus, Outbox, relay::Relay},
    config::Settings,
    db::Db,
    lock::Locks,
    redis::Redis,
    telemetry::{self, Metrics, Tracer},
};

/// What a service crate's start-up can fail with (migrations, seeds, bad
/// configuration); reported by the binary, which then exits non-zero.
pub type StartError = Box<dyn std::error::Error + Send + Sync>;

/// Every service the `marimo` binary can run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum ServiceName {
    Gateway,
    Users,
    Config,
    Accounting,
    Factory,
    Shop,
    Main,
    Worker,
}

impl ServiceName {
    pub const ALL: [ServiceName; 8] = [
        Self::Gateway,
        Self::Users,
        Self::Config,
        Self::Accounting,
        Self::Factory,
        Self::Shop,
        Self::Main,
        Self::Worker,
    ];

    /// The services behind the gateway, in the order `/health` lists them.
    pub const UPSTREAMS: [ServiceName; 7] = [
        Self::Users,
        Self::Config,
        Self::Accounting,
        Self::Factory,
        Self::Shop,
        Self::Main,
        Self::Worker,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Gateway => "gateway",
            Self::Users => "users",
            Self::Config => "config",
            Self::Accounting => "accounting",
            Self::Factory => "factory",
            Self::Shop => "shop",
            Self::Main => "main",
            Self::Worker => "worker",
        }
    }

    pub fn default_port(self) -> u16 {
        match self {
            Self::Gateway => 8080,
            Self::Users => 8081,
            Self::Config => 8082,
            Self::Accounting => 8083,
            Self::Factory => 8084,
            Self::Shop => 8085,
            Self::Main => 8086,
            Self::Worker => 8087,
        }
    }

    /// `USERS_PORT`, `GATEWAY_PORT`, ... (the original's .env names).
    pub fn port_var(self) -> String {
        format!("{}_PORT", self.as_str().to_ascii_uppercase())
    }

    /// `USERS_URLS`, ...: comma-separated base URLs of its instances.
    pub fn urls_var(self) -> String {
        format!("{}_URLS", self.as_str().to_ascii_uppercase())
    }

    /// Whether the service keeps its own tables.
    pub fn has_database(self) -> bool {
        !matches!(self, Self::Gateway | Self::Main)
    }
}

impl fmt::Display for ServiceName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for ServiceName {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::ALL
            .into_iter()
            .find(|n| n.as_str() == s)
            .ok_or_else(|| format!("unknown service '{s}'"))
    }
}

/// Everything a service needs from the platform, built once at start.
#[derive(Clone)]
pub struct ServiceContext {
    pub name: ServiceName,
    pub settings: Arc<Settings>,
    /// `None` for services without tables of their own.
    pub db: Option<Db>,
    pub jwt: Arc<JwtKeys>,
    pub metrics: Metrics,
    /// This service's spans (exported when `OTEL_EXPORTER_OTLP_ENDPOINT` is set).
    pub tracer: Tracer,
    /// The process's event bus (consumers subscribe here).
    pub bus: Bus,
    /// This service's outbox (publishers write here, in their transaction).
    pub outbox: Outbox,
    /// Redis when `REDIS_ADDR` is set (connected lazily; see
    /// [`crate::redis`]).
    pub redis: Option<Redis>,
    /// Leases for scheduled jobs: in Redis when configured, else in process.
    pub locks: Arc<dyn Locks>,
    /// Cancelled when the process shuts down; background jobs stop on it.
    pub shutdown: CancellationToken,
    /// Background jobs spawned here are awaited at shutdown.
    pub tasks: TaskTracker,
}

impl ServiceContext {
    /// A context for `name`. A service that keeps tables gets its database
    /// connected, the bus tables prepared and its outbox relay running.
    /// Redis, when configured, is not contacted yet (a service starts while
    /// Redis is away).
    pub async fn new(
        name: ServiceName,
        settings: Arc<Settings>,
        bus: Bus,
        shutdown: CancellationToken,
        tasks: TaskTracker,
    ) -> Result<Self, StartError> {
        let metrics = Metrics::new(name.as_str());
        let tracer = telemetry::tracer(
            name.as_str(),
            settings.otel_endpoint.as_deref(),
            &metrics,
            shutdown.clone(),
            &tasks,
        );
        let outbox = Outbox::default();
        let redis = Redis::from_settings(&settings, metrics.clone())?;
        let locks = crate::lock::from_redis(redis.clone());
        let db = if name.has_database() {
            let db = Db::connect(name.as_str(), &settings.database, settings.migrate)
                .await?
                .instrumented(metrics.clone(), tracer.clone());
            crate::bus::schema::prepare(&db).await?;
            crate::bus::relay::collect_backlog(&db, &metrics);
            let relay = Relay {
                service: name.as_str(),
                db: db.clone(),
                bus: bus.clone(),
                outbox: outbox.clone(),
                metrics: metrics.clone(),
                holder: format!("{name}-{}", crate::ids::new_id()),
            };
            tasks.spawn(relay.run(shutdown.clone()));
            Some(db)
        } else {
            None
        };
        let ctx = Self {
            name,
            jwt: Arc::new(
                JwtKeys::new(&settings.jwt_secret)
                    .with_previous(settings.jwt_secret_previous.as_deref()),
            ),
            metrics,
            tracer,
            settings,
            db,
            bus,
            outbox,
            redis,
            locks,
            shutdown,
            tasks,
        };
        // Every service refuses the tokens of ended sessions, also those
        // ended before it started.
        crate::auth::revocation::follow(&ctx).await?;
        Ok(ctx)
    }

    /// The service's database; panics only on a wiring bug (a service with
    /// tables always gets one at start).
    pub fn db(&self) -> &Db {
        self.db
            .as_ref()
            .expect("service with tables was started without a database")
    }
}

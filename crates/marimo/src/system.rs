//! Starting and stopping a set of services in this process.
//!
//! Listeners are bound first, so that every service (and the gateway in
//! particular) knows the real address of every other one, also when tests
//! bind port 0. Then each service builds its router (migrations and seeds
//! run there) and serves until shutdown, which drains requests in flight,
//! waits for background jobs and closes database pools.

use std::{collections::BTreeMap, net::SocketAddr, sync::Arc};

use axum::Router;
use marimo_platform::{
    bus,
    config::Settings,
    http::serve::serve,
    service::{ServiceContext, ServiceName, StartError},
};
use tokio::{net::TcpListener, task::JoinHandle};
use tokio_util::{sync::CancellationToken, task::TaskTracker};

/// Builds one service's router from its context.
pub async fn router_of(ctx: ServiceContext) -> Result<Router, StartError> {
    match ctx.name {
        ServiceName::Gateway => marimo_gateway::router(ctx).await,
        ServiceName::Users => marimo_users::router(ctx).await,
        ServiceName::Config => marimo_config::router(ctx).await,
        ServiceName::Accounting => marimo_accounting::router(ctx).await,
        ServiceName::Factory => marimo_factory::router(ctx).await,
        ServiceName::Shop => marimo_shop::router(ctx).await,
        ServiceName::Main => marimo_main::router(ctx).await,
        ServiceName::Worker => marimo_worker::router(ctx).await,
    }
}

/// Binds a listener for each service on `settings.bind`: the configured
/// port, `port_override` for a single service, or 0 for an ephemeral one.
pub async fn bind(
    settings: &Settings,
    services: &[ServiceName],
    port_override: Option<u16>,
) -> Result<Vec<(ServiceName, TcpListener)>, StartError> {
    let mut out = Vec::with_capacity(services.len());
    for &name in services {
        let port = port_override.unwrap_or_else(|| settings.port(name));
        let addr = format!("{}:{port}", settings.bind);
        let listener = TcpListener::bind(&addr)
            .await
            .map_err(|e| format!("cannot listen on {addr} for {name}: {e}"))?;
        out.push((name, listener));
    }
    Ok(out)
}

/// Running services.
pub struct System {
    addrs: BTreeMap<ServiceName, SocketAddr>,
    contexts: Vec<ServiceContext>,
    shutdown: CancellationToken,
    tasks: TaskTracker,
    servers: Vec<(ServiceName, JoinHandle<std::io::Result<()>>)>,
}

impl System {
    /// The address a service listens on.
    pub fn addr(&self, name: ServiceName) -> Option<SocketAddr> {
        self.addrs.get(&name).copied()
    }

    /// `http://127.0.0.1:<port>` of a running service.
    pub fn url(&self, name: ServiceName) -> String {
        let addr = self.addr(name).expect("service is running");
        format!("http://127.0.0.1:{}", addr.port())
    }

    /// Resolves when the first server stops on its own (a serve error).
    pub async fn any_server_exited(&mut self) -> (ServiceName, String) {
        let futures = self.servers.iter_mut().map(|(name, h)| {
            let name = *name;
            Box::pin(async move {
                let why = match h.await {
                    Ok(Ok(())) => "stopped".to_owned(),
                    Ok(Err(e)) => e.to_string(),
                    Err(e) => e.to_string(),
                };
                (name, why)
            })
        });
        futures_util::future::select_all(futures).await.0
    }

    /// Graceful stop: stop accepting, drain requests in flight, wait for
    /// background jobs, close pools.
    pub async fn shutdown(self) {
        self.shutdown.cancel();
        for (name, handle) in self.servers {
            if let Ok(Err(e)) = handle.await {
                tracing::warn!(service = %name, error = %e, "server stopped with an error");
            }
        }
        self.tasks.close();
        self.tasks.wait().await;
        for ctx in &self.contexts {
            if let Some(db) = &ctx.db {
                db.close().await;
            }
        }
    }
}

/// Starts the services behind `listeners`.
pub async fn start(
    mut settings: Settings,
    listeners: Vec<(ServiceName, TcpListener)>,
) -> Result<System, StartError> {
    let mut addrs = BTreeMap::new();
    for (name, listener) in &listeners {
        let addr = listener.local_addr()?;
        addrs.insert(*name, addr);
        // Services started together find each other at their real
        // addresses, unless the operator pointed them elsewhere.
        settings
            .service_urls
            .entry(*name)
            .or_insert_with(|| vec![format!("http://127.0.0.1:{}", addr.port())]);
    }
    let settings = Arc::new(settings);
    let shutdown = CancellationToken::new();
    let bus = bus::connect(&settings, shutdown.clone()).await?;
    let tasks = TaskTracker::new();

    let built = futures_util::future::join_all(listeners.into_iter().map(|(name, listener)| {
        let (settings, bus, shutdown, tasks) = (
            settings.clone(),
            bus.clone(),
            shutdown.clone(),
            tasks.clone(),
        );
        async move {
            let ctx = ServiceContext::new(name, settings, bus, shutdown, tasks).await?;
            let router = router_of(ctx.clone())
                .await
                .map_err(|e| format!("{name} failed to start: {e}"))?;
            Ok::<_, StartError>((ctx, router, listener))
        }
    }))
    .await;

    let mut contexts = Vec::new();
    let mut ready = Vec::new();
    let mut failure = None;
    for result in built {
        match result {
            Ok((ctx, router, listener)) => {
                contexts.push(ctx.clone());
                ready.push((ctx.name, router, listener));
            }
            Err(e) => failure = failure.or(Some(e)),
        }
    }
    if let Some(e) = failure {
        shutdown.cancel();
        for ctx in &contexts {
            if let Some(db) = &ctx.db {
                db.close().await;
            }
        }
        return Err(e);
    }
    // With Consul, each service registers its real address (and
    // deregisters at shutdown).
    if let Some(client) = marimo_platform::discovery::consul::ConsulClient::from_settings(&settings)
    {
        let client = client?;
        for ctx in &contexts {
            if let Some(addr) = addrs.get(&ctx.name) {
                marimo_platform::discovery::consul::register(ctx, client.clone(), *addr);
            }
        }
    }

    let servers = ready
        .into_iter()
        .map(|(name, router, listener)| {
            let stop = shutdown.clone();
            let handle = tokio::spawn(serve(listener, router, async move {
                stop.cancelled_owned().await
            }));
            (name, handle)
        })
        .collect();
    Ok(System {
        addrs,
        contexts,
        shutdown,
        tasks,
        servers,
    })
}

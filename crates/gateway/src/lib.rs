//! The API gateway: the one entry point of Marimo ERP on :8080.
//!
//! A request's path is made canonical (or refused with 400) before routing
//! by the platform's service app (`marimo_platform::http::path`), and a
//! deprecated alias `/api/<service>/...` is mapped onto its v1 path
//! (`marimo_platform::http::version`). A request
//! to `/api/v1/<service>/...` then passes the phases of [`pipeline`] —
//! client address, anonymous rate limit, edge authentication, per-user rate
//! limit, body checks — and is forwarded, with that same path, to one
//! instance of its service by [`proxy`]. The gateway's own `/health` ([`health`]) reports
//! every service; `/ready` and `/metrics` come from the platform's
//! [`ServiceApp`], as do request ids, access logs and panic containment.
//! Every response gets the security headers and, for allowed origins, CORS
//! headers ([`headers`]).
//!
//! Modules:
//! - [`routes`]: `/api/<segment>` → service.
//! - [`policy`]: public routes, which anonymous limit applies, body rules.
//! - [`client_ip`]: trusted proxies and the client address.
//! - [`edge_auth`]: token verification and identity headers.
//! - `rate_limit`: `MARIMO_RATE_LIMITS` and the GCRA limiters.
//! - [`limits_config`]: the config service's `rate_limits` setting, which
//!   replaces the limits of every replica while it runs.
//! - [`upstreams`]: each service's instances with their circuit breakers,
//!   in-flight limits and ejection marks; round-robin over those that can
//!   take a request.
//! - [`resilience`]: upstream timeouts and limits, the retry policy.
//! - [`cache`]: the response cache for GET on cacheable routes.
//! - [`proxy`]: forwarding with streamed bodies and error mapping.
//! - [`health`]: aggregated health, and the readiness probes that bring
//!   ejected instances back.
//! - [`docs`]: the merged OpenAPI document (`/api/v1/openapi.json`) and
//!   the browsable reference (`/api/docs`).
//! - [`headers`]: security headers and CORS.
//!
//! Every path outside `/api` and the platform's `/health`, `/ready`,
//! `/metrics` is the web UI (`marimo-web`), whose pages call the APIs
//! in process through the same `/api` router, so the same phases apply.
//!
//! Configuration (all optional, read through [`marimo_platform::config::Settings`]):
//! `<SERVICE>_URLS` (instances per service, default its local port),
//! `MARIMO_RATE_LIMITS` (see the `rate_limit` module), `TRUSTED_PROXIES` (IPs/CIDRs
//! whose `X-Forwarded-For` is believed), `CORS_ORIGINS` (exact origins;
//! none means no CORS headers), `MAX_BODY_BYTES` (request body limit),
//! `MARIMO_BREAKER` (circuit breakers, see
//! [`marimo_platform::resilience::BreakerConfig::parse`]), `MARIMO_UPSTREAM`
//! (timeouts, in-flight limit: [`resilience`]), `MARIMO_CACHE` ([`cache`]),
//! `REDIS_ADDR` (cache store and rate-limit state shared by replicas).
//! A bad value stops start-up with a message naming the variable.

pub mod cache;
pub mod client_ip;
pub mod docs;
pub mod edge_auth;
pub mod headers;
pub mod health;
pub mod limits_config;
pub mod pipeline;
pub mod policy;
pub mod proxy;
mod rate_limit;
pub mod resilience;
pub mod routes;
pub mod upstreams;

use std::{collections::HashMap, sync::Arc};

use axum::{
    Router,
    extract::{Request, State},
    middleware,
    routing::{any, get},
};
use marimo_platform::{
    auth::JwtKeys,
    cache::{CacheStore, MokaStore, RedisStore},
    http::{ServiceApp, version::Routes},
    resilience::{Backoff, BreakerConfig, RetryBudget},
    service::{ServiceContext, ServiceName, StartError},
    telemetry::Metrics,
};

use crate::{client_ip::TrustedProxies, rate_limit::RateLimits, upstreams::Upstreams};

/// Everything the request phases need, built once at start.
pub struct Gateway {
    pub upstreams: Upstreams,
    /// The default upstream client (and the health prober's).
    pub client: reqwest::Client,
    /// Per service, with that service's connect and total timeouts.
    pub clients: HashMap<ServiceName, reqwest::Client>,
    pub budgets: HashMap<ServiceName, RetryBudget>,
    /// The upstream connections that have carried an answer (tells a stale
    /// pooled connection from a broken instance).
    pub answered: proxy::Answered,
    pub backoff: Backoff,
    pub cache: Option<cache::ResponseCache>,
    pub limits: RateLimits,
    pub trusted: TrustedProxies,
    pub jwt: Arc<JwtKeys>,
    pub max_body: usize,
    pub metrics: Metrics,
    /// `MARIMO_EDGE_SECRET`: every forwarded request is signed with it,
    /// for services that answer the gateway only.
    pub edge: Option<marimo_platform::http::edge::EdgeKey>,
}

/// Builds the gateway's router. Fails on bad configuration
/// (`<SERVICE>_URLS`, `MARIMO_RATE_LIMITS`, `TRUSTED_PROXIES`,
/// `CORS_ORIGINS`) with a message naming the variable.
pub async fn router(ctx: ServiceContext) -> Result<Router, StartError> {
    if ctx.name != ServiceName::Gateway {
        return Err(format!("the gateway router was started as '{}'", ctx.name).into());
    }
    let settings = ctx.settings.clone();
    let breaker = match settings.breaker.as_deref() {
        Some(spec) => BreakerConfig::parse(spec).map_err(|e| format!("MARIMO_BREAKER: {e}"))?,
        None => BreakerConfig::default(),
    };
    let upstream = resilience::UpstreamConfig::parse(settings.upstream.as_deref())?;
    let discovery = marimo_platform::discovery::from_settings(
        &settings,
        &ServiceName::UPSTREAMS,
        ctx.shutdown.clone(),
    )?;
    let upstreams = Upstreams::from_discovery(&*discovery, breaker, upstream.max_inflight)?;
    let config_discovery = discovery.clone();
    let docs_discovery = discovery.clone();
    if let Some(mut changes) = discovery.changes() {
        let (upstreams, shutdown) = (upstreams.clone(), ctx.shutdown.clone());
        ctx.tasks.spawn(async move {
            loop {
                tokio::select! {
                    () = shutdown.cancelled() => return,
                    changed = changes.changed() => {
                        if changed.is_err() {
                            return;
                        }
                        upstreams.sync(&*discovery);
                    }
                }
            }
        });
    }
    let response_cache = cache::ResponseCache::from_spec(
        settings.cache.as_deref(),
        || match &ctx.redis {
            Some(redis) => Arc::new(RedisStore::new(redis.clone())) as Arc<dyn CacheStore>,
            None => Arc::new(MokaStore::new(cache::STORE_BYTES)),
        },
        ctx.metrics.clone(),
    )?;
    let mut clients = HashMap::new();
    let mut budgets = HashMap::new();
    for name in ServiceName::UPSTREAMS {
        let t = upstream.timeouts(name);
        let c = proxy::client_with(t.connect, t.total)
            .map_err(|e| format!("cannot build the upstream client: {e}"))?;
        clients.insert(name, c);
        budgets.insert(name, RetryBudget::default());
    }
    let spec = rate_limit::parse_spec(settings.rate_limits.as_deref())?;
    let mut limits = RateLimits::new(&spec);
    if let Some(redis) = &ctx.redis {
        limits = limits.shared(redis.clone(), ctx.metrics.clone());
    }
    let trusted = TrustedProxies::parse(&settings.trusted_proxies)?;
    let cors = headers::cors(&settings.cors_origins)?;
    let client = proxy::client().map_err(|e| format!("cannot build the upstream client: {e}"))?;

    limits.spawn_sweeper(&ctx);
    limits_config::follow(
        &ctx,
        config_discovery,
        limits.clone(),
        settings.rate_limits.clone(),
    )
    .await?;
    tracing::info!(
        limits = ?spec,
        redis = ?ctx.redis,
        trusted_proxies = settings.trusted_proxies.len(),
        cors_origins = settings.cors_origins.len(),
        breaker = ?breaker,
        upstream = ?upstream,
        "gateway configured"
    );

    let gw = Arc::new(Gateway {
        upstreams: upstreams.clone(),
        client: client.clone(),
        clients,
        budgets,
        answered: proxy::Answered::default(),
        backoff: Backoff::default(),
        cache: response_cache,
        limits,
        trusted,
        jwt: ctx.jwt.clone(),
        max_body: settings.max_body_bytes,
        metrics: ctx.metrics.clone(),
        edge: marimo_platform::http::edge::EdgeKey::from_settings(&settings),
    });
    let known = upstreams.clone();
    ctx.metrics.add_collector(move |metrics| {
        let known = known.clone();
        async move {
            for service in ServiceName::UPSTREAMS {
                for member in known.members(service).iter() {
                    pipeline::breaker_gauge(&metrics, service, member);
                    pipeline::ejected_gauge(&metrics, service, member);
                }
            }
        }
    });
    // Ejected instances come back through their readiness probe.
    health::spawn_readmission(&ctx, upstreams.clone(), client.clone());
    let health = Arc::new(health::Health::new(upstreams, client));

    // Changes that do not pass through this gateway reach it as events.
    // With the cache in Redis, replicas share one queue: one invalidation
    // is every replica's. With in-process caches each replica has a queue
    // of its own, so every replica drops its own copies.
    if let Some(cache) = &gw.cache {
        let events_gw = gw.clone();
        let invalidate = move |env: marimo_platform::bus::Envelope| {
            let gw = events_gw.clone();
            async move {
                if let (Some(cache), Some(prefix)) =
                    (&gw.cache, cache::prefix_for_event(&env.event_type))
                {
                    // Only the event's tenant's entries are stale.
                    cache.invalidate(&env.tenant.scope(prefix)).await;
                }
                Ok(())
            }
        };
        if cache.is_shared() {
            ctx.bus
                .subscribe_stateless("gateway", cache::INVALIDATING_EVENTS, invalidate)
                .await?;
        } else {
            ctx.bus
                .subscribe_each_instance("gateway", cache::INVALIDATING_EVENTS, invalidate)
                .await?;
        }
    }

    let mut api = Router::new();
    for (segment, service) in routes::ROUTES {
        for pattern in routes::patterns(segment) {
            api = api.route(
                &pattern,
                any(move |State(gw): State<Arc<Gateway>>, req: Request| {
                    pipeline::handle(gw, service, req)
                }),
            );
        }
    }
    let trusted_for_web = gw.clone();
    let own_api = docs::own_api();
    let docs = Arc::new(docs::Docs::new(
        docs_discovery,
        marimo_platform::http::edge::EdgeKey::from_settings(&settings),
        docs::own_document(&own_api),
    )?);
    let api = api.with_state(gw).merge(docs::router(docs, own_api));
    // The web UI at `/`: its pages call the APIs through this same router,
    // behind the same path step as a client's request (its `/api/...`
    // calls are aliases of the v1 routes).
    let web_api =
        Router::new()
            .fallback_service(api.clone())
            .layer(middleware::from_fn_with_state(
                Routes::V1,
                marimo_platform::http::path::middleware,
            ));
    let web = marimo_web::router(marimo_web::WebConfig {
        api: web_api,
        jwt: ctx.jwt.clone(),
        secret: settings.jwt_secret.clone(),
        signup: settings.signup,
        trusted_proxy: Arc::new(move |ip| trusted_for_web.trusted.contains(ip)),
    });

    let mut app = ServiceApp::new(&ctx)
        .v1_routes()
        .health_handler(get(health::handler).with_state(health))
        .router(api.merge(web));
    if let Some(cors) = cors {
        app = app.layer(cors);
    }
    Ok(app.layer(middleware::map_response(headers::security_headers)))
}

//! The service app: every service's router gets `/health`, `/ready`,
//! `/metrics`, JSON 404/405 answers, request ids, a canonical request path
//! ([`super::path`]), `Cache-Control: private, no-store` on answers to
//! signed-in requests ([`super::cache_control`]), a server span (trace
//! context), access logs, HTTP metrics, a body limit, panic containment,
//! the token keys its extractors need, with `MARIMO_EDGE_SECRET` the
//! refusal of API requests that did not come through the gateway
//! ([`super::edge`]), and, for services with a database, `Idempotency-Key`
//! on every mutating route ([`crate::idempotency::layer`]).

use std::{collections::BTreeMap, future::Future, pin::Pin, sync::Arc, time::Instant};

use axum::{
    Extension, Router,
    extract::{DefaultBodyLimit, State},
    http::{StatusCode, header},
    middleware,
    response::{IntoResponse, Response},
    routing::{MethodRouter, get},
};
use tower_http::catch_panic::CatchPanicLayer;

use super::health::{CheckView, HealthStatus, Ready, ServiceHealth};
use crate::{
    error::{ApiError, ErrorCode},
    service::ServiceContext,
    telemetry,
};

type CheckFuture = Pin<Box<dyn Future<Output = Result<(), String>> + Send>>;
/// A named dependency probe for `/health` and `/ready`.
pub type HealthCheck = Arc<dyn Fn() -> CheckFuture + Send + Sync>;

pub struct ServiceApp {
    ctx: ServiceContext,
    routes: super::version::Routes,
    checks: Vec<(&'static str, HealthCheck)>,
    health: Option<MethodRouter>,
    idempotency: Option<crate::idempotency::Layer>,
}

struct HealthState {
    service: &'static str,
    started: Instant,
    checks: Vec<(&'static str, HealthCheck)>,
}

impl ServiceApp {
    /// A service app; the database check is added when the service has one.
    pub fn new(ctx: &ServiceContext) -> Self {
        let mut app = Self {
            ctx: ctx.clone(),
            checks: Vec::new(),
            health: None,
            idempotency: None,
            routes: super::version::Routes::Unversioned,
        };
        if let Some(db) = ctx.db.clone() {
            app = app.check("database", move || {
                let db = db.clone();
                async move {
                    if db.ping().await {
                        Ok(())
                    } else {
                        Err("unreachable".to_owned())
                    }
                }
            });
        }
        app
    }

    /// Adds a dependency probe shown in `/health` and gating `/ready`.
    pub fn check<F, Fut>(mut self, name: &'static str, probe: F) -> Self
    where
        F: Fn() -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<(), String>> + Send + 'static,
    {
        self.checks
            .push((name, Arc::new(move || Box::pin(probe()) as CheckFuture)));
        self
    }

    /// Serves `/health` with `handler` instead of the default one (the
    /// gateway's aggregates its upstreams). `/ready` and the checks added
    /// with [`ServiceApp::check`] are unchanged.
    pub fn health_handler(mut self, handler: MethodRouter) -> Self {
        self.health = Some(handler);
        self
    }

    /// Honours `Idempotency-Key` on every mutating route of the service
    /// (see [`crate::idempotency::layer`]): the innermost layer, so the
    /// edge check, body limit, panic containment and metrics all apply
    /// around it, and it sees which route matched.
    pub fn idempotency(mut self, layer: crate::idempotency::Layer) -> Self {
        self.idempotency = Some(layer);
        self
    }

    /// The API routes are declared under `/api/v1/...` (the default is
    /// `/api/...`, for services that have not moved yet); either way both
    /// prefixes reach them ([`super::version`]).
    pub fn v1_routes(mut self) -> Self {
        self.routes = super::version::Routes::V1;
        self
    }

    /// Wraps a service's API declared with `utoipa-axum` under
    /// `/api/v1/<service>/...`: its OpenAPI document (finished with the
    /// shared parts, [`crate::openapi::finish`]) is served at
    /// `/api/v1/<service>/openapi.json`, query parameters an operation does
    /// not declare are refused with 400 ([`crate::openapi::strict_query`]),
    /// and the rest is [`ServiceApp::router`] with v1 routes.
    pub fn api(self, api: utoipa_axum::router::OpenApiRouter) -> Router {
        let (routes, doc) = api.split_for_parts();
        let mut doc = crate::openapi::finish(doc, self.ctx.name.as_str());
        // The platform's own routes of every service, beside its API.
        super::health::document_paths(&mut doc, self.ctx.name.as_str());
        let rules = Arc::new(crate::openapi::QueryRules::from_document(&doc));
        let body: Arc<str> = Arc::from(doc.to_string());
        let spec_path = format!(
            "{}/{}/openapi.json",
            super::version::V1_PREFIX,
            self.ctx.name.as_str()
        );
        let routes = routes
            .route_layer(middleware::from_fn_with_state(
                rules,
                crate::openapi::strict_query,
            ))
            .route(
                &spec_path,
                get(move || {
                    let body = body.clone();
                    async move {
                        (
                            [(header::CONTENT_TYPE, "application/json")],
                            body.to_string(),
                        )
                            .into_response()
                    }
                }),
            );
        self.v1_routes().router(routes)
    }

    /// Wraps the service's API routes with the platform's routes and layers.
    pub fn router(self, api: Router) -> Router {
        let metrics = self.ctx.metrics.clone();
        let state = Arc::new(HealthState {
            service: self.ctx.name.as_str(),
            started: Instant::now(),
            checks: self.checks,
        });
        let health_route = match self.health {
            Some(handler) => handler,
            None => get(health).with_state(state.clone()),
        };
        let edge = (self.ctx.name != crate::service::ServiceName::Gateway)
            .then(|| super::edge::EdgeKey::from_settings(&self.ctx.settings))
            .flatten();
        let platform = Router::new()
            .route("/health", health_route)
            .route("/ready", get(ready).with_state(state))
            .route("/metrics", get(render_metrics).with_state(metrics.clone()));
        let routed = platform
            .merge(api)
            .fallback(not_found)
            .method_not_allowed_fallback(method_not_allowed);
        let routed = match self.idempotency {
            Some(layer) => routed.layer(middleware::from_fn_with_state(
                layer,
                crate::idempotency::layer::middleware,
            )),
            None => routed,
        };
        // Behind the gateway only, when the operator asked for it: the
        // edge's limits cannot be gone around through a service's port.
        let routed = match edge {
            Some(key) => routed.layer(middleware::from_fn_with_state(key, super::edge::middleware)),
            None => routed,
        };
        let routed = routed
            .layer(middleware::from_fn(
                super::cache_control::private_when_authorized,
            ))
            .layer(middleware::from_fn_with_state(
                metrics,
                telemetry::http_metrics,
            ))
            .layer(Extension(self.ctx.jwt.clone()))
            .layer(DefaultBodyLimit::max(self.ctx.settings.max_body_bytes))
            .layer(CatchPanicLayer::custom(panic_response))
            .layer(middleware::from_fn_with_state(
                self.ctx.name.as_str(),
                access_log,
            ))
            .layer(middleware::from_fn_with_state(
                self.ctx.tracer.clone(),
                telemetry::http::server_span,
            ));
        // Layers on a router run after its routing, so the canonical path
        // is settled in an outer router whose only route is the inner one:
        // routing, policies and handlers all see the path that was judged.
        Router::new()
            .fallback_service(routed)
            .layer(middleware::from_fn_with_state(
                self.routes,
                super::path::middleware,
            ))
            .layer(middleware::from_fn(super::request_id::middleware))
    }
}

async fn run_checks(state: &HealthState) -> (bool, BTreeMap<String, CheckView>) {
    let results = futures_util::future::join_all(state.checks.iter().map(|(name, probe)| {
        let probe = probe.clone();
        async move {
            let outcome = tokio::time::timeout(std::time::Duration::from_secs(2), probe()).await;
            (
                *name,
                outcome.unwrap_or_else(|_| Err("timed out".to_owned())),
            )
        }
    }))
    .await;
    let healthy = results.iter().all(|(_, r)| r.is_ok());
    let checks = results
        .into_iter()
        .map(|(name, r)| (name.to_owned(), CheckView::of(r)))
        .collect();
    (healthy, checks)
}

async fn health(State(state): State<Arc<HealthState>>) -> Response {
    let (healthy, checks) = run_checks(&state).await;
    let (code, status) = if healthy {
        (StatusCode::OK, HealthStatus::Ok)
    } else {
        (StatusCode::SERVICE_UNAVAILABLE, HealthStatus::Unavailable)
    };
    let body = ServiceHealth {
        success: healthy,
        status,
        service: state.service.to_owned(),
        version: env!("CARGO_PKG_VERSION").to_owned(),
        uptime_seconds: state.started.elapsed().as_secs(),
        checks,
    };
    (code, axum::Json(body)).into_response()
}

async fn ready(State(state): State<Arc<HealthState>>) -> Response {
    let (healthy, checks) = run_checks(&state).await;
    if healthy {
        axum::Json(Ready::new()).into_response()
    } else {
        ApiError::unavailable(format!("{} is not ready", state.service))
            .with_details(serde_json::to_value(checks).unwrap_or_default())
            .into_response()
    }
}

async fn render_metrics(State(m): State<telemetry::Metrics>) -> Response {
    (
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        m.scrape().await,
    )
        .into_response()
}

async fn not_found() -> ApiError {
    ApiError::not_found("no such endpoint")
}

async fn method_not_allowed() -> ApiError {
    ApiError::of(
        ErrorCode::MethodNotAllowed,
        "this method is not allowed here",
    )
}

fn panic_response(_: Box<dyn std::any::Any + Send + 'static>) -> Response {
    // The panic message may carry internals; log it, never send it.
    tracing::error!("handler panicked");
    ApiError::internal("internal error").into_response()
}

/// One span per request (service, request_id, method, path), so every log
/// line of the request carries them, and one line when it finishes.
async fn access_log(
    State(service): State<&'static str>,
    req: axum::extract::Request,
    next: middleware::Next,
) -> Response {
    use tracing::Instrument;
    let request_id = super::request_id::current().unwrap_or_default();
    let span = tracing::info_span!(
        "request",
        service,
        request_id,
        method = %req.method(),
        path = %req.uri().path(),
    );
    let start = Instant::now();
    let res = next.run(req).instrument(span.clone()).await;
    let _enter = span.enter();
    let status = res.status().as_u16();
    let ms = start.elapsed().as_secs_f64() * 1000.0;
    if status >= 500 {
        tracing::warn!(status, ms, "request failed");
    } else {
        tracing::debug!(status, ms, "request finished");
    }
    res
}

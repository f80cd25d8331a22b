//! Scripted fake upstreams for fault injection: count requests, answer a
//! scripted list of statuses first, and can be stopped and restarted on
//! the same address.

use std::{
    collections::VecDeque,
    net::SocketAddr,
    sync::{
        Arc, Mutex,
        atomic::{AtomicUsize, Ordering},
    },
};

use axum::{
    Router,
    extract::{Request, State},
    http::{HeaderValue, StatusCode},
    response::{IntoResponse, Response},
    routing::get,
};
use serde_json::json;
use tokio_util::sync::CancellationToken;

#[derive(Clone, Default)]
pub struct Script {
    hits: Arc<AtomicUsize>,
    statuses: Arc<Mutex<VecDeque<u16>>>,
}

impl Script {
    pub fn hits(&self) -> usize {
        self.hits.load(Ordering::SeqCst)
    }
    /// The next answers' statuses, before the default 200s.
    pub fn then(&self, statuses: &[u16]) {
        self.statuses.lock().unwrap().extend(statuses);
    }
}

/// A fake upstream on a fixed address; stopped when dropped.
pub struct Fake {
    pub addr: SocketAddr,
    pub script: Script,
    stop: CancellationToken,
}

impl Drop for Fake {
    fn drop(&mut self) {
        self.stop.cancel();
    }
}

impl Fake {
    pub async fn start(name: &'static str) -> Self {
        Self::start_on("127.0.0.1:0".parse().unwrap(), name, Script::default()).await
    }

    /// Binds `addr` (a port used before works once the old server is gone).
    pub async fn start_on(addr: SocketAddr, name: &'static str, script: Script) -> Self {
        let listener = tokio::net::TcpListener::bind(addr).await.expect("bind");
        let addr = listener.local_addr().unwrap();
        let router = Router::new()
            .route(
                "/health",
                get(|| async { axum::Json(json!({"success": true})) }),
            )
            // The gateway's re-admission probe; not counted as a hit.
            .route(
                "/ready",
                get(|| async { axum::Json(json!({"success": true})) }),
            )
            .fallback(answer)
            .with_state((name, script.clone()));
        let stop = CancellationToken::new();
        let token = stop.clone();
        tokio::spawn(async move {
            let _ =
                marimo_platform::http::serve(
                    listener,
                    router,
                    async move { token.cancelled().await },
                )
                .await;
        });
        Self { addr, script, stop }
    }

    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }
}

/// The gateway reads the config service's `rate_limits` setting and the
/// users service's revocation marks itself at start; the fakes answer them
/// as "not there" and do not count them, so hit counts are the clients'
/// requests only.
pub fn is_gateway_own_read(req: &Request) -> bool {
    let path = req.uri().path();
    path == "/api/config/rate_limits" || path == marimo_platform::auth::revocation::MARKS_PATH
}

async fn answer(State((name, script)): State<(&'static str, Script)>, req: Request) -> Response {
    if is_gateway_own_read(&req) {
        return StatusCode::NOT_FOUND.into_response();
    }
    let n = script.hits.fetch_add(1, Ordering::SeqCst) + 1;
    let scripted = script.statuses.lock().unwrap().pop_front();
    let query = req.uri().query().unwrap_or("").to_owned();
    // The tenant the edge forwarded, echoed so tests see what arrived.
    let tenant = req
        .headers()
        .get("x-marimo-tenant")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_owned();
    let body = axum::body::to_bytes(req.into_body(), usize::MAX)
        .await
        .unwrap_or_default();
    let status = StatusCode::from_u16(scripted.unwrap_or(200)).unwrap();
    let mut res = (
        status,
        axum::Json(json!({"success": status.is_success(), "instance": name, "n": n, "body_len": body.len(), "tenant": tenant})),
    )
        .into_response();
    if let Some(cc) = query.split('&').find_map(|p| p.strip_prefix("cc=")) {
        res.headers_mut().insert(
            "cache-control",
            HeaderValue::from_str(&cc.replace("%20", " ")).unwrap(),
        );
    }
    res
}

/// The value of `circuit_breaker_state` for an instance in `/metrics`.
pub fn breaker_gauge(metrics: &str, instance: &str) -> Option<u8> {
    metrics
        .lines()
        .filter(|l| l.starts_with("circuit_breaker_state{"))
        .find(|l| l.contains(&format!("instance=\"{instance}\"")))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.trim().parse::<f64>().ok())
        .map(|v| v as u8)
}

/// The value of `gateway_upstream_ejected` for an instance in `/metrics`.
pub fn ejected_gauge(metrics: &str, instance: &str) -> Option<u8> {
    metrics
        .lines()
        .filter(|l| l.starts_with("gateway_upstream_ejected{"))
        .find(|l| l.contains(&format!("instance=\"{instance}\"")))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.trim().parse::<f64>().ok())
        .map(|v| v as u8)
}

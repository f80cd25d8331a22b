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

/// How a [`Raw`] upstream treats its connections.
#[derive(Clone, Copy, Debug, Default)]
pub struct Conduct {
    /// Closes a kept-alive connection idle this long (a short keep-alive).
    pub idle_close: Option<std::time::Duration>,
    /// Closes every connection, unread, as its second request arrives:
    /// a keep-alive timeout firing just as the gateway reuses it.
    pub close_reused: bool,
}

/// A hand-written HTTP/1.1 upstream over raw TCP, for what an HTTP server
/// library does not do on purpose: hang up on a request it read, close a
/// kept-alive connection as a request arrives. Answers every request
/// `200 {"success":true,"instance":..,"n":..}`; `/health` 200; `/ready`
/// 200 or 503 as [`Raw::set_ready`] says. Stopped when dropped.
pub struct Raw {
    pub addr: SocketAddr,
    hits: Arc<AtomicUsize>,
    hang_ups: Arc<AtomicUsize>,
    ready: Arc<std::sync::atomic::AtomicBool>,
    stop: CancellationToken,
}

impl Drop for Raw {
    fn drop(&mut self) {
        self.stop.cancel();
    }
}

impl Raw {
    pub async fn start(name: &'static str, conduct: Conduct) -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let raw = Self {
            addr: listener.local_addr().unwrap(),
            hits: Arc::default(),
            hang_ups: Arc::default(),
            ready: Arc::new(true.into()),
            stop: CancellationToken::new(),
        };
        let (hits, hang_ups, ready, stop) = (
            raw.hits.clone(),
            raw.hang_ups.clone(),
            raw.ready.clone(),
            raw.stop.clone(),
        );
        tokio::spawn(async move {
            loop {
                let socket = tokio::select! {
                    () = stop.cancelled() => return,
                    accepted = listener.accept() => match accepted {
                        Ok((socket, _)) => socket,
                        Err(_) => continue,
                    },
                };
                let (hits, hang_ups, ready) = (hits.clone(), hang_ups.clone(), ready.clone());
                let stop = stop.clone();
                tokio::spawn(async move {
                    tokio::select! {
                        () = stop.cancelled() => {}
                        () = raw_connection(socket, name, conduct, hits, hang_ups, ready) => {}
                    }
                });
            }
        });
        raw
    }

    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Requests answered or hung up on (probes and the gateway's own
    /// reads not counted).
    pub fn hits(&self) -> usize {
        self.hits.load(Ordering::SeqCst)
    }

    /// The next `n` requests are read and hung up on without an answer.
    pub fn hang_up(&self, n: usize) {
        self.hang_ups.fetch_add(n, Ordering::SeqCst);
    }

    /// Whether `/ready` answers 200 (else 503).
    pub fn set_ready(&self, ready: bool) {
        self.ready.store(ready, Ordering::SeqCst);
    }
}

async fn raw_connection(
    mut socket: tokio::net::TcpStream,
    name: &'static str,
    conduct: Conduct,
    hits: Arc<AtomicUsize>,
    hang_ups: Arc<AtomicUsize>,
    ready: Arc<std::sync::atomic::AtomicBool>,
) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut buf = Vec::new();
    for served in 0usize.. {
        if served > 0 {
            let next = socket.readable();
            if conduct.close_reused {
                let _ = next.await;
                return; // closed with the request unread
            }
            if let Some(idle) = conduct.idle_close
                && buf.is_empty()
                && tokio::time::timeout(idle, next).await.is_err()
            {
                return;
            }
        }
        // The head, then as much body as Content-Length says.
        let mut chunk = [0u8; 8192];
        let head_end = loop {
            if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                break i + 4;
            }
            match socket.read(&mut chunk).await {
                Ok(n @ 1..) => buf.extend_from_slice(&chunk[..n]),
                _ => return,
            }
        };
        let head = String::from_utf8_lossy(&buf[..head_end]).to_ascii_lowercase();
        let length: usize = head
            .lines()
            .find_map(|l| l.strip_prefix("content-length:"))
            .and_then(|v| v.trim().parse().ok())
            .unwrap_or(0);
        while buf.len() < head_end + length {
            match socket.read(&mut chunk).await {
                Ok(n @ 1..) => buf.extend_from_slice(&chunk[..n]),
                _ => return,
            }
        }
        let path = head.split(' ').nth(1).unwrap_or("/").to_owned();
        buf.drain(..head_end + length);
        let (status, body) = match path.as_str() {
            "/health" => (200, json!({"success": true})),
            "/ready" if ready.load(Ordering::SeqCst) => (200, json!({"success": true})),
            "/ready" => (503, json!({"success": false})),
            p if p == "/api/config/rate_limits"
                || p == marimo_platform::auth::revocation::MARKS_PATH =>
            {
                (404, json!({"success": false}))
            }
            _ => {
                let n = hits.fetch_add(1, Ordering::SeqCst) + 1;
                let hang_up = hang_ups
                    .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |h| h.checked_sub(1))
                    .is_ok();
                if hang_up {
                    return; // read, acted on perhaps, never answered
                }
                (200, json!({"success": true, "instance": name, "n": n}))
            }
        };
        let body = body.to_string();
        let answer = format!(
            "HTTP/1.1 {status} X\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n{body}",
            body.len()
        );
        if socket.write_all(answer.as_bytes()).await.is_err() {
            return;
        }
    }
}

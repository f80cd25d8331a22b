//! Forwarding a request to one upstream instance and streaming the answer
//! back.
//!
//! Method, path and query are forwarded unchanged (the path is the
//! canonical one every phase judged, and [`exact_url`] refuses to send it
//! if the URL parser would change it), headers minus hop-by-hop
//! ones plus `X-Forwarded-*`; both bodies are streamed, never buffered. The
//! request body is counted on the way through, so a chunked body over the
//! limit is cut off and answered with 413 even without `Content-Length`.
//!
//! Failures map to the one error shape: unreachable instance → 503 with
//! `Retry-After`, timeout → 504, anything else upstream → 502. Each failure
//! also says how far the request got ([`Failure`]): whether it is known
//! never to have reached the instance decides whether any request may be
//! sent again elsewhere, and whether the instance is to blame.
//!
//! **Stale pooled connections.** An instance may close a kept-alive
//! connection just as the gateway reuses it (its idle timeout firing as
//! the request arrives). hyper hands such a request back when it notices
//! the close before writing ("canceled", retried by the pool itself); when
//! the close comes after the write, it reports the connection closed (or
//! reset) before any answer, which on a fresh connection means "the
//! instance broke". hyper does not say whether the connection was reused,
//! so the gateway keeps a note of the connections that have carried an
//! answer ([`Answered`]) and reads it from the addresses both answers and
//! errors carry: a reused connection closed before the answer started is
//! [`Failure::Stale`] — not held against the instance.
//!
//! Retries and circuit breakers ([`crate::pipeline`]) wrap [`forward`];
//! the response cache ([`crate::cache`]) sits in front of them.

use std::{
    collections::HashMap,
    net::{IpAddr, SocketAddr},
    sync::{
        Arc, Mutex,
        atomic::{AtomicU8, Ordering},
    },
    time::{Duration, Instant},
};

use axum::{body::Body, response::Response};
use futures_util::{StreamExt, TryStreamExt};
use http::{HeaderMap, HeaderName, HeaderValue, header, request::Parts};
use hyper_util::client::legacy::connect::HttpInfo;
use marimo_platform::{ApiError, ErrorCode, service::ServiceName, telemetry::http::ClientSpan};
use serde_json::json;

use crate::upstreams::Instance;

/// Time allowed to open a connection to an instance.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(2);
/// Time allowed for a whole upstream exchange, body included.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);
/// `Retry-After` of a 503 for an unreachable service, in seconds.
pub const UNAVAILABLE_RETRY_AFTER: u64 = 5;

/// The pooled keep-alive client used for every upstream call.
pub fn client() -> reqwest::Result<reqwest::Client> {
    client_with(CONNECT_TIMEOUT, REQUEST_TIMEOUT)
}

/// A pooled client with these connect and total timeouts.
pub fn client_with(connect: Duration, total: Duration) -> reqwest::Result<reqwest::Client> {
    reqwest::Client::builder()
        .connect_timeout(connect)
        .timeout(total)
        // Dropped before the instance's server closes an idle connection.
        .pool_idle_timeout(marimo_platform::http::serve::CLIENT_POOL_IDLE)
        .pool_max_idle_per_host(64)
        .tcp_keepalive(Duration::from_secs(30))
        // A proxy passes redirects to the client and never goes through
        // another proxy found in the environment.
        .redirect(reqwest::redirect::Policy::none())
        .no_proxy()
        .build()
}

/// Headers that describe one connection, not the message (RFC 9110 §7.6.1),
/// plus ones a proxy must not pass on (`Host` is the instance's, `Expect`
/// is answered by the gateway's own server).
const HOP_BY_HOP: [&str; 9] = [
    "connection",
    "keep-alive",
    "proxy-authenticate",
    "proxy-authorization",
    "proxy-connection",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
];

/// Removes hop-by-hop headers, including those named in `Connection`.
pub fn strip_hop_by_hop(headers: &mut HeaderMap) {
    let listed: Vec<HeaderName> = headers
        .get_all(header::CONNECTION)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .filter_map(|name| HeaderName::from_bytes(name.trim().as_bytes()).ok())
        .collect();
    for name in listed {
        headers.remove(name);
    }
    for name in HOP_BY_HOP {
        headers.remove(name);
    }
}

static X_FORWARDED_FOR: HeaderName = HeaderName::from_static("x-forwarded-for");
static X_FORWARDED_PROTO: HeaderName = HeaderName::from_static("x-forwarded-proto");
static X_FORWARDED_HOST: HeaderName = HeaderName::from_static("x-forwarded-host");
static X_REAL_IP: HeaderName = HeaderName::from_static("x-real-ip");

/// Where a request came from, as far as the gateway can tell.
#[derive(Debug, Clone, Copy)]
pub struct Origin {
    /// The socket peer.
    pub peer: IpAddr,
    /// Whether the peer is a trusted proxy (its `X-Forwarded-*` are kept).
    pub peer_trusted: bool,
}

/// The headers sent upstream: the client's, minus hop-by-hop ones, `Host`
/// and `Expect`, with `X-Forwarded-For/-Proto/-Host` set. Forwarding
/// headers from an untrusted peer are dropped, not extended.
pub fn upstream_headers(client_headers: &HeaderMap, origin: Origin) -> HeaderMap {
    let mut h = client_headers.clone();
    strip_hop_by_hop(&mut h);
    let host = h.remove(header::HOST);
    h.remove(header::EXPECT);

    let peer = origin.peer.to_canonical().to_string();
    let chain = if origin.peer_trusted {
        let mut entries = crate::client_ip::forwarded_for(client_headers);
        entries.push(peer);
        entries.join(", ")
    } else {
        for name in [
            &X_FORWARDED_FOR,
            &X_FORWARDED_PROTO,
            &X_FORWARDED_HOST,
            &X_REAL_IP,
        ] {
            h.remove(name);
        }
        h.remove(header::FORWARDED);
        peer
    };
    h.remove(&X_FORWARDED_FOR);
    if let Ok(v) = HeaderValue::from_str(&chain) {
        h.insert(X_FORWARDED_FOR.clone(), v);
    }
    let proto_ok = h
        .get(&X_FORWARDED_PROTO)
        .is_some_and(|v| v == "http" || v == "https");
    if !proto_ok {
        h.insert(X_FORWARDED_PROTO.clone(), HeaderValue::from_static("http"));
    }
    if !h.contains_key(&X_FORWARDED_HOST)
        && let Some(host) = host
    {
        h.insert(X_FORWARDED_HOST.clone(), host);
    }
    h
}

/// What happened to the request body on its way upstream.
const BODY_OK: u8 = 0;
const BODY_TOO_LARGE: u8 = 1;
const BODY_BROKEN: u8 = 2;

#[derive(Debug, thiserror::Error)]
#[error("the request body exceeds {0} bytes")]
struct TooLarge(usize);

/// A streamed request body that fails once more than `limit` bytes pass.
fn limited_body(body: Body, limit: usize, state: Arc<AtomicU8>) -> reqwest::Body {
    let mut seen = 0usize;
    let stream = body.into_data_stream().map(move |chunk| {
        let chunk = chunk.map_err(|e| {
            state.store(BODY_BROKEN, Ordering::Relaxed);
            Box::new(e) as Box<dyn std::error::Error + Send + Sync>
        })?;
        seen = seen.saturating_add(chunk.len());
        if seen > limit {
            state.store(BODY_TOO_LARGE, Ordering::Relaxed);
            return Err(Box::new(TooLarge(limit)) as Box<dyn std::error::Error + Send + Sync>);
        }
        Ok(chunk)
    });
    reqwest::Body::wrap_stream(stream)
}

pub fn payload_too_large(limit: usize) -> ApiError {
    ApiError::of(
        ErrorCode::PayloadTooLarge,
        format!("the request body is larger than {limit} bytes"),
    )
    .with_details(json!({ "max_bytes": limit }))
}

/// One request to forward.
pub struct Forward {
    pub service: ServiceName,
    pub instance: Instance,
    pub parts: Parts,
    /// `None` when the request has no body.
    pub body: Option<Body>,
    /// Headers to send, from [`upstream_headers`] plus identity.
    pub headers: HeaderMap,
    pub max_body: usize,
    /// Signs the request as coming through the edge (`MARIMO_EDGE_SECRET`).
    pub edge: Option<marimo_platform::http::edge::EdgeKey>,
}

/// How far a failed attempt got.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Failure {
    /// Nothing reached the instance: the connection was refused or could
    /// not be made, or it closed before the request was started. Any
    /// request, whatever its method, may be sent to another instance.
    NotSent,
    /// A reused pooled connection was closed or reset by the instance
    /// before any answer started: most likely its keep-alive ended as the
    /// request arrived. Replayable requests go out again at once; the
    /// instance is not blamed. A request that is not replayable cannot be
    /// sent again: an instance killed while acting on it looks the same.
    Stale,
    /// The connection broke after the request was (perhaps partly) sent
    /// and before an answer came back: the instance may have acted on it.
    Broken,
    /// No answer in time.
    TimedOut,
    /// The client's own body was too large or could not be read: nothing
    /// to hold against the instance.
    Client,
}

impl Failure {
    /// Whether the instance should leave rotation at once: its connection
    /// was refused or broke, which is what a dead or dying process does.
    pub fn ejects(self) -> bool {
        matches!(self, Self::NotSent | Self::Broken)
    }
}

/// A failed attempt: the answer for the client and how far it got.
#[derive(Debug)]
pub struct Failed {
    pub error: ApiError,
    pub failure: Failure,
}

/// The connections (local and remote address) that have carried an
/// answer, each with when it last did: a send error on one of them is an
/// error on a reused connection. Answers that close their connection are
/// not noted, and notes older than twice the time a pooled connection may
/// stay idle are dropped; a connection used again after that (once a long
/// download ended) reads as fresh, which only errs towards blaming the
/// instance, as before.
#[derive(Debug, Default)]
pub struct Answered {
    inner: Mutex<AnsweredInner>,
}

#[derive(Debug, Default)]
struct AnsweredInner {
    seen: HashMap<(SocketAddr, SocketAddr), Instant>,
    pruned: Option<Instant>,
}

/// How long a note is kept.
const ANSWERED_KEPT: Duration = marimo_platform::http::serve::CLIENT_POOL_IDLE.saturating_mul(2);

impl Answered {
    fn lock(&self) -> std::sync::MutexGuard<'_, AnsweredInner> {
        self.inner
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Notes that the connection `info` names carried an answer.
    pub fn note(&self, info: &HttpInfo) {
        let now = Instant::now();
        let mut inner = self.lock();
        inner
            .seen
            .insert((info.local_addr(), info.remote_addr()), now);
        // At most once a second, forget connections long gone.
        if inner
            .pruned
            .is_none_or(|at| now.duration_since(at) > Duration::from_secs(1))
        {
            inner.pruned = Some(now);
            inner
                .seen
                .retain(|_, at| now.duration_since(*at) < ANSWERED_KEPT);
        }
    }

    /// Whether the connection `info` names had carried an answer; it is
    /// forgotten (it failed: the pool drops it).
    pub fn take(&self, info: &HttpInfo) -> bool {
        self.lock()
            .seen
            .remove(&(info.local_addr(), info.remote_addr()))
            .is_some_and(|at| at.elapsed() < ANSWERED_KEPT)
    }

    /// Connections noted (for tests).
    pub fn len(&self) -> usize {
        self.lock().seen.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// Sends the request to the instance and streams its answer back. Each
/// attempt is a client span; the instance gets its `traceparent`.
/// `answered` notes the connection of every answer and tells a stale
/// pooled connection from a broken instance.
pub async fn forward(
    client: &reqwest::Client,
    answered: &Answered,
    mut f: Forward,
) -> Result<Response, Failed> {
    let path_and_query = f.parts.uri.path_and_query().map_or("/", |pq| pq.as_str());
    let url =
        exact_url(&f.instance, f.parts.uri.path(), path_and_query).map_err(|error| Failed {
            error,
            failure: Failure::Client,
        })?;
    let span = ClientSpan::start(f.parts.method.as_str(), url.as_str());
    span.inject(&mut f.headers);
    // A client's own edge header never passes; ours is made per attempt,
    // so a retry later on is still fresh.
    f.headers.remove(marimo_platform::http::edge::HEADER);
    if let Some(edge) = &f.edge
        && let Ok(value) =
            HeaderValue::from_str(&edge.sign_now(f.parts.method.as_str(), f.parts.uri.path()))
    {
        f.headers.insert(marimo_platform::http::edge::HEADER, value);
    }
    let body_state = Arc::new(AtomicU8::new(BODY_OK));
    let mut req = client
        .request(f.parts.method.clone(), url)
        .headers(f.headers);
    if let Some(body) = f.body {
        req = req.body(limited_body(body, f.max_body, body_state.clone()));
    }
    let upstream = match req.send().await {
        Ok(res) => {
            span.end(Ok(res.status().as_u16()));
            let closes = res
                .headers()
                .get(header::CONNECTION)
                .is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"close"));
            if !closes && let Some(info) = res.extensions().get::<HttpInfo>() {
                answered.note(info);
            }
            res
        }
        Err(err) => {
            span.end(Err(&err.to_string()));
            let client_side = |error| Failed {
                error,
                failure: Failure::Client,
            };
            return Err(match body_state.load(Ordering::Relaxed) {
                BODY_TOO_LARGE => client_side(payload_too_large(f.max_body)),
                BODY_BROKEN => {
                    client_side(ApiError::validation("the request body could not be read"))
                }
                _ => {
                    let mut failure = classify(&err);
                    if failure == Failure::Broken
                        && closed_by_peer(&err)
                        && connection(&err).is_some_and(|info| answered.take(&info))
                    {
                        failure = Failure::Stale;
                    }
                    Failed {
                        error: upstream_error(f.service, &f.instance, &err, failure),
                        failure,
                    }
                }
            });
        }
    };
    let mut res = Response::builder()
        .status(upstream.status())
        .body(Body::empty())
        .map_err(|_| Failed {
            error: ApiError::of(ErrorCode::BadGateway, "invalid upstream response"),
            failure: Failure::Broken,
        })?;
    let mut headers = upstream.headers().clone();
    strip_hop_by_hop(&mut headers);
    *res.headers_mut() = headers;
    let service = f.service;
    let stream = upstream.bytes_stream().map_err(move |e| {
        tracing::warn!(service = service.as_str(), error = %e, "upstream response body failed");
        e
    });
    *res.body_mut() = Body::from_stream(stream);
    Ok(res)
}

/// The instance's URL for this path, refused (400) when the URL parser
/// would send a different path than the one the phases judged (it resolves
/// dot segments and re-encodes on its own). The platform's canonical path
/// ([`marimo_platform::http::path`]) never differs; this is the check that
/// it stays so.
pub fn exact_url(
    instance: &Instance,
    path: &str,
    path_and_query: &str,
) -> Result<reqwest::Url, ApiError> {
    let refused = || ApiError::validation("the request path cannot be forwarded unchanged");
    let url = reqwest::Url::parse(&instance.url(path_and_query)).map_err(|_| refused())?;
    let prefix = reqwest::Url::parse(&instance.base)
        .map(|b| b.path().trim_end_matches('/').to_owned())
        .unwrap_or_default();
    if url.path().strip_prefix(prefix.as_str()) != Some(path) {
        tracing::warn!(
            path,
            sent = url.path(),
            "request path would change on the way out"
        );
        return Err(refused());
    }
    Ok(url)
}

/// How far a request that failed with `err` got (see [`Failure`]).
///
/// "Not sent" is only what the HTTP stack can vouch for: a connect error
/// (refused, unreachable, connect timeout), or hyper's *canceled* — the
/// connection closed before the request was started, so the request was
/// handed back unsent. (On a reused pooled connection hyper retries that
/// itself; on a fresh one it reports it, and it is ours to retry.)
pub fn classify(err: &reqwest::Error) -> Failure {
    if err.is_connect() || never_started(err) {
        Failure::NotSent
    } else if err.is_timeout() {
        Failure::TimedOut
    } else {
        Failure::Broken
    }
}

/// The errors `err` was caused by, outermost first.
fn causes(err: &reqwest::Error) -> impl Iterator<Item = &(dyn std::error::Error + 'static)> {
    std::iter::successors(std::error::Error::source(err), |e| e.source())
}

/// Whether hyper reports the request as canceled before it was started.
fn never_started(err: &reqwest::Error) -> bool {
    causes(err).any(|e| {
        e.downcast_ref::<hyper::Error>()
            .is_some_and(hyper::Error::is_canceled)
    })
}

/// Whether the instance closed or reset the connection before any answer
/// ("connection closed before message completed", reset, broken pipe).
fn closed_by_peer(err: &reqwest::Error) -> bool {
    use std::io::ErrorKind;
    causes(err).any(|e| {
        e.downcast_ref::<hyper::Error>()
            .is_some_and(hyper::Error::is_incomplete_message)
            || e.downcast_ref::<std::io::Error>().is_some_and(|io| {
                matches!(
                    io.kind(),
                    ErrorKind::ConnectionReset
                        | ErrorKind::ConnectionAborted
                        | ErrorKind::BrokenPipe
                        | ErrorKind::UnexpectedEof
                )
            })
    })
}

/// The addresses of the connection a send error happened on.
fn connection(err: &reqwest::Error) -> Option<HttpInfo> {
    causes(err).find_map(|e| {
        let connected = e
            .downcast_ref::<hyper_util::client::legacy::Error>()?
            .connect_info()?;
        let mut extensions = http::Extensions::new();
        connected.get_extras(&mut extensions);
        extensions.remove::<HttpInfo>()
    })
}

/// The answer for a failed upstream exchange.
pub fn upstream_error(
    service: ServiceName,
    instance: &Instance,
    err: &reqwest::Error,
    failure: Failure,
) -> ApiError {
    let details = json!({ "service": service.as_str() });
    if failure == Failure::Stale {
        // Not the instance's failure, and retried when that is safe: no
        // warning for what is routine connection turnover.
        tracing::debug!(service = service.as_str(), instance = %instance.base, error = %err, "pooled connection closed by the instance before the answer");
        ApiError::of(
            ErrorCode::BadGateway,
            format!("the {service} service closed the connection before answering"),
        )
        .with_details(details)
    } else if failure == Failure::NotSent {
        tracing::warn!(service = service.as_str(), instance = %instance.base, error = %err, "upstream unreachable");
        ApiError::unavailable(format!(
            "the {service} service is unavailable, try again shortly"
        ))
        .with_details(details)
        .retry_after(UNAVAILABLE_RETRY_AFTER)
    } else if err.is_timeout() {
        tracing::warn!(service = service.as_str(), instance = %instance.base, "upstream timed out");
        ApiError::of(
            ErrorCode::GatewayTimeout,
            format!("the {service} service did not answer in time"),
        )
        .with_details(details)
    } else {
        tracing::warn!(service = service.as_str(), instance = %instance.base, error = %err, "upstream failed");
        ApiError::of(
            ErrorCode::BadGateway,
            format!("the {service} service failed to answer"),
        )
        .with_details(details)
    }
}

/// The 503 for a service with no instance to send to.
pub fn no_instance(service: ServiceName) -> ApiError {
    ApiError::unavailable(format!(
        "the {service} service has no instance available, try again shortly"
    ))
    .with_details(json!({ "service": service.as_str() }))
    .retry_after(UNAVAILABLE_RETRY_AFTER)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.append(
                HeaderName::from_bytes(k.as_bytes()).unwrap(),
                HeaderValue::from_str(v).unwrap(),
            );
        }
        h
    }

    fn instance(addr: SocketAddr) -> Instance {
        crate::upstreams::parse_base(&format!("http://{addr}")).unwrap()
    }

    fn forward_get(instance: Instance) -> Forward {
        let (parts, _) = http::Request::get("/api/shop/orders?x=1")
            .body(())
            .unwrap()
            .into_parts();
        Forward {
            service: ServiceName::Shop,
            instance,
            parts,
            body: None,
            headers: HeaderMap::new(),
            max_body: 1024,
            edge: None,
        }
    }

    #[tokio::test]
    async fn a_silent_instance_is_a_504_and_a_closed_port_a_503() {
        // Accepts connections and never answers.
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let silent = listener.local_addr().unwrap();
        tokio::spawn(async move {
            let mut held = Vec::new();
            while let Ok((socket, _)) = listener.accept().await {
                held.push(socket);
            }
        });
        let client = reqwest::Client::builder()
            .timeout(Duration::from_millis(200))
            .build()
            .unwrap();
        let Failed {
            error: err,
            failure,
        } = forward(&client, &Answered::default(), forward_get(instance(silent)))
            .await
            .unwrap_err();
        assert_eq!(failure, Failure::TimedOut);
        assert!(!failure.ejects(), "slow is not dead");
        assert_eq!(err.status.as_u16(), 504);
        assert_eq!(err.code, "GATEWAY_TIMEOUT");
        assert!(err.message.contains("shop"), "{}", err.message);

        let closed = {
            let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
            l.local_addr().unwrap()
        };
        let Failed {
            error: err,
            failure,
        } = forward(&client, &Answered::default(), forward_get(instance(closed)))
            .await
            .unwrap_err();
        assert_eq!(failure, Failure::NotSent);
        assert!(failure.ejects());
        assert_eq!(err.status.as_u16(), 503);
        assert_eq!(err.code, "SERVICE_UNAVAILABLE");
        assert_eq!(err.retry_after, Some(UNAVAILABLE_RETRY_AFTER));
        assert_eq!(err.details.unwrap()["service"], "shop");
    }

    #[tokio::test]
    async fn an_instance_that_hangs_up_is_a_502() {
        // Reads the request, then closes without an answer.
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move {
            use tokio::io::AsyncReadExt;
            while let Ok((mut socket, _)) = listener.accept().await {
                let mut buf = [0u8; 1024];
                let _ = socket.read(&mut buf).await;
                drop(socket);
            }
        });
        let client = client().unwrap();
        let Failed {
            error: err,
            failure,
        } = forward(&client, &Answered::default(), forward_get(instance(addr)))
            .await
            .unwrap_err();
        // It read the request: it may have acted on it.
        assert_eq!(failure, Failure::Broken);
        assert!(failure.ejects());
        assert_eq!(err.status.as_u16(), 502, "{err}");
        assert_eq!(err.code, "BAD_GATEWAY");
    }

    /// Answers the first request on each connection (kept alive), then
    /// closes the connection as the next request arrives, unread: a
    /// keep-alive timeout firing just as the gateway reuses the connection.
    async fn closes_reused_connections() -> SocketAddr {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move {
            while let Ok((mut socket, _)) = listener.accept().await {
                tokio::spawn(async move {
                    let mut buf = [0u8; 4096];
                    let mut head = Vec::new();
                    while !head.windows(4).any(|w| w == b"\r\n\r\n") {
                        let Ok(n @ 1..) = socket.read(&mut buf).await else {
                            return;
                        };
                        head.extend_from_slice(&buf[..n]);
                    }
                    let body = br#"{"success":true}"#;
                    let answer = format!(
                        "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n",
                        body.len()
                    );
                    let _ = socket.write_all(answer.as_bytes()).await;
                    let _ = socket.write_all(body).await;
                    // The next request arrives; closed with it unread.
                    let _ = socket.readable().await;
                    drop(socket);
                });
            }
        });
        addr
    }

    #[tokio::test]
    async fn a_reused_connection_closed_before_the_answer_is_stale_not_broken() {
        let addr = closes_reused_connections().await;
        let client = client().unwrap();
        let answered = Answered::default();
        forward(&client, &answered, forward_get(instance(addr)))
            .await
            .expect("the first request on a fresh connection is answered");
        assert_eq!(answered.len(), 1, "its connection is noted");
        // Wait until the pooled connection is idle in the pool (the server
        // keeps it open), then reuse it.
        tokio::time::sleep(Duration::from_millis(50)).await;
        let Failed { error, failure } = forward(&client, &answered, forward_get(instance(addr)))
            .await
            .unwrap_err();
        assert_eq!(failure, Failure::Stale, "{error}");
        assert!(
            !failure.ejects(),
            "a closed idle connection is not a dead instance"
        );
        assert_eq!(error.status.as_u16(), 502);
        assert!(answered.is_empty(), "the failed connection is forgotten");
        // A fresh connection is answered again.
        forward(&client, &answered, forward_get(instance(addr)))
            .await
            .expect("a fresh connection is answered");
    }

    #[test]
    fn a_path_the_url_parser_would_change_is_not_forwarded() {
        let inst = crate::upstreams::parse_base("http://127.0.0.1:9/prefix").unwrap();
        let ok = exact_url(&inst, "/api/shop/orders", "/api/shop/orders?a=1").unwrap();
        assert_eq!(ok.as_str(), "http://127.0.0.1:9/prefix/api/shop/orders?a=1");
        for raw in [
            "/api/shop/products/../orders",
            "/api/shop/products/%2e%2e/orders",
            "/api/shop/products/..\\orders",
            "/api/shop/products/./p1",
        ] {
            let err = exact_url(&inst, raw, raw).unwrap_err();
            assert_eq!(err.status.as_u16(), 400, "{raw}");
        }
    }

    #[test]
    fn hop_by_hop_headers_are_removed() {
        let mut h = headers(&[
            ("connection", "keep-alive, X-Secret-Hop"),
            ("keep-alive", "timeout=5"),
            ("x-secret-hop", "1"),
            ("transfer-encoding", "chunked"),
            ("te", "trailers"),
            ("trailer", "x-checksum"),
            ("upgrade", "websocket"),
            ("proxy-authorization", "Basic abc"),
            ("proxy-connection", "keep-alive"),
            ("authorization", "Bearer t"),
            ("content-type", "application/json"),
            ("content-length", "12"),
            ("x-request-id", "r1"),
        ]);
        strip_hop_by_hop(&mut h);
        let mut left: Vec<_> = h.keys().map(|k| k.as_str()).collect();
        left.sort_unstable();
        assert_eq!(
            left,
            [
                "authorization",
                "content-length",
                "content-type",
                "x-request-id"
            ]
        );
    }

    #[test]
    fn forwarding_headers_from_an_untrusted_peer_are_replaced() {
        let h = headers(&[
            ("host", "erp.example.com"),
            ("x-forwarded-for", "6.6.6.6"),
            ("x-forwarded-proto", "https"),
            ("x-forwarded-host", "evil.example"),
            ("x-real-ip", "6.6.6.6"),
            ("forwarded", "for=6.6.6.6"),
            ("expect", "100-continue"),
        ]);
        let out = upstream_headers(
            &h,
            Origin {
                peer: "203.0.113.5".parse().unwrap(),
                peer_trusted: false,
            },
        );
        assert_eq!(out["x-forwarded-for"], "203.0.113.5");
        assert_eq!(out["x-forwarded-proto"], "http");
        assert_eq!(out["x-forwarded-host"], "erp.example.com");
        for gone in ["host", "x-real-ip", "forwarded", "expect"] {
            assert!(out.get(gone).is_none(), "{gone}");
        }
    }

    #[test]
    fn forwarding_headers_from_a_trusted_peer_are_extended() {
        let h = headers(&[
            ("host", "gateway:8080"),
            ("x-forwarded-for", "198.51.100.7"),
            ("x-forwarded-for", "10.0.0.9"),
            ("x-forwarded-proto", "https"),
            ("x-forwarded-host", "erp.example.com"),
        ]);
        let out = upstream_headers(
            &h,
            Origin {
                peer: "::ffff:10.0.0.1".parse().unwrap(),
                peer_trusted: true,
            },
        );
        assert_eq!(out["x-forwarded-for"], "198.51.100.7, 10.0.0.9, 10.0.0.1");
        assert_eq!(out.get_all("x-forwarded-for").iter().count(), 1);
        assert_eq!(out["x-forwarded-proto"], "https");
        assert_eq!(out["x-forwarded-host"], "erp.example.com");
        // A nonsense protocol is replaced even from a trusted proxy.
        let odd = headers(&[("x-forwarded-proto", "gopher")]);
        let out = upstream_headers(
            &odd,
            Origin {
                peer: "10.0.0.1".parse().unwrap(),
                peer_trusted: true,
            },
        );
        assert_eq!(out["x-forwarded-proto"], "http");
    }
}

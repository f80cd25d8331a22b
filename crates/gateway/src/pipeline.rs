//! The phases of a proxied request, in order (each may answer early):
//!
//! 0. **path** (before routing, in the platform's service app): the path
//!    is made canonical or refused with 400
//!    ([`marimo_platform::http::path`]); every phase below and the
//!    forwarded request use that one path.
//! 1. **client**: the client address (socket peer, or `X-Forwarded-For`
//!    from a trusted proxy).
//! 2. **anonymous limit**: login, register and refresh per client address.
//! 3. **edge auth**: a valid access token on protected routes; the identity
//!    headers are set from it and never from the client.
//! 4. **user limit**: signed-in traffic per user id.
//! 5. **body checks**: JSON content type (415), declared size (413).
//! 6. **upstream**: pick an instance, forward, stream the answer back.
//!
//! Phase 6 in detail: a cacheable GET is answered from the response cache
//! ([`crate::cache`]) when it can; otherwise the balancer picks an instance
//! whose breaker and in-flight limit let it through
//! ([`crate::upstreams`]), and failed idempotent requests are retried on
//! another instance under the retry budget ([`crate::resilience`]). Every
//! attempt's outcome feeds its instance's breaker: 5xx, timeouts and
//! connection errors are failures.

use std::{
    net::{IpAddr, Ipv4Addr, SocketAddr},
    sync::Arc,
    time::Instant,
};

use axum::{
    body::{Body, HttpBody},
    extract::{ConnectInfo, Request},
    response::{IntoResponse, Response},
};
use bytes::Bytes;
use http::{HeaderMap, HeaderValue, header, request::Parts};
use marimo_platform::{
    ApiError, ErrorCode, http::request_id, service::ServiceName, telemetry::Metrics,
};
use serde_json::json;

use crate::{
    Gateway, cache,
    client_ip::limit_key,
    edge_auth, policy,
    proxy::{self, Forward, Origin},
    resilience,
    upstreams::{Member, Unavailable},
};

/// Handles one request routed to `service`.
pub async fn handle(gw: Arc<Gateway>, service: ServiceName, req: Request) -> Response {
    let started = Instant::now();
    let outcome = run(&gw, service, req).await;
    let res = match outcome {
        Ok(res) => res,
        Err(Rejected { err, reason }) => {
            gw.metrics.record(|| {
                metrics::counter!("gateway_rejected_total", "reason" => reason).increment(1);
            });
            let unauthorized = err.status == http::StatusCode::UNAUTHORIZED;
            let mut res = err.into_response();
            if unauthorized {
                res.headers_mut()
                    .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
            }
            return res;
        }
    };
    let elapsed = started.elapsed().as_secs_f64();
    let status = res.status().as_u16().to_string();
    gw.metrics.record(|| {
        let labels = [("service", service.as_str().to_owned()), ("status", status)];
        metrics::counter!("gateway_upstream_requests_total", &labels).increment(1);
        metrics::histogram!("gateway_upstream_duration_seconds", &labels).record(elapsed);
    });
    res
}

/// An early answer and the reason it is counted under.
struct Rejected {
    err: ApiError,
    reason: &'static str,
}

trait Reason<T> {
    fn because(self, reason: &'static str) -> Result<T, Rejected>;
}

impl<T> Reason<T> for Result<T, ApiError> {
    fn because(self, reason: &'static str) -> Result<T, Rejected> {
        self.map_err(|err| Rejected { err, reason })
    }
}

async fn run(gw: &Gateway, service: ServiceName, req: Request) -> Result<Response, Rejected> {
    // 1. client
    let peer = req
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED), |c| c.0.ip());
    let (mut parts, body) = req.into_parts();
    let client = gw.trusted.client_ip(peer, &parts.headers);
    // Already canonical: the platform's path step ran before routing.
    let path = parts.uri.path().to_owned();

    // 2. anonymous limit
    if let Some(kind) = policy::anonymous_limit(&parts.method, &path) {
        gw.limits
            .check_ip(kind, limit_key(client))
            .await
            .because("rate_limited")?;
    }

    // 3. edge auth
    let access = policy::access(&parts.method, &path);
    let identity = edge_auth::authenticate(&gw.jwt, &parts, access).because("unauthorized")?;

    // 4. user limit
    if let Some(who) = &identity {
        marimo_platform::telemetry::trace::set_user(&who.user_id);
        gw.limits
            .check_user(&who.user_id)
            .await
            .because("rate_limited")?;
    }

    // 5. body checks
    let has_body = !body.is_end_stream();
    if has_body
        && policy::expects_json(&path)
        && !policy::is_json(parts.headers.get(header::CONTENT_TYPE))
    {
        return Err(ApiError::of(
            ErrorCode::UnsupportedMediaType,
            "expected a JSON body with Content-Type: application/json",
        ))
        .because("unsupported_media_type");
    }
    if declared_length(&parts.headers).is_some_and(|n| n > gw.max_body as u64) {
        return Err(proxy::payload_too_large(gw.max_body)).because("payload_too_large");
    }

    // 6. upstream
    // Credentials that did not verify (a bad token on a public route, a
    // cookie) might still mean something upstream: such a request neither
    // reads nor fills a shared entry.
    let unverified_credentials = identity.is_none()
        && (parts.headers.contains_key(header::AUTHORIZATION)
            || parts.headers.contains_key(header::COOKIE));
    let mut headers = proxy::upstream_headers(
        &parts.headers,
        Origin {
            peer,
            peer_trusted: gw.trusted.contains(peer),
        },
    );
    edge_auth::strip_identity(&mut headers);
    // The address the edge believed, so services key per-address rules
    // (the users service's sign-in delays) by the same client.
    headers.remove(marimo_platform::http::edge::CLIENT_IP_HEADER);
    if let Ok(v) = HeaderValue::from_str(&client.to_canonical().to_string()) {
        headers.insert(marimo_platform::http::edge::CLIENT_IP_HEADER, v);
    }
    if let Some(who) = &identity {
        edge_auth::set_identity(&mut headers, who);
    }
    if let Some(id) = request_id::current()
        && let Ok(v) = HeaderValue::from_str(&id)
    {
        headers.insert(request_id::HEADER.clone(), v);
    }
    // The headers to send are settled; the parts keep only method and URI.
    parts.headers.clear();
    let method = parts.method.clone();
    let body = has_body.then_some(body);
    if method == http::Method::GET
        && !unverified_credentials
        && let (Some(cache), Some(scope)) = (gw.cache.as_ref(), cache::rule(&path))
    {
        let key = cache::key(&path, parts.uri.query(), scope, identity.as_ref());
        return cache
            .fetch(key, || send(gw, service, parts, headers, body))
            .await
            .because("upstream");
    }
    let res = send(gw, service, parts, headers, body)
        .await
        .because("upstream")?;
    if cache::is_write(&method)
        && res.status().is_success()
        && let (Some(cache), Some(prefix)) = (gw.cache.as_ref(), cache::invalidation_prefix(&path))
    {
        cache.invalidate(prefix).await;
    }
    Ok(res)
}

/// The request body as sent upstream: replayable when buffered.
enum Payload {
    None,
    Buffered(Bytes),
    Streamed(Body),
}

/// Sends to an instance, retrying idempotent requests on another one.
async fn send(
    gw: &Gateway,
    service: ServiceName,
    parts: Parts,
    headers: HeaderMap,
    body: Option<Body>,
) -> Result<Response, ApiError> {
    let retryable = resilience::idempotent(&parts.method, &headers);
    let mut payload = match body {
        None => Payload::None,
        Some(body) if retryable => Payload::Buffered(buffer(body, gw.max_body).await?),
        Some(body) => Payload::Streamed(body),
    };
    let client = gw.clients.get(&service).unwrap_or(&gw.client);
    if let Some(budget) = gw.budgets.get(&service) {
        budget.deposit();
    }
    let mut tried: Vec<Arc<str>> = Vec::new();
    let mut attempt = 0u32;
    loop {
        attempt += 1;
        let lease = match gw.upstreams.choose(service, &tried) {
            Ok(lease) => lease,
            Err(why) => return Err(unavailable(service, why)),
        };
        let member = lease.member.clone();
        let body = match std::mem::replace(&mut payload, Payload::None) {
            Payload::None => None,
            Payload::Buffered(bytes) => {
                payload = Payload::Buffered(bytes.clone());
                Some(Body::from(bytes))
            }
            Payload::Streamed(body) => Some(body),
        };
        let outcome = proxy::forward(
            client,
            Forward {
                service,
                instance: member.instance.clone(),
                parts: parts.clone(),
                body,
                headers: headers.clone(),
                max_body: gw.max_body,
                edge: gw.edge.clone(),
            },
        )
        .await;
        drop(lease);
        let status = match &outcome {
            Ok(res) => res.status(),
            Err(err) => err.status,
        };
        // 5xx from the instance, or no answer at all (503/504/502 from
        // `forward`), count against it; a bad request body does not.
        let failed = status.is_server_error();
        if failed {
            member.breaker.record_failure();
        } else {
            member.breaker.record_success();
        }
        report_breaker(gw, service, &member);
        let again = failed
            && retryable
            && resilience::retryable_status(status)
            && attempt < resilience::MAX_ATTEMPTS
            && gw.budgets.get(&service).is_some_and(|b| b.try_withdraw());
        if !again {
            return outcome;
        }
        tracing::debug!(service = service.as_str(), instance = %member.instance.base, attempt, status = status.as_u16(), "retrying upstream request");
        gw.metrics.record(|| {
            metrics::counter!("gateway_retries_total", "service" => service.as_str()).increment(1);
        });
        drop(outcome);
        tried.push(member.instance.base.clone());
        tokio::time::sleep(gw.backoff.delay(attempt - 1)).await;
    }
}

/// The body of a retryable request, read up to the limit.
async fn buffer(body: Body, limit: usize) -> Result<Bytes, ApiError> {
    use http_body_util::BodyExt;
    match http_body_util::Limited::new(body, limit).collect().await {
        Ok(collected) => Ok(collected.to_bytes()),
        Err(e) if e.is::<http_body_util::LengthLimitError>() => {
            Err(proxy::payload_too_large(limit))
        }
        Err(_) => Err(ApiError::validation("the request body could not be read")),
    }
}

fn report_breaker(gw: &Gateway, service: ServiceName, member: &Member) {
    breaker_gauge(&gw.metrics, service, member);
}

/// `circuit_breaker_state{service, instance}`: 0 closed, 1 open, 2 half-open.
/// Set after every attempt and, for every known instance, at every scrape.
pub fn breaker_gauge(m: &Metrics, service: ServiceName, member: &Member) {
    let state = member.breaker.state();
    m.record(|| {
        metrics::gauge!(
            "circuit_breaker_state",
            "service" => service.as_str(),
            "instance" => member.instance.base.to_string()
        )
        .set(state.gauge());
    });
}

/// The 503 when no instance can take the request.
fn unavailable(service: ServiceName, why: Unavailable) -> ApiError {
    match why {
        Unavailable::NoInstance => proxy::no_instance(service),
        Unavailable::Open { retry_in } => ApiError::unavailable(format!(
            "the {service} service is failing; its circuit breaker is open, try again shortly"
        ))
        .with_details(json!({ "service": service.as_str(), "circuit_breaker": "open" }))
        .retry_after(retry_in.as_secs_f64().ceil() as u64),
        Unavailable::Busy => ApiError::unavailable(format!(
            "the {service} service is at its limit of requests in flight, try again shortly"
        ))
        .with_details(json!({ "service": service.as_str(), "reason": "busy" }))
        .retry_after(1),
    }
}

fn declared_length(headers: &HeaderMap) -> Option<u64> {
    headers
        .get(header::CONTENT_LENGTH)?
        .to_str()
        .ok()?
        .trim()
        .parse()
        .ok()
}

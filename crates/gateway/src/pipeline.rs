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
//! 4. **tenant**: the token's tenant, else the `X-Marimo-Tenant` header
//!    of an anonymous request (a malformed one is 400), else the default
//!    tenant; forwarded upstream as `X-Marimo-Tenant`, and part of every
//!    cache key.
//!    **user limit**: signed-in traffic per user id in the tenant, and per
//!    tenant.
//! 5. **body checks**: JSON content type (415), declared size (413).
//! 6. **upstream**: pick an instance, forward, stream the answer back.
//!
//! Phase 6 in detail: a cacheable GET is answered from the response cache
//! ([`crate::cache`]) when it can; otherwise the balancer picks an instance
//! whose breaker and in-flight limit let it through
//! ([`crate::upstreams`]; when every instance is ejected, among all of
//! them: panic mode). A request that never reached an instance
//! (connection refused, or closed before the request started) goes to
//! another instance at once, whatever its method; one that met a stale
//! pooled connection goes out again at once when it may be repeated;
//! idempotent requests and
//! those with an `Idempotency-Key` are also retried after a failure in
//! mid-request, with backoff and under the retry budget
//! ([`crate::resilience`]). Every attempt's outcome feeds its instance's
//! breaker (5xx, timeouts and connection errors are failures), and a
//! refused or broken connection ejects the instance at once.

use std::{
    net::{IpAddr, Ipv4Addr, SocketAddr},
    sync::{Arc, Mutex},
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
    ApiError, ErrorCode,
    http::request_id,
    service::ServiceName,
    telemetry::Metrics,
    tenant::{self, TenantId},
};
use serde_json::json;

use crate::{
    Gateway, cache,
    client_ip::limit_key,
    edge_auth, policy,
    proxy::{self, Failure, Forward, Origin},
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

    // 4. tenant, then the user limit
    let tenant = request_tenant(identity.as_ref(), &parts.headers).because("bad_request")?;
    if let Some(who) = &identity {
        marimo_platform::telemetry::trace::set_user(&who.user_id);
        gw.limits
            .check_user(&tenant, &who.user_id)
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
    // The tenant the edge decided on, whatever the client sent: services
    // read it for anonymous requests (a signed-in one's token decides).
    headers.remove(tenant::HEADER);
    if let Ok(v) = HeaderValue::from_str(tenant.as_str()) {
        headers.insert(http::HeaderName::from_static(tenant::HEADER), v);
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
        let key = cache::key(&tenant, &path, parts.uri.query(), scope, identity.as_ref());
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
        cache.invalidate(&tenant.scope(prefix)).await;
    }
    Ok(res)
}

/// The tenant a request acts in: the verified token's, else the
/// `X-Marimo-Tenant` header of an anonymous request, else the default
/// tenant (the platform's `Tenant` extractor decides the same way).
fn request_tenant(
    identity: Option<&marimo_platform::auth::jwt::Identity>,
    headers: &HeaderMap,
) -> Result<TenantId, ApiError> {
    if let Some(who) = identity {
        return Ok(who.tenant.clone());
    }
    tenant::named_in(headers)
}

/// The request body as sent upstream: replayable when buffered; a
/// streamed body can be sent again only as long as nobody read from it.
enum Payload {
    None,
    Buffered(Bytes),
    Streamed(Arc<Mutex<Option<Body>>>),
}

impl Payload {
    /// The body for one attempt; `Err` when a streamed body is gone.
    fn attempt(&self) -> Result<Option<Body>, ()> {
        match self {
            Self::None => Ok(None),
            Self::Buffered(bytes) => Ok(Some(Body::from(bytes.clone()))),
            Self::Streamed(slot) => {
                if lock(slot).is_none() {
                    return Err(());
                }
                Ok(Some(untouched_until_read(slot.clone())))
            }
        }
    }
}

fn lock(slot: &Mutex<Option<Body>>) -> std::sync::MutexGuard<'_, Option<Body>> {
    slot.lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// A body that takes the client's stream out of `slot` only when the
/// upstream connection first reads from it. An attempt that fails before
/// that (connection refused) leaves the stream in the slot, so a request
/// that must not be buffered can still go to another instance.
fn untouched_until_read(slot: Arc<Mutex<Option<Body>>>) -> Body {
    use futures_util::StreamExt;
    let taken = futures_util::stream::once(async move { lock(&slot).take() })
        .filter_map(|body| async move { body })
        .flat_map(Body::into_data_stream);
    Body::from_stream(taken)
}

/// Sends to an instance. A request that never reached an instance is sent
/// to another one at once, whatever its method; idempotent requests (and
/// any with an `Idempotency-Key`) are also retried after a failure in
/// mid-request, with backoff and under the retry budget.
async fn send(
    gw: &Gateway,
    service: ServiceName,
    parts: Parts,
    headers: HeaderMap,
    body: Option<Body>,
) -> Result<Response, ApiError> {
    let retryable = resilience::idempotent(&parts.method, &headers);
    let payload = match body {
        None => Payload::None,
        Some(body) if retryable => Payload::Buffered(buffer(body, gw.max_body).await?),
        Some(body) => Payload::Streamed(Arc::new(Mutex::new(Some(body)))),
    };
    let client = gw.clients.get(&service).unwrap_or(&gw.client);
    if let Some(budget) = gw.budgets.get(&service) {
        budget.deposit();
    }
    let mut tried: Vec<Arc<str>> = Vec::new();
    // Attempts that reached an instance (bounded by MAX_ATTEMPTS), and
    // those that did not (bounded by the number of instances: each one
    // refused is ejected, so the next pick is another).
    let mut sent = 0u32;
    let mut unsent = 0usize;
    let mut stale = 0u32;
    let mut last: Option<ApiError> = None;
    loop {
        let lease = match gw.upstreams.choose(service, &tried) {
            Ok(lease) => lease,
            Err(why) => return Err(unavailable(service, why)),
        };
        let (member, panic) = (lease.member.clone(), lease.panic);
        if panic {
            count_panic(gw, service);
        }
        let Ok(body) = payload.attempt() else {
            // A streamed body already read by an attempt that then failed
            // "unsent" cannot be sent again (hyper hands back only bodies
            // it never polled, so this is not expected): the client gets
            // that attempt's answer.
            return Err(last.unwrap_or_else(|| proxy::no_instance(service)));
        };
        let outcome = proxy::forward(
            client,
            &gw.answered,
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
        let (status, failure) = match &outcome {
            Ok(res) => (res.status(), None),
            Err(failed) => (failed.error.status, Some(failed.failure)),
        };
        if failure == Some(Failure::Stale) {
            // The instance closed a pooled connection as it was reused:
            // nothing against it (no breaker failure, no ejection). A
            // replayable request goes out again at once on another
            // connection — outside the budget, like an unsent one; the
            // pool drops each stale connection, so this ends.
            if retryable && stale < MAX_STALE_RETRIES {
                stale += 1;
                tracing::debug!(service = service.as_str(), instance = %member.instance.base, "stale pooled connection, sending again");
                count_retry(gw, service, "stale");
                last = outcome.err().map(|f| f.error);
                continue;
            }
            return outcome.map_err(|f| f.error);
        }
        // 5xx from the instance and no answer at all count against it; a
        // bad request body does not.
        let failed = status.is_server_error() && failure != Some(Failure::Client);
        if failed {
            member.breaker.record_failure();
        } else {
            member.breaker.record_success();
        }
        if failure.is_some_and(Failure::ejects) {
            eject(gw, service, &member);
        } else if panic && outcome.is_ok() && !failed {
            // An ejected instance picked in panic mode answered: that
            // disproves the ejection sooner than its next probe would.
            crate::health::readmit_one(&gw.metrics, service, &member, "answer");
        }
        report_breaker(gw, service, &member);
        tried.push(member.instance.base.clone());

        if failure == Some(Failure::NotSent) {
            unsent += 1;
            if unsent < gw.upstreams.members(service).len().max(1) {
                // Nothing reached the instance: another one gets the
                // request now, without backoff and outside the budget.
                tracing::debug!(service = service.as_str(), instance = %member.instance.base, "instance unreachable, sending elsewhere");
                count_retry(gw, service, "unsent");
                last = outcome.err().map(|f| f.error);
                continue;
            }
            return outcome.map_err(|f| f.error);
        }
        sent += 1;
        let again = failed
            && retryable
            && (failure.is_some() || resilience::retryable_status(status))
            && sent < resilience::MAX_ATTEMPTS
            && gw.budgets.get(&service).is_some_and(|b| b.try_withdraw());
        if !again {
            return outcome.map_err(|f| f.error);
        }
        tracing::debug!(service = service.as_str(), instance = %member.instance.base, attempt = sent, status = status.as_u16(), "retrying upstream request");
        count_retry(gw, service, "failed");
        drop(outcome);
        tokio::time::sleep(gw.backoff.delay(sent - 1)).await;
    }
}

/// Replays of a replayable request after stale pooled connections, on top
/// of its other attempts: enough to outlast the few idle connections an
/// instance that restarted (or closes idle ones early) leaves in the pool.
const MAX_STALE_RETRIES: u32 = 4;

/// `gateway_upstream_panic_total{service}`: requests sent to an ejected
/// instance because every instance of the service was ejected.
fn count_panic(gw: &Gateway, service: ServiceName) {
    gw.metrics.record(|| {
        metrics::counter!("gateway_upstream_panic_total", "service" => service.as_str())
            .increment(1);
    });
}

fn count_retry(gw: &Gateway, service: ServiceName, kind: &'static str) {
    gw.metrics.record(|| {
        metrics::counter!("gateway_retries_total", "service" => service.as_str(), "kind" => kind)
            .increment(1);
    });
}

/// Takes an instance out of rotation (once) and says so.
fn eject(gw: &Gateway, service: ServiceName, member: &Member) {
    if member.eject() {
        tracing::warn!(service = service.as_str(), instance = %member.instance.base, "instance unreachable: ejected until its health probe passes");
        gw.metrics.record(|| {
            metrics::counter!("gateway_upstream_ejections_total", "service" => service.as_str())
                .increment(1);
        });
        ejected_gauge(&gw.metrics, service, member);
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

/// `gateway_upstream_ejected{service, instance}`: 1 while out of rotation.
/// Set on every change and, for every known instance, at every scrape.
pub fn ejected_gauge(m: &Metrics, service: ServiceName, member: &Member) {
    let ejected = if member.is_ejected() { 1.0 } else { 0.0 };
    m.record(|| {
        metrics::gauge!(
            "gateway_upstream_ejected",
            "service" => service.as_str(),
            "instance" => member.instance.base.to_string()
        )
        .set(ejected);
    });
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

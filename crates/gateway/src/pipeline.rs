//! The phases of a proxied request, in order (each may answer early):
//!
//! 1. **client**: the client address (socket peer, or `X-Forwarded-For`
//!    from a trusted proxy).
//! 2. **anonymous limit**: login, register and refresh per client address.
//! 3. **edge auth**: a valid access token on protected routes; the identity
//!    headers are set from it and never from the client.
//! 4. **user limit**: signed-in traffic per user id.
//! 5. **body checks**: JSON content type (415), declared size (413).
//! 6. **upstream**: pick an instance, forward, stream the answer back.
//!
//! Breakers, retries and the response cache (a later issue) slot in at
//! phase 6.

use std::{
    net::{IpAddr, Ipv4Addr, SocketAddr},
    sync::Arc,
    time::Instant,
};

use axum::{
    body::HttpBody,
    extract::{ConnectInfo, Request},
    response::{IntoResponse, Response},
};
use http::{HeaderValue, header};
use marimo_platform::{ApiError, ErrorCode, http::request_id, service::ServiceName};

use crate::{
    Gateway,
    client_ip::limit_key,
    edge_auth, policy,
    proxy::{self, Forward, Origin},
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
    let path = parts.uri.path().to_owned();

    // 2. anonymous limit
    if let Some(kind) = policy::anonymous_limit(&parts.method, &path) {
        gw.limits
            .check_ip(kind, limit_key(client))
            .because("rate_limited")?;
    }

    // 3. edge auth
    let access = policy::access(&parts.method, &path);
    let identity = edge_auth::authenticate(&gw.jwt, &parts, access).because("unauthorized")?;

    // 4. user limit
    if let Some(who) = &identity {
        gw.limits.check_user(&who.user_id).because("rate_limited")?;
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
    let mut headers = proxy::upstream_headers(
        &parts.headers,
        Origin {
            peer,
            peer_trusted: gw.trusted.contains(peer),
        },
    );
    edge_auth::strip_identity(&mut headers);
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
    let instance = gw
        .upstreams
        .pick(service)
        .ok_or_else(|| proxy::no_instance(service))
        .because("no_instance")?;
    proxy::forward(
        &gw.client,
        Forward {
            service,
            instance,
            parts,
            body: has_body.then_some(body),
            headers,
            max_body: gw.max_body,
        },
    )
    .await
    .because("upstream")
}

fn declared_length(headers: &http::HeaderMap) -> Option<u64> {
    headers
        .get(header::CONTENT_LENGTH)?
        .to_str()
        .ok()?
        .trim()
        .parse()
        .ok()
}

//! Upstream limits and the retry policy.
//!
//! `MARIMO_UPSTREAM` (all optional, comma-separated):
//! `connect_ms=2000,timeout_ms=30000,max_inflight=256`, and per route
//! table service `shop.connect_ms=500,shop.timeout_ms=5000`. An instance
//! at `max_inflight` requests in flight gets no more (503 at once when
//! every instance is full), so a slow service cannot tie up the gateway.
//!
//! Retries, two kinds:
//!
//! - **Never sent** (the connection was refused, or closed before the
//!   request started): any request, whatever its method — nothing reached
//!   an instance — goes to another instance at once, without backoff and
//!   outside the budget, at most once per instance (each refusing one is
//!   ejected, see [`crate::upstreams`]).
//! - **Stale pooled connection** (a reused connection the instance closed
//!   or reset before any answer, [`crate::proxy::Failure::Stale`]):
//!   requests that may be repeated (below) go out again at once, without
//!   backoff and outside the budget; the instance is not blamed. Others
//!   are answered 502: the instance may have acted on them and died.
//! - **Failed after sending** (the connection broke, a timeout, 502, 503
//!   or 504): only idempotent requests (GET, HEAD, OPTIONS, PUT, DELETE)
//!   and requests with an `Idempotency-Key` (every service honours it),
//!   at most [`MAX_ATTEMPTS`] attempts in all, with [`Backoff`] (100 ms ×2,
//!   full jitter, 10 s cap) between them, preferring another instance, and
//!   only while the service's [`RetryBudget`] allows (≤ 20 % of requests
//!   over 10 s, floor 3/s).

use std::{collections::HashMap, time::Duration};

use http::{HeaderMap, Method, StatusCode};
use marimo_platform::service::ServiceName;

use crate::upstreams::DEFAULT_MAX_INFLIGHT;

/// Attempts per request, the first included.
pub const MAX_ATTEMPTS: u32 = 3;

pub use marimo_platform::resilience::{Backoff, RetryBudget};

/// Connect and total time allowed for one upstream attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timeouts {
    pub connect: Duration,
    pub total: Duration,
}

impl Default for Timeouts {
    fn default() -> Self {
        Self {
            connect: crate::proxy::CONNECT_TIMEOUT,
            total: crate::proxy::REQUEST_TIMEOUT,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UpstreamConfig {
    pub default: Timeouts,
    pub per_service: HashMap<ServiceName, Timeouts>,
    pub max_inflight: usize,
}

impl Default for UpstreamConfig {
    fn default() -> Self {
        Self {
            default: Timeouts::default(),
            per_service: HashMap::new(),
            max_inflight: DEFAULT_MAX_INFLIGHT,
        }
    }
}

impl UpstreamConfig {
    pub fn timeouts(&self, service: ServiceName) -> Timeouts {
        self.per_service
            .get(&service)
            .copied()
            .unwrap_or(self.default)
    }

    /// Parses `MARIMO_UPSTREAM`; the error names the bad part.
    pub fn parse(spec: Option<&str>) -> Result<Self, String> {
        let mut cfg = Self::default();
        let mut overrides: Vec<(ServiceName, &str, u64)> = Vec::new();
        for part in spec
            .unwrap_or("")
            .split(',')
            .map(str::trim)
            .filter(|p| !p.is_empty())
        {
            let bad = || format!("MARIMO_UPSTREAM: bad entry '{part}'");
            let (key, value) = part.split_once('=').ok_or_else(bad)?;
            let n: u64 = value.trim().parse().map_err(|_| bad())?;
            if n == 0 {
                return Err(bad());
            }
            match key.trim().split_once('.') {
                Some((service, key)) => {
                    let service: ServiceName = service.parse().map_err(|_| bad())?;
                    if !matches!(key, "connect_ms" | "timeout_ms") {
                        return Err(bad());
                    }
                    overrides.push((service, key, n));
                }
                None => match key.trim() {
                    "connect_ms" => cfg.default.connect = Duration::from_millis(n),
                    "timeout_ms" => cfg.default.total = Duration::from_millis(n),
                    "max_inflight" => {
                        cfg.max_inflight = usize::try_from(n).unwrap_or(usize::MAX);
                    }
                    _ => return Err(bad()),
                },
            }
        }
        for (service, key, n) in overrides {
            let t = cfg.per_service.entry(service).or_insert(cfg.default);
            match key {
                "connect_ms" => t.connect = Duration::from_millis(n),
                _ => t.total = Duration::from_millis(n),
            }
        }
        Ok(cfg)
    }
}

/// Whether a request that may have reached an instance may be sent again:
/// idempotent by its method, or carrying an `Idempotency-Key`, which every
/// service honours on every mutating endpoint (a repeat is answered from
/// the first one's stored response).
pub fn idempotent(method: &Method, headers: &HeaderMap) -> bool {
    matches!(
        *method,
        Method::GET | Method::HEAD | Method::OPTIONS | Method::PUT | Method::DELETE
    ) || headers.contains_key(marimo_platform::idempotency::HEADER)
}

/// Upstream answers worth another attempt.
pub fn retryable_status(status: StatusCode) -> bool {
    matches!(status.as_u16(), 502..=504)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_upstream_limits() {
        let c = UpstreamConfig::parse(None).unwrap();
        assert_eq!(c, UpstreamConfig::default());
        let c = UpstreamConfig::parse(Some(
            "timeout_ms=1000, max_inflight=8, shop.timeout_ms=50, shop.connect_ms=20",
        ))
        .unwrap();
        assert_eq!(c.max_inflight, 8);
        assert_eq!(c.timeouts(ServiceName::Users).total, Duration::from_secs(1));
        assert_eq!(
            c.timeouts(ServiceName::Shop).total,
            Duration::from_millis(50)
        );
        assert_eq!(
            c.timeouts(ServiceName::Shop).connect,
            Duration::from_millis(20)
        );
        for bad in [
            "x",
            "timeout_ms=0",
            "nope.timeout_ms=1",
            "shop.max_inflight=1",
            "a=1",
        ] {
            assert!(UpstreamConfig::parse(Some(bad)).is_err(), "{bad}");
        }
    }

    #[test]
    fn only_idempotent_requests_are_retried() {
        let none = HeaderMap::new();
        let mut keyed = HeaderMap::new();
        keyed.insert("idempotency-key", http::HeaderValue::from_static("k1"));
        for m in [
            Method::GET,
            Method::HEAD,
            Method::OPTIONS,
            Method::PUT,
            Method::DELETE,
        ] {
            assert!(idempotent(&m, &none), "{m}");
        }
        assert!(!idempotent(&Method::POST, &none));
        assert!(!idempotent(&Method::PATCH, &none));
        assert!(idempotent(&Method::POST, &keyed));
        assert!(idempotent(&Method::PATCH, &keyed));
        assert!(retryable_status(StatusCode::SERVICE_UNAVAILABLE));
        assert!(!retryable_status(StatusCode::INTERNAL_SERVER_ERROR));
    }
}

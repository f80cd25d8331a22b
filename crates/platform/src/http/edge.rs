//! The edge credential: with `MARIMO_EDGE_SECRET` set, only requests that
//! came through the gateway reach a service's API.
//!
//! The edge is where the per-address rate limits, the login limits and
//! the body checks are; a client that could reach a service's own port
//! would go around all of them. Services listen on 127.0.0.1 by default
//! (`MARIMO_BIND`, and `marimo up` keeps everything on loopback), and when
//! they must listen on a network (`marimo serve` on several machines), the
//! shared secret closes that door: the gateway signs every request it
//! forwards, and a service refuses (403) an `/api/` request without a
//! valid signature.
//!
//! `X-Marimo-Edge: <unix seconds>.<hex HMAC-SHA256(secret,
//! "<seconds>\n<METHOD>\n<path>")>`, believed for [`MAX_AGE_SECS`] either
//! way: a header copied from one request cannot be replayed much later or
//! on another path. `/health`, `/ready`, `/metrics` and `/internal/...`
//! stay open to the platform itself (probes, scrapers, services).
//! Services calling each other sign their calls the same way
//! ([`crate::client::ServiceClient::with_edge`]).

use axum::{
    extract::{Request, State},
    middleware::Next,
    response::{IntoResponse, Response},
};
use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;
use subtle::ConstantTimeEq;

use crate::error::ApiError;

/// The header the gateway (and services calling services) sign with.
pub const HEADER: &str = "x-marimo-edge";
/// The client address the gateway believed (its rate limits' key, after
/// `TRUSTED_PROXIES`), for services that key anything by address (the
/// sign-in delays). The gateway always replaces a client-sent one.
pub const CLIENT_IP_HEADER: &str = "x-marimo-client-ip";
/// How far a signature's time may be from the receiver's clock.
pub const MAX_AGE_SECS: i64 = 60;

/// The shared secret, ready to sign and check.
#[derive(Clone)]
pub struct EdgeKey(Vec<u8>);

impl std::fmt::Debug for EdgeKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("EdgeKey(***)")
    }
}

impl EdgeKey {
    pub fn new(secret: &[u8]) -> Self {
        Self(secret.to_vec())
    }

    /// From `MARIMO_EDGE_SECRET`, when set.
    pub fn from_settings(settings: &crate::config::Settings) -> Option<Self> {
        settings
            .edge_secret
            .as_ref()
            .map(|s| Self::new(s.expose().as_bytes()))
    }

    fn mac(&self, at: i64, method: &str, path: &str) -> [u8; 32] {
        let mut mac = Hmac::<Sha256>::new_from_slice(&self.0).expect("HMAC takes any key length");
        mac.update(format!("{at}\n{method}\n{path}").as_bytes());
        mac.finalize().into_bytes().into()
    }

    /// The header value for `method path` at unix time `at`.
    pub fn sign(&self, at: i64, method: &str, path: &str) -> String {
        format!("{at}.{}", hex::encode(self.mac(at, method, path)))
    }

    /// The header value for `method path` now.
    pub fn sign_now(&self, method: &str, path: &str) -> String {
        self.sign(crate::clock::unix_now(), method, path)
    }

    /// Whether `value` signs `method path` and is fresh at `now`.
    pub fn verify(&self, value: &str, method: &str, path: &str, now: i64) -> bool {
        let Some((at, mac)) = value.trim().split_once('.') else {
            return false;
        };
        let (Ok(at), Ok(mac)) = (at.parse::<i64>(), hex::decode(mac)) else {
            return false;
        };
        (now - at).abs() <= MAX_AGE_SECS && bool::from(self.mac(at, method, path).ct_eq(&mac[..]))
    }
}

/// Whether `path` is API traffic that must come through the edge.
fn guarded(path: &str) -> bool {
    path == "/api" || path.starts_with("/api/")
}

/// Refuses `/api/` requests without a valid edge signature (403).
pub async fn middleware(State(key): State<EdgeKey>, req: Request, next: Next) -> Response {
    // The path the gateway signed: as received, before the version mapping
    // moved it onto this service's routes.
    let path = req
        .extensions()
        .get::<super::version::ReceivedPath>()
        .map_or(req.uri().path(), |p| p.0.as_str());
    if guarded(path) {
        let signed = req
            .headers()
            .get(HEADER)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| key.verify(v, req.method().as_str(), path, crate::clock::unix_now()));
        if !signed {
            tracing::warn!(%path, "request refused: not through the gateway (no valid edge signature)");
            return ApiError::forbidden("this service is reached through the gateway only")
                .into_response();
        }
    }
    next.run(req).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_signature_holds_for_its_method_path_and_a_minute() {
        let key = EdgeKey::new(b"edge-secret-0123456789abcdef0123456789");
        let now = 1_800_000_000;
        let v = key.sign(now, "POST", "/api/users/login");
        assert!(key.verify(&v, "POST", "/api/users/login", now));
        assert!(key.verify(&v, "POST", "/api/users/login", now + MAX_AGE_SECS));
        assert!(!key.verify(&v, "POST", "/api/users/login", now + MAX_AGE_SECS + 1));
        assert!(!key.verify(&v, "GET", "/api/users/login", now));
        assert!(!key.verify(&v, "POST", "/api/users/register", now));
        let other = EdgeKey::new(b"another-secret-0123456789abcdef012345");
        assert!(!other.verify(&v, "POST", "/api/users/login", now));
        assert!(!key.verify("garbage", "POST", "/api/users/login", now));
        assert!(!key.verify("", "POST", "/api/users/login", now));
        assert!(guarded("/api/shop/orders") && guarded("/api"));
        assert!(!guarded("/health") && !guarded("/internal/revocations") && !guarded("/apix"));
    }
}

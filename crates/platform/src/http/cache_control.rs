//! Who may keep a copy of an answer.
//!
//! An answer to a request that carried `Authorization` is the caller's
//! own unless its handler says otherwise: [`private_when_authorized`] sends
//! `Cache-Control: private, no-store` on it, so neither the gateway's
//! response cache nor any cache between the gateway and the client stores
//! it. A handler opts out by setting a shared policy itself:
//!
//! - [`PUBLIC`]: the same answer for everyone, signed in or not (the shop
//!   catalogue);
//! - [`SHARED_NO_CACHE`]: the same answer for every caller allowed to see
//!   it (settings and reference data). Clients and caches outside the
//!   deployment must revalidate before reuse; the gateway, which acts for
//!   the services, keys such reads per role and drops them on writes.
//!
//! Token answers (login, register, refresh) carry [`NO_STORE`] whatever
//! the request held ([`no_store`]).

use axum::{
    extract::Request,
    http::{HeaderValue, header},
    middleware::Next,
    response::Response,
};
use tower_http::set_header::SetResponseHeaderLayer;

/// The catalogue: anyone may keep it for a minute.
pub const PUBLIC: &str = "public, max-age=60";
/// Shared by every caller allowed to read it; revalidated before reuse.
pub const SHARED_NO_CACHE: &str = "no-cache";
/// Per-caller answers.
pub const PRIVATE: &str = "private, no-store";
/// Secrets (tokens): never kept anywhere.
pub const NO_STORE: &str = "no-store";

/// The layer type of [`policy`] and [`no_store`], so that services need no
/// tower-http dependency of their own.
pub type Policy = SetResponseHeaderLayer<HeaderValue>;

/// A layer that sets `Cache-Control` on the answers of the routes it wraps
/// (a handler's own value wins).
pub fn policy(value: &'static str) -> Policy {
    SetResponseHeaderLayer::if_not_present(header::CACHE_CONTROL, HeaderValue::from_static(value))
}

/// A layer that sends `Cache-Control: no-store` on every answer of the
/// routes it wraps, replacing any other value.
pub fn no_store() -> Policy {
    SetResponseHeaderLayer::overriding(header::CACHE_CONTROL, HeaderValue::from_static(NO_STORE))
}

/// Whether a `Cache-Control` value lets shared caches keep the answer for
/// more than one caller: `public` or `no-cache`, and neither `private` nor
/// `no-store`.
pub fn is_shared(value: &HeaderValue) -> bool {
    let Ok(v) = value.to_str() else {
        return false;
    };
    let directives: Vec<String> = v
        .split(',')
        .map(|d| d.trim().to_ascii_lowercase())
        .collect();
    let has = |name: &str| {
        directives
            .iter()
            .any(|d| d == name || d.starts_with(&format!("{name}=")))
    };
    (has("public") || has("no-cache")) && !has("private") && !has("no-store")
}

/// Middleware: answers to requests with `Authorization` get
/// `Cache-Control: private, no-store` unless their handler set a shared
/// policy.
pub async fn private_when_authorized(req: Request, next: Next) -> Response {
    let authorized = req.headers().contains_key(header::AUTHORIZATION);
    let mut res = next.run(req).await;
    if authorized {
        let shared = res
            .headers()
            .get_all(header::CACHE_CONTROL)
            .iter()
            .next()
            .is_some_and(is_shared);
        if !shared {
            res.headers_mut()
                .insert(header::CACHE_CONTROL, HeaderValue::from_static(PRIVATE));
        }
    }
    res
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shared_policies() {
        for (v, shared) in [
            (PUBLIC, true),
            (SHARED_NO_CACHE, true),
            (PRIVATE, false),
            (NO_STORE, false),
            ("max-age=60", false),
            ("public, no-store", false),
            ("Public, Max-Age=5", true),
            ("private=\"set-cookie\", public", false),
        ] {
            assert_eq!(is_shared(&HeaderValue::from_static(v)), shared, "{v}");
        }
    }
}

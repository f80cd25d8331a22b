//! Edge policy: which requests pass without a token, which anonymous limit
//! a request counts against, and which bodies are acceptable.
//!
//! Public routes (everything else under `/api` needs a valid access token):
//! - `POST /api/users/{register,login,refresh,logout}`
//! - `POST /api/shop/payments/callback` (the payment provider; the shop
//!   believes it only with a valid signature)
//! - `GET`/`HEAD /api/shop/products` and `/api/shop/products/...`
//! - `GET`/`HEAD /api/shop/categories`
//!
//! Each holds under `/api/v1/...` and under its deprecated alias alike.
//!
//! `/health`, `/ready` and `/metrics` are the gateway's own routes and never
//! reach this policy.
//!
//! A path with dot segments (`..`, `%2e%2e`), encoded slashes or
//! backslashes is never public, so that `/api/shop/products/../orders`
//! cannot borrow the catalogue's public access.

use http::{HeaderValue, Method};
use marimo_platform::http::version::unversioned;

use crate::rate_limit::LimitKind;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    Public,
    Protected,
}

const PUBLIC_USER_ACTIONS: [&str; 6] = [
    "/api/users/register",
    "/api/users/signup",
    "/api/users/login",
    "/api/users/refresh",
    "/api/users/logout",
    "/api/shop/payments/callback",
];

pub fn access(method: &Method, path: &str) -> Access {
    // `/api/v1/...` and its alias are judged alike.
    let path = &*unversioned(path);
    if !is_plain(path) {
        return Access::Protected;
    }
    let public = if *method == Method::POST {
        PUBLIC_USER_ACTIONS.contains(&path)
    } else if *method == Method::GET || *method == Method::HEAD {
        path == "/api/shop/products"
            || path.starts_with("/api/shop/products/")
            || path == "/api/shop/categories"
    } else {
        false
    };
    if public {
        Access::Public
    } else {
        Access::Protected
    }
}

/// The per-address limit an anonymous request counts against.
pub fn anonymous_limit(method: &Method, path: &str) -> Option<LimitKind> {
    if *method != Method::POST {
        return None;
    }
    match &*unversioned(path) {
        "/api/users/login" => Some(LimitKind::Login),
        // Sign-up creates an account (and a tenant): the register limit.
        "/api/users/register" | "/api/users/signup" => Some(LimitKind::Register),
        "/api/users/refresh" => Some(LimitKind::Refresh),
        _ => None,
    }
}

/// No dot segments (plain or percent-encoded), no encoded slashes, no
/// backslashes, no `;` parameters.
fn is_plain(path: &str) -> bool {
    let lower = path.to_ascii_lowercase();
    if lower.contains("%2f") || lower.contains("%5c") || lower.contains('\\') || lower.contains(';')
    {
        return false;
    }
    let decoded = lower.replace("%2e", ".");
    !decoded.split('/').any(|seg| seg == "." || seg == "..")
}

/// Whether every `/api` request body must be JSON. All current endpoints
/// take JSON; an upload endpoint would be exempted here.
pub fn expects_json(path: &str) -> bool {
    path.starts_with("/api/")
}

/// `application/json` or `application/<anything>+json`, any parameters.
pub fn is_json(content_type: Option<&HeaderValue>) -> bool {
    let Some(ct) = content_type.and_then(|v| v.to_str().ok()) else {
        return false;
    };
    let essence = ct
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    essence == "application/json"
        || essence
            .strip_prefix("application/")
            .is_some_and(|sub| sub.ends_with("+json") && sub.len() > "+json".len())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn public_routes() {
        for p in PUBLIC_USER_ACTIONS {
            assert_eq!(access(&Method::POST, p), Access::Public, "{p}");
            assert_eq!(access(&Method::GET, p), Access::Protected, "{p}");
        }
        for p in [
            "/api/shop/products",
            "/api/shop/products/0190-abc",
            "/api/shop/categories",
        ] {
            assert_eq!(access(&Method::GET, p), Access::Public, "{p}");
            assert_eq!(access(&Method::HEAD, p), Access::Public, "{p}");
            assert_eq!(access(&Method::POST, p), Access::Protected, "{p}");
            assert_eq!(access(&Method::DELETE, p), Access::Protected, "{p}");
        }
    }

    #[test]
    fn everything_else_is_protected() {
        for (m, p) in [
            (Method::GET, "/api/users/profile"),
            (Method::POST, "/api/users/admin/assign-role"),
            (Method::POST, "/api/users/login/"),
            (Method::POST, "/api/users/loginx"),
            (Method::GET, "/api/shop/productsx"),
            (Method::GET, "/api/shop/orders"),
            (Method::GET, "/api/shop/admin/products"),
            (Method::GET, "/api/shop/categories/1"),
            (Method::GET, "/api/factory/products"),
            (Method::GET, "/api/config"),
            (Method::OPTIONS, "/api/shop/products"),
        ] {
            assert_eq!(access(&m, p), Access::Protected, "{m} {p}");
        }
    }

    #[test]
    fn traversal_never_borrows_public_access() {
        for p in [
            "/api/shop/products/../orders",
            "/api/shop/products/%2e%2e/orders",
            "/api/shop/products/%2E%2E/admin/orders",
            "/api/shop/products/.%2e/orders",
            "/api/shop/products/..%2forders",
            "/api/shop/products/..\\orders",
            "/api/shop/products/./x",
            "/api/shop/products/x;y",
        ] {
            assert_eq!(access(&Method::GET, p), Access::Protected, "{p}");
        }
        // A dot inside a segment is fine.
        assert_eq!(
            access(&Method::GET, "/api/shop/products/widget.v2"),
            Access::Public
        );
    }

    #[test]
    fn anonymous_limits_by_route() {
        assert_eq!(
            anonymous_limit(&Method::POST, "/api/users/login"),
            Some(LimitKind::Login)
        );
        assert_eq!(
            anonymous_limit(&Method::POST, "/api/users/register"),
            Some(LimitKind::Register)
        );
        assert_eq!(
            anonymous_limit(&Method::POST, "/api/v1/users/signup"),
            Some(LimitKind::Register)
        );
        assert_eq!(
            anonymous_limit(&Method::POST, "/api/users/refresh"),
            Some(LimitKind::Refresh)
        );
        assert_eq!(anonymous_limit(&Method::POST, "/api/users/logout"), None);
        assert_eq!(anonymous_limit(&Method::GET, "/api/users/login"), None);
    }

    #[test]
    fn json_media_types() {
        let ct = |s: &'static str| HeaderValue::from_static(s);
        assert!(is_json(Some(&ct("application/json"))));
        assert!(is_json(Some(&ct("Application/JSON; charset=utf-8"))));
        assert!(is_json(Some(&ct("application/merge-patch+json"))));
        assert!(!is_json(Some(&ct("application/+json"))));
        assert!(!is_json(Some(&ct("text/plain"))));
        assert!(!is_json(Some(&ct("application/jsonx"))));
        assert!(!is_json(Some(&ct("text/json+xml"))));
        assert!(!is_json(None));
    }
}

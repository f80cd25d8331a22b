//! API versions: `/api/v1/<service>/...` is the API; the original
//! unversioned `/api/<service>/...` paths are deprecated aliases of it.
//!
//! One mechanism for every listener (the gateway's and each service's): the
//! canonical-path step ([`super::path`]) maps a request under either prefix
//! onto the prefix its router's routes are declared under ([`Routes`]),
//! records how the client addressed it ([`Addressed`], a request
//! extension), and answers an alias request with
//!
//! ```text
//! Deprecation: @1796083200
//! Link: </api/v1/shop/products>; rel="successor-version"
//! ```
//!
//! (RFC 9745 and RFC 8288; the date is when v1 was introduced). The body
//! and status are the same under both prefixes: an alias is the v1
//! endpoint under its old name, so the original clients keep working.
//!
//! The gateway declares its routes under v1 and forwards v1 paths, so a
//! service behind it always sees v1 and adds no headers; the gateway adds
//! them for a client that used an alias. A service reached directly (tests,
//! another service) adds them itself.
//!
//! Outside versioning: `/api/docs` (the browsable reference, which shows
//! whatever versions exist) and `/api/v<N>/...` for any other `N` (a
//! version that does not exist is a plain 404, never an alias).

use axum::http::{HeaderName, HeaderValue};

/// The response header marking a deprecated alias (RFC 9745).
pub const DEPRECATION: HeaderName = HeaderName::from_static("deprecation");
/// The prefix of version 1.
pub const V1_PREFIX: &str = "/api/v1";
/// Unix time of the day v1 was introduced (2026-12-01), sent as
/// `Deprecation: @<time>` on alias answers: from then on the aliases are
/// deprecated (RFC 9745 §2.1).
pub const ALIASES_DEPRECATED_AT: i64 = 1_796_083_200;
/// The `Link` relation naming the v1 path of an alias (RFC 5829).
pub const SUCCESSOR_REL: &str = "successor-version";
/// `/api/...` paths that are not versioned API endpoints.
pub const UNVERSIONED: [&str; 1] = ["/api/docs"];

/// Where a router's API routes are declared.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Routes {
    /// Under `/api/v1/<service>/...`; aliases are mapped onto them.
    V1,
    /// Under `/api/<service>/...` (services not converted yet): v1 paths
    /// are mapped onto them.
    #[default]
    Unversioned,
}

/// How the client addressed an API request (a request extension set by
/// the path step).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Addressed {
    /// `/api/v1/...`.
    V1,
    /// `/api/...` without a version: a deprecated alias.
    Alias,
}

/// The request path as the client sent it (after canonicalisation, before
/// the version mapping): what the gateway signed ([`super::edge`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReceivedPath(pub String);

/// Whether `segment` names a version (`v` and digits).
fn is_version(segment: &str) -> bool {
    segment.len() > 1
        && segment.starts_with('v')
        && segment[1..].bytes().all(|b| b.is_ascii_digit())
}

/// How a canonical path addresses the API, and the rest after the version
/// (`/shop/products` for both `/api/v1/shop/products` and
/// `/api/shop/products`). `None` for paths outside the versioned API.
pub fn classify(path: &str) -> Option<(Addressed, &str)> {
    let rest = path.strip_prefix("/api")?;
    if !rest.starts_with('/') || rest == "/" {
        return None;
    }
    if UNVERSIONED
        .iter()
        .any(|u| path == *u || path.strip_prefix(u).is_some_and(|r| r.starts_with('/')))
    {
        return None;
    }
    let first = rest[1..].split('/').next().unwrap_or("");
    if first == "v1" {
        let after = &rest[3..];
        return (!after.is_empty() && after != "/").then_some((Addressed::V1, after));
    }
    if is_version(first) {
        return None;
    }
    Some((Addressed::Alias, rest))
}

/// The v1 path of an API path (itself when already v1); other paths
/// unchanged.
pub fn v1_path(path: &str) -> String {
    match classify(path) {
        Some((_, rest)) => format!("{V1_PREFIX}{rest}"),
        None => path.to_owned(),
    }
}

/// The unversioned (alias) form of an API path (itself when already
/// unversioned); other paths unchanged. The gateway matches its policies
/// on this form, so both prefixes are judged alike.
pub fn unversioned(path: &str) -> std::borrow::Cow<'_, str> {
    match classify(path) {
        Some((Addressed::V1, rest)) => std::borrow::Cow::Owned(format!("/api{rest}")),
        _ => std::borrow::Cow::Borrowed(path),
    }
}

/// The path a router declared under `routes` serves `path` at, and how
/// the client addressed it.
pub fn route(path: &str, routes: Routes) -> (Option<String>, Option<Addressed>) {
    match (classify(path), routes) {
        (None, _) => (None, None),
        (Some((Addressed::V1, _)), Routes::V1) => (None, Some(Addressed::V1)),
        (Some((Addressed::Alias, rest)), Routes::V1) => {
            (Some(format!("{V1_PREFIX}{rest}")), Some(Addressed::Alias))
        }
        (Some((Addressed::V1, rest)), Routes::Unversioned) => {
            (Some(format!("/api{rest}")), Some(Addressed::V1))
        }
        (Some((Addressed::Alias, _)), Routes::Unversioned) => (None, Some(Addressed::Alias)),
    }
}

/// The `Deprecation` value of alias answers.
pub fn deprecation_value() -> HeaderValue {
    HeaderValue::from_str(&format!("@{ALIASES_DEPRECATED_AT}"))
        .unwrap_or_else(|_| HeaderValue::from_static("true"))
}

/// The `Link` value naming the successor of the alias `path`.
pub fn successor_link(path: &str) -> Option<HeaderValue> {
    HeaderValue::from_str(&format!("<{}>; rel=\"{SUCCESSOR_REL}\"", v1_path(path))).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefixes_are_told_apart() {
        assert_eq!(
            classify("/api/v1/shop/products"),
            Some((Addressed::V1, "/shop/products"))
        );
        assert_eq!(
            classify("/api/shop/products"),
            Some((Addressed::Alias, "/shop/products"))
        );
        assert_eq!(classify("/api/config"), Some((Addressed::Alias, "/config")));
        assert_eq!(
            classify("/api/v1/openapi.json"),
            Some((Addressed::V1, "/openapi.json"))
        );
        for outside in [
            "/health",
            "/api",
            "/api/",
            "/api/v1",
            "/api/v1/",
            "/api/v2/shop/products",
            "/api/v10/x",
            "/api/docs",
            "/api/docs/",
            "/api/docs/index.css",
            "/apix/shop",
            "/internal/revocations",
        ] {
            assert_eq!(classify(outside), None, "{outside}");
        }
        // Not a version: an ordinary first segment.
        assert_eq!(classify("/api/vx/a"), Some((Addressed::Alias, "/vx/a")));
        assert_eq!(
            classify("/api/docsx/a"),
            Some((Addressed::Alias, "/docsx/a"))
        );
    }

    #[test]
    fn requests_are_mapped_onto_the_declared_routes() {
        assert_eq!(
            route("/api/shop/orders", Routes::V1),
            (Some("/api/v1/shop/orders".into()), Some(Addressed::Alias))
        );
        assert_eq!(
            route("/api/v1/shop/orders", Routes::V1),
            (None, Some(Addressed::V1))
        );
        assert_eq!(
            route("/api/v1/factory/products", Routes::Unversioned),
            (Some("/api/factory/products".into()), Some(Addressed::V1))
        );
        assert_eq!(
            route("/api/factory/products", Routes::Unversioned),
            (None, Some(Addressed::Alias))
        );
        assert_eq!(route("/metrics", Routes::V1), (None, None));
        assert_eq!(route("/api/docs", Routes::V1), (None, None));
    }

    #[test]
    fn both_forms_of_a_path() {
        assert_eq!(v1_path("/api/users/login"), "/api/v1/users/login");
        assert_eq!(v1_path("/api/v1/users/login"), "/api/v1/users/login");
        assert_eq!(v1_path("/health"), "/health");
        assert_eq!(unversioned("/api/v1/users/login"), "/api/users/login");
        assert_eq!(unversioned("/api/users/login"), "/api/users/login");
        assert_eq!(unversioned("/api/v1/"), "/api/v1/");
        assert_eq!(
            successor_link("/api/shop/products").unwrap(),
            "</api/v1/shop/products>; rel=\"successor-version\""
        );
        assert_eq!(deprecation_value(), "@1796083200");
    }
}

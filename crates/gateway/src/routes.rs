//! The route table: which `/api/v1/<segment>/...` (and its deprecated
//! alias `/api/<segment>/...`) goes to which service.
//!
//! The gateway's routes are declared under `/api/v1`: the platform's path
//! step maps an alias onto them before routing and marks its answer
//! deprecated ([`marimo_platform::http::version`]), so every phase, the
//! cache and the forwarded request see the one v1 path, and a service
//! behind the gateway always answers v1. Paths are otherwise forwarded
//! unchanged (they are already canonical); the segment only picks the
//! service. A segment not listed here answers the platform's JSON 404.

use marimo_platform::{
    http::version::{self, V1_PREFIX},
    service::ServiceName,
};

/// `/api/v1/<segment>` → the service that owns it.
pub const ROUTES: [(&str, ServiceName); 9] = [
    ("users", ServiceName::Users),
    ("config", ServiceName::Config),
    ("accounting", ServiceName::Accounting),
    ("factory", ServiceName::Factory),
    ("shop", ServiceName::Shop),
    ("main", ServiceName::Main),
    ("audit", ServiceName::Worker),
    ("notifications", ServiceName::Worker),
    ("worker", ServiceName::Worker),
];

/// The gateway's own API endpoints (not forwarded): the merged OpenAPI
/// document. The browsable reference, `/api/docs`, is outside versioning.
pub const OPENAPI_PATH: &str = "/api/v1/openapi.json";
/// The browsable API reference (Swagger UI, served from the binary).
pub const DOCS_PATH: &str = "/api/docs";

/// The service owning a request path, if it is a routed `/api` path under
/// either prefix.
pub fn service_for(path: &str) -> Option<ServiceName> {
    let (_, rest) = version::classify(path)?;
    let segment = rest.strip_prefix('/')?.split('/').next()?;
    ROUTES
        .iter()
        .find(|(s, _)| *s == segment)
        .map(|(_, name)| *name)
}

/// The axum path patterns of one segment: `/api/v1/x`, `/api/v1/x/`,
/// `/api/v1/x/{*rest}` (a catch-all does not match the empty remainder).
pub fn patterns(segment: &str) -> [String; 3] {
    [
        format!("{V1_PREFIX}/{segment}"),
        format!("{V1_PREFIX}/{segment}/"),
        format!("{V1_PREFIX}/{segment}/{{*rest}}"),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn segments_map_to_services() {
        assert_eq!(service_for("/api/users/login"), Some(ServiceName::Users));
        assert_eq!(service_for("/api/config"), Some(ServiceName::Config));
        assert_eq!(service_for("/api/audit/log"), Some(ServiceName::Worker));
        assert_eq!(
            service_for("/api/notifications/"),
            Some(ServiceName::Worker)
        );
        assert_eq!(service_for("/api/usersx/login"), None);
        assert_eq!(
            service_for("/api/worker/summary"),
            Some(ServiceName::Worker)
        );
        assert_eq!(service_for("/health"), None);
        assert_eq!(service_for("/api/"), None);
    }

    #[test]
    fn both_prefixes_map_alike() {
        for (segment, service) in ROUTES {
            for path in [
                format!("/api/{segment}/x"),
                format!("/api/v1/{segment}/x"),
                format!("/api/v1/{segment}"),
            ] {
                assert_eq!(service_for(&path), Some(service), "{path}");
            }
        }
        assert_eq!(service_for("/api/v1/"), None);
        assert_eq!(service_for("/api/v2/users/login"), None);
        assert_eq!(service_for("/api/v1/openapi.json"), None);
        assert_eq!(
            patterns("shop"),
            ["/api/v1/shop", "/api/v1/shop/", "/api/v1/shop/{*rest}"]
        );
    }
}

//! The route table: which `/api/<segment>/...` goes to which service.
//!
//! Paths are forwarded unchanged (they are already canonical: the
//! platform's path step runs before routing); the segment only picks the
//! service. A segment not listed here answers the platform's JSON 404.

use marimo_platform::service::ServiceName;

/// `/api/<segment>` → the service that owns it.
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

/// The service owning a request path, if it is a routed `/api` path.
pub fn service_for(path: &str) -> Option<ServiceName> {
    let rest = path.strip_prefix("/api/")?;
    let segment = rest.split('/').next()?;
    ROUTES
        .iter()
        .find(|(s, _)| *s == segment)
        .map(|(_, name)| *name)
}

/// The axum path patterns of one segment: `/api/x`, `/api/x/`, `/api/x/{*rest}`
/// (a catch-all does not match the empty remainder).
pub fn patterns(segment: &str) -> [String; 3] {
    [
        format!("/api/{segment}"),
        format!("/api/{segment}/"),
        format!("/api/{segment}/{{*rest}}"),
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
}

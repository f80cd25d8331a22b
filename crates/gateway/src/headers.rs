//! Response headers set at the edge: security headers on every response,
//! and CORS for an explicit allowlist of origins (`CORS_ORIGINS`) only.
//!
//! With no origins configured there is no CORS layer at all, so no
//! `Access-Control-*` header is ever sent. Tokens travel in
//! `Authorization`, not cookies, so credentials are never allowed and
//! `*` is refused as an origin.

use std::time::Duration;

use axum::response::Response;
use http::{HeaderName, HeaderValue, Method, header};
use tower_http::cors::{AllowOrigin, CorsLayer};

/// A strict default for an API; a service that serves a page may send its
/// own policy, which is kept.
pub const CONTENT_SECURITY_POLICY: &str =
    "default-src 'self'; frame-ancestors 'none'; base-uri 'self'; form-action 'self'";

/// Adds the security headers to a response (`axum::middleware::map_response`).
pub async fn security_headers(mut res: Response) -> Response {
    let h = res.headers_mut();
    if !h.contains_key(header::CONTENT_SECURITY_POLICY) {
        h.insert(
            header::CONTENT_SECURITY_POLICY,
            HeaderValue::from_static(CONTENT_SECURITY_POLICY),
        );
    }
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    // The web UI's pages send `same-origin` (browsers then keep `Origin`
    // on the UI's own form posts, which it checks); everything else gets
    // no referrer at all.
    if !h.contains_key(header::REFERRER_POLICY) {
        h.insert(
            header::REFERRER_POLICY,
            HeaderValue::from_static("no-referrer"),
        );
    }
    res
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("CORS_ORIGINS: '{0}' is not an origin like https://app.example.com (no '*', no path)")]
pub struct CorsError(String);

/// `https://app.example.com[:port]`, trailing slash tolerated.
fn parse_origin(s: &str) -> Result<HeaderValue, CorsError> {
    let err = || CorsError(s.to_owned());
    let trimmed = s.trim().trim_end_matches('/');
    let url = reqwest::Url::parse(trimmed).map_err(|_| err())?;
    let ok = matches!(url.scheme(), "http" | "https")
        && url.host_str().is_some()
        && url.path() == "/"
        && url.query().is_none()
        && url.username().is_empty()
        && !trimmed.contains('*');
    if !ok {
        return Err(err());
    }
    // The origin exactly as browsers send it: scheme://host[:port].
    let origin = url.origin().ascii_serialization();
    HeaderValue::from_str(&origin).map_err(|_| err())
}

/// The CORS layer for the allowlist, or `None` when it is empty.
pub fn cors(origins: &[String]) -> Result<Option<CorsLayer>, CorsError> {
    if origins.is_empty() {
        return Ok(None);
    }
    let list = origins
        .iter()
        .map(|o| parse_origin(o))
        .collect::<Result<Vec<_>, _>>()?;
    Ok(Some(
        CorsLayer::new()
            .allow_origin(AllowOrigin::list(list))
            .allow_methods([
                Method::GET,
                Method::HEAD,
                Method::POST,
                Method::PUT,
                Method::PATCH,
                Method::DELETE,
                Method::OPTIONS,
            ])
            .allow_headers([
                header::AUTHORIZATION,
                header::CONTENT_TYPE,
                header::ACCEPT,
                HeaderName::from_static("x-request-id"),
                HeaderName::from_static("traceparent"),
            ])
            .expose_headers([HeaderName::from_static("x-request-id"), header::RETRY_AFTER])
            .max_age(Duration::from_secs(600)),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn security_headers_are_added_and_a_service_policy_kept() {
        let res = security_headers(Response::new(axum::body::Body::empty())).await;
        assert_eq!(
            res.headers()["content-security-policy"],
            CONTENT_SECURITY_POLICY
        );
        assert_eq!(res.headers()["x-content-type-options"], "nosniff");
        assert_eq!(res.headers()["x-frame-options"], "DENY");
        assert_eq!(res.headers()["referrer-policy"], "no-referrer");

        let mut own = Response::new(axum::body::Body::empty());
        own.headers_mut().insert(
            header::CONTENT_SECURITY_POLICY,
            HeaderValue::from_static("default-src 'none'"),
        );
        own.headers_mut().insert(
            header::X_FRAME_OPTIONS,
            HeaderValue::from_static("ALLOWALL"),
        );
        let res = security_headers(own).await;
        assert_eq!(
            res.headers()["content-security-policy"],
            "default-src 'none'"
        );
        assert_eq!(res.headers()["x-frame-options"], "DENY");
    }

    #[test]
    fn origins_are_validated() {
        assert_eq!(
            parse_origin("https://app.example.com/").unwrap(),
            "https://app.example.com"
        );
        assert_eq!(
            parse_origin("http://localhost:5173").unwrap(),
            "http://localhost:5173"
        );
        for bad in [
            "*",
            "https://*.example.com",
            "app.example.com",
            "https://a.b/path",
            "null",
        ] {
            assert!(parse_origin(bad).is_err(), "{bad}");
        }
        assert!(cors(&[]).unwrap().is_none());
        assert!(cors(&["https://a.example".into()]).unwrap().is_some());
        assert!(cors(&["https://a.example".into(), "*".into()]).is_err());
    }
}

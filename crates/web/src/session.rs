//! The session layer around every page:
//!
//! 1. **who**: the access token from its cookie; when it has expired and a
//!    refresh token is there, the users service rotates the pair
//!    (`POST /api/users/refresh`) and the new cookies go out with this
//!    very response, so sessions renew without the user noticing.
//! 2. **language**: cookie, else `Accept-Language`.
//! 3. **CSRF**: a token cookie signed for this session (the user, or a
//!    guest) is issued when missing; every POST must echo it in `_csrf`
//!    and, when the browser says where it comes from (`Origin`, else
//!    `Referer`), come from this very host, or it gets the 403 page
//!    ([`crate::csrf`], [`same_origin`]).
//! 4. **errors**: a handler's [`WebError`] becomes a full page in the
//!    user's language (403, 404, 503, ...), never a stack trace.
//! 5. **headers**: the page Content-Security-Policy (self only) and
//!    `Referrer-Policy: same-origin` (so the browser's `Origin` is there to
//!    check on our own posts, and nothing leaks to other sites).

use axum::{
    body::Body,
    extract::{ConnectInfo, Request, State},
    middleware::Next,
    response::{IntoResponse, Response},
};
use http::{HeaderValue, Method, header};
use std::net::SocketAddr;

use crate::{
    Web,
    api::{Api, Origin},
    cookies, csrf, i18n,
    page::{ErrorPage, Session, WebError, render},
    screens::errors::ErrorTemplate,
};

/// Pages allow nothing but this origin: no inline script or style, no
/// frames, forms post only here.
pub const CSP: &str = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'";

/// Forms are small; anything bigger is refused before parsing.
const MAX_FORM_BYTES: usize = 256 * 1024;

pub async fn layer(State(web): State<Web>, req: Request, next: Next) -> Response {
    let secure = web.is_secure(&req);
    let host = web.public_host(&req);
    let headers = req.headers().clone();
    let lang = i18n::negotiate(cookies::get(&headers, cookies::LANG, secure), &headers);
    let api = Api::new(web.api(), None, Origin::of(req.extensions(), &headers));
    let here = req
        .uri()
        .path_and_query()
        .map_or("/".to_owned(), |p| p.as_str().to_owned());
    let mut set: Vec<(&'static str, HeaderValue)> = Vec::new();

    // 1. who
    let mut user = None;
    let mut token = None;
    if let Some(t) = cookies::get(&headers, cookies::ACCESS, secure)
        && let Ok(id) = web.jwt().verify_identity(t)
    {
        user = Some(id);
        token = Some(t.to_owned());
    }
    if user.is_none()
        && let Some(rt) = cookies::get(&headers, cookies::REFRESH, secure)
    {
        let client = Client::of(&req, cookies::get(&headers, cookies::CSRF, secure));
        match web.refresh(&api, rt, &client).await {
            Ok(body) => {
                let at = body["access_token"].as_str().unwrap_or_default();
                let new_rt = body["refresh_token"].as_str().unwrap_or_default();
                if let Ok(id) = web.jwt().verify_identity(at) {
                    let ttl = body["expires_in"].as_u64().unwrap_or(900);
                    set.push((
                        cookies::ACCESS,
                        cookies::set(cookies::ACCESS, at, ttl, secure),
                    ));
                    set.push((
                        cookies::REFRESH,
                        cookies::set(cookies::REFRESH, new_rt, cookies::REFRESH_MAX_AGE, secure),
                    ));
                    user = Some(id);
                    token = Some(at.to_owned());
                }
            }
            Err(f) if f.status.is_client_error() && f.status.as_u16() != 429 => {
                // Expired, revoked or reused: the session is over.
                set.push((cookies::ACCESS, cookies::clear(cookies::ACCESS, secure)));
                set.push((cookies::REFRESH, cookies::clear(cookies::REFRESH, secure)));
            }
            // The users service is away: a guest for now, cookies kept.
            Err(_) => {}
        }
    }

    // 3. CSRF
    let binding = user.as_ref().map(|u| u.user_id.clone()).unwrap_or_default();
    let sent_csrf = cookies::get(&headers, cookies::CSRF, secure)
        .filter(|t| web.csrf().is_signed(t, &binding))
        .map(str::to_owned);
    let csrf = match &sent_csrf {
        Some(t) => t.clone(),
        None => {
            let t = web.csrf().issue(&binding);
            set.push((
                cookies::CSRF,
                cookies::set(cookies::CSRF, &t, cookies::REFRESH_MAX_AGE, secure),
            ));
            t
        }
    };
    let session = Session {
        user,
        lang,
        csrf,
        secure,
        api: api.with_token(token),
        here,
        signup: web.signup(),
    };

    let mut req = req;
    let mut res = if req.method() == Method::POST && !same_origin(&headers, host.as_deref()) {
        tracing::info!("form refused: posted from another origin");
        WebError::Csrf.into_response()
    } else if req.method() == Method::POST {
        let (parts, body) = req.into_parts();
        match axum::body::to_bytes(body, MAX_FORM_BYTES).await {
            Ok(bytes) => {
                let submitted = serde_urlencoded::from_bytes::<Vec<(String, String)>>(&bytes)
                    .ok()
                    .and_then(|pairs| {
                        pairs
                            .into_iter()
                            .find(|(k, _)| k == csrf::FIELD)
                            .map(|(_, v)| v)
                    });
                if web
                    .csrf()
                    .verify(sent_csrf.as_deref(), submitted.as_deref(), &binding)
                {
                    req = Request::from_parts(parts, Body::from(bytes));
                    req.extensions_mut().insert(session.clone());
                    next.run(req).await
                } else {
                    tracing::info!("form refused: missing or wrong CSRF token");
                    WebError::Csrf.into_response()
                }
            }
            Err(_) => WebError::Refused("the form is too large".into()).into_response(),
        }
    } else {
        req.extensions_mut().insert(session.clone());
        next.run(req).await
    };

    // 4. errors as pages
    if let Some(ErrorPage(err)) = res.extensions_mut().remove::<ErrorPage>() {
        let status = res.status();
        let cookies_out: Vec<HeaderValue> = res
            .headers()
            .get_all(header::SET_COOKIE)
            .iter()
            .cloned()
            .collect();
        res = render(&ErrorTemplate::new(&session, &err));
        *res.status_mut() = status;
        if let WebError::Unavailable(_) = err {
            res.headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from_static("5"));
        }
        for c in cookies_out {
            res.headers_mut().append(header::SET_COOKIE, c);
        }
    }

    // 5. headers
    for (name, value) in set {
        if !cookies::is_set(res.headers(), name, secure) {
            res.headers_mut().append(header::SET_COOKIE, value);
        }
    }
    res.headers_mut().insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CSP),
    );
    // Under `no-referrer` browsers send `Origin: null` on a page's own form
    // posts, which the Origin check must refuse; `same-origin` keeps the
    // origin for our own requests and still sends nothing to other sites.
    res.headers_mut().insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("same-origin"),
    );
    res.headers_mut()
        .entry(header::CACHE_CONTROL)
        .or_insert(HeaderValue::from_static("no-store"));
    res.headers_mut().insert(
        header::VARY,
        HeaderValue::from_static("Cookie, Accept-Language"),
    );
    res
}

/// The host the browser addressed: the `Host` header, unless a trusted
/// proxy (`TRUSTED_PROXIES`) that rewrote it says `X-Forwarded-Host`.
pub fn public_host(req: &Request, trusted: &dyn Fn(std::net::IpAddr) -> bool) -> Option<String> {
    let header_value = |name: &str| {
        req.headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.split(',').next())
            .map(|v| v.trim().to_owned())
            .filter(|v| !v.is_empty())
    };
    let from_trusted_proxy = req
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .is_some_and(|ConnectInfo(peer)| trusted(peer.ip()));
    from_trusted_proxy
        .then(|| header_value("x-forwarded-host"))
        .flatten()
        .or_else(|| header_value(header::HOST.as_str()))
}

/// Whether a POST may come from where the browser says it comes from:
/// the host of its `Origin` (else of its `Referer`) must be `host`, the
/// one it was sent to ([`public_host`]). `Origin: null` (sandboxed frames,
/// some redirects) is refused. A request with neither header (not a
/// browser, or a browser that strips both) is left to the CSRF token.
pub fn same_origin(headers: &http::HeaderMap, host: Option<&str>) -> bool {
    let Some(host) = host else {
        // Without a Host there is nothing to compare with; HTTP/1.1
        // requires one, so only odd clients get here, and the token holds.
        return true;
    };
    let source = headers
        .get(header::ORIGIN)
        .or_else(|| headers.get(header::REFERER));
    let Some(source) = source else {
        return true;
    };
    let Ok(source) = source.to_str() else {
        return false;
    };
    authority_of(source).is_some_and(|a| a.eq_ignore_ascii_case(host))
}

/// `host[:port]` of an absolute `http(s)` URL; `None` for anything else
/// (`null`, a relative reference, another scheme).
fn authority_of(url: &str) -> Option<&str> {
    let rest = url
        .strip_prefix("https://")
        .or_else(|| url.strip_prefix("http://"))?;
    let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let authority = &rest[..end];
    // Credentials in the URL would let `evil@ourhost` pass a naive match.
    (!authority.is_empty() && !authority.contains('@')).then_some(authority)
}

/// Who is asking for a refresh, beyond the refresh token itself: the
/// socket peer, the user agent and the browser's CSRF cookie. Two tabs of
/// one browser share all three; a thief replaying a copied refresh token
/// from another client does not, so it is never handed the rotation that
/// the owner's request just made (see [`Web::refresh`]).
pub struct Client(String);

impl Client {
    pub fn of(req: &Request, csrf_cookie: Option<&str>) -> Self {
        let peer = req
            .extensions()
            .get::<ConnectInfo<SocketAddr>>()
            .map(|ConnectInfo(p)| p.ip().to_string())
            .unwrap_or_default();
        let agent = req
            .headers()
            .get(header::USER_AGENT)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default();
        let csrf = csrf_cookie.unwrap_or_default();
        // Length-prefixed parts: no two different triples give one key.
        Self(format!(
            "{}:{peer}|{}:{agent}|{}:{csrf}",
            peer.len(),
            agent.len(),
            csrf.len()
        ))
    }

    pub fn key(&self) -> &str {
        &self.0
    }
}

/// Whether `req` reached us over TLS: an `https` URI (TLS served here), or
/// `X-Forwarded-Proto: https` from a trusted proxy (`TRUSTED_PROXIES`).
pub fn came_over_tls(req: &Request, trusted: &dyn Fn(std::net::IpAddr) -> bool) -> bool {
    if req.uri().scheme_str() == Some("https") {
        return true;
    }
    let Some(ConnectInfo(peer)) = req.extensions().get::<ConnectInfo<SocketAddr>>() else {
        return false;
    };
    trusted(peer.ip())
        && req
            .headers()
            .get("x-forwarded-proto")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.split(',').next())
            .is_some_and(|p| p.trim().eq_ignore_ascii_case("https"))
}

#[cfg(test)]
mod tests {
    use http::{HeaderMap, HeaderValue, header};

    use super::{public_host, same_origin};

    const HOST: Option<&str> = Some("erp.example.com:8080");

    fn post(origin: Option<&str>, referer: Option<&str>) -> HeaderMap {
        let mut h = HeaderMap::new();
        if let Some(o) = origin {
            h.insert(header::ORIGIN, HeaderValue::from_str(o).unwrap());
        }
        if let Some(r) = referer {
            h.insert(header::REFERER, HeaderValue::from_str(r).unwrap());
        }
        h
    }

    #[test]
    fn a_post_must_come_from_this_host_when_the_browser_says_where_from() {
        for (origin, referer) in [
            (Some("http://erp.example.com:8080"), None),
            (Some("https://ERP.example.com:8080"), None),
            (None, Some("http://erp.example.com:8080/shop?q=1")),
            // No header at all: the CSRF token decides.
            (None, None),
        ] {
            assert!(
                same_origin(&post(origin, referer), HOST),
                "{origin:?} {referer:?}"
            );
        }
        for (origin, referer) in [
            (Some("https://evil.example"), None),
            (Some("null"), None),
            (Some("http://erp.example.com:8080.evil.example"), None),
            (Some("http://erp.example.com"), None),
            (None, Some("https://evil.example/erp.example.com:8080")),
            (None, Some("http://evil@erp.example.com:8080/")),
            // Origin wins over a matching Referer.
            (
                Some("https://evil.example"),
                Some("http://erp.example.com:8080/"),
            ),
        ] {
            assert!(
                !same_origin(&post(origin, referer), HOST),
                "{origin:?} {referer:?}"
            );
        }
    }

    #[test]
    fn the_forwarded_host_counts_only_from_a_trusted_proxy() {
        use axum::extract::{ConnectInfo, Request};
        let request = |peer: &str| {
            let mut req = Request::builder()
                .header(header::HOST, "10.0.0.5:8080")
                .header("x-forwarded-host", "erp.example.com")
                .body(axum::body::Body::empty())
                .unwrap();
            req.extensions_mut()
                .insert(ConnectInfo(peer.parse::<std::net::SocketAddr>().unwrap()));
            req
        };
        let trusted = |ip: std::net::IpAddr| ip.to_string() == "10.0.0.1";
        assert_eq!(
            public_host(&request("10.0.0.1:5000"), &trusted).as_deref(),
            Some("erp.example.com")
        );
        assert_eq!(
            public_host(&request("203.0.113.9:5000"), &trusted).as_deref(),
            Some("10.0.0.5:8080")
        );
    }
}

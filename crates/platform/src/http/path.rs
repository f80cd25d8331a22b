//! One canonical request path, settled before routing.
//!
//! Every listener (the gateway's and each service's) rewrites the request
//! path to its canonical form before any route, policy, limit or cache
//! decision looks at it, so what is judged is what is served and what the
//! gateway forwards. Without this, `POST /api/users/x/../login` escaped the
//! login limit and `GET /api/shop/products/../orders` was cached as a
//! catalogue read, because the gateway judged the raw path while its HTTP
//! client resolved the dot segments on the way out.
//!
//! The canonical form (RFC 3986 §6.2.2):
//! - percent-escapes of unreserved characters (`A-Z a-z 0-9 - . _ ~`) are
//!   decoded, other escapes are kept with upper-case hex;
//! - dot segments (`.`, `..`, also written `%2e`) are resolved, never above
//!   the root;
//! - empty segments (`//`) are collapsed;
//! - a trailing slash is kept.
//!
//! Refused with 400: a backslash, an encoded `/` or `\` (`%2f`, `%5c`), an
//! encoded NUL (`%00`), a broken escape, and any byte outside RFC 3986's
//! path characters (spaces, quotes, controls, raw non-ASCII). Each has more
//! than one meaning across servers and clients, so none is guessed.
//!
//! A path under `/api/` whose dot segments climb out of `/api/` answers 404:
//! the platform's own `/health`, `/ready`, `/metrics` and the web UI are
//! never reached through an API path.
//!
//! The same step then maps `/api/v1/...` and its deprecated alias
//! `/api/...` onto the routes ([`super::version`]).

use std::fmt::Write as _;

use axum::{
    extract::{Request, State},
    http::{Uri, header, uri::PathAndQuery},
    middleware::Next,
    response::{IntoResponse, Response},
};

use super::version::{self, Addressed, ReceivedPath, Routes};
use crate::error::ApiError;

/// Why a path has no canonical form.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum PathError {
    #[error("the request path contains a backslash")]
    Backslash,
    #[error("the request path contains an encoded slash or backslash")]
    EncodedSlash,
    #[error("the request path contains an encoded NUL")]
    Nul,
    #[error("the request path contains a broken percent-escape")]
    BadEscape,
    #[error("the request path contains a character that must be percent-encoded")]
    BadChar,
    #[error("the request path does not start with '/'")]
    NotAbsolute,
}

fn is_unreserved(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~')
}

/// `pchar` minus `%` (RFC 3986 §3.3), plus the `/` separator.
fn is_path_char(b: u8) -> bool {
    is_unreserved(b)
        || matches!(
            b,
            b'!' | b'$'
                | b'&'
                | b'\''
                | b'('
                | b')'
                | b'*'
                | b'+'
                | b','
                | b';'
                | b'='
                | b':'
                | b'@'
        )
        || b == b'/'
}

fn hex(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

/// Decodes unreserved escapes and checks every byte.
fn decode_unreserved(path: &str) -> Result<String, PathError> {
    let bytes = path.as_bytes();
    let mut out = String::with_capacity(path.len());
    let mut i = 0;
    while i < bytes.len() {
        let b = bytes[i];
        match b {
            b'%' => {
                let (Some(hi), Some(lo)) = (
                    bytes.get(i + 1).copied().and_then(hex),
                    bytes.get(i + 2).copied().and_then(hex),
                ) else {
                    return Err(PathError::BadEscape);
                };
                let v = hi * 16 + lo;
                match v {
                    0 => return Err(PathError::Nul),
                    b'/' | b'\\' => return Err(PathError::EncodedSlash),
                    v if is_unreserved(v) => out.push(char::from(v)),
                    v => {
                        let _ = write!(out, "%{v:02X}");
                    }
                }
                i += 3;
            }
            b'\\' => return Err(PathError::Backslash),
            b if is_path_char(b) => {
                out.push(char::from(b));
                i += 1;
            }
            _ => return Err(PathError::BadChar),
        }
    }
    Ok(out)
}

/// The canonical form of an absolute request path (see the module docs).
pub fn canonical(path: &str) -> Result<String, PathError> {
    if !path.starts_with('/') {
        return Err(PathError::NotAbsolute);
    }
    let decoded = decode_unreserved(path)?;
    let mut kept: Vec<&str> = Vec::new();
    for seg in decoded.split('/') {
        match seg {
            "" | "." => {}
            ".." => {
                kept.pop();
            }
            s => kept.push(s),
        }
    }
    // `/a/b/`, `/a/b/.` and `/a/b/..` all name a directory: keep the slash.
    let trailing = matches!(decoded.rsplit('/').next(), Some("" | "." | ".."));
    let mut out = String::with_capacity(decoded.len());
    for seg in &kept {
        out.push('/');
        out.push_str(seg);
    }
    if out.is_empty() || trailing {
        out.push('/');
    }
    Ok(out)
}

fn under_api(path: &str) -> bool {
    path == "/api" || path.starts_with("/api/")
}

/// The middleware: rewrites the request URI to the canonical path (query
/// unchanged) or answers 400 / 404 in the one error shape; then maps an
/// API path onto the prefix the router's routes are declared under
/// ([`super::version`]), and marks the answer to a deprecated alias.
pub async fn middleware(State(routes): State<Routes>, mut req: Request, next: Next) -> Response {
    let raw = req.uri().path();
    let canon = match canonical(raw) {
        Ok(c) => c,
        Err(e) => return ApiError::validation(e.to_string()).into_response(),
    };
    if under_api(raw) && !under_api(&canon) {
        return ApiError::not_found("no such endpoint").into_response();
    }
    let (mapped, addressed) = version::route(&canon, routes);
    let target = mapped.as_deref().unwrap_or(&canon);
    if target != raw {
        let pq = match req.uri().query() {
            Some(q) => format!("{target}?{q}"),
            None => target.to_owned(),
        };
        let mut parts = req.uri().clone().into_parts();
        let Ok(pq) = PathAndQuery::try_from(pq) else {
            return ApiError::validation(PathError::BadChar.to_string()).into_response();
        };
        parts.path_and_query = Some(pq);
        match Uri::from_parts(parts) {
            Ok(uri) => *req.uri_mut() = uri,
            Err(_) => {
                return ApiError::validation(PathError::BadChar.to_string()).into_response();
            }
        }
    }
    if let Some(addressed) = addressed {
        req.extensions_mut().insert(addressed);
    }
    let alias = (addressed == Some(Addressed::Alias)).then(|| version::successor_link(&canon));
    req.extensions_mut().insert(ReceivedPath(canon));
    let mut res = next.run(req).await;
    if let Some(link) = alias {
        let headers = res.headers_mut();
        headers.insert(version::DEPRECATION, version::deprecation_value());
        if let Some(link) = link {
            headers.append(header::LINK, link);
        }
    }
    res
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dot_segments_and_empty_segments_are_resolved() {
        for (raw, want) in [
            ("/", "/"),
            ("/api/users/login", "/api/users/login"),
            ("/api/users/x/../login", "/api/users/login"),
            ("/api/users/x/%2e%2e/login", "/api/users/login"),
            ("/api/users/x/%2E%2e/login", "/api/users/login"),
            ("/api/users/x/.%2e/login", "/api/users/login"),
            ("/api/shop/products/../orders", "/api/shop/orders"),
            ("/api/shop/products/./p1", "/api/shop/products/p1"),
            ("/api//users///login", "/api/users/login"),
            ("/api/config/", "/api/config/"),
            ("/api/users/x/..", "/api/users/"),
            ("/api/users/x/.", "/api/users/x/"),
            ("/../../etc/passwd", "/etc/passwd"),
            ("/api/shop/products/../../../metrics", "/metrics"),
            (
                "/api/shop/products/widget.v2",
                "/api/shop/products/widget.v2",
            ),
            ("/api/%75sers/login", "/api/users/login"),
            ("/api/x/a%3bb", "/api/x/a%3Bb"),
            ("/api/x/a;b=c", "/api/x/a;b=c"),
            ("/api/x/%7e%41", "/api/x/~A"),
        ] {
            assert_eq!(canonical(raw).as_deref(), Ok(want), "{raw}");
        }
    }

    #[test]
    fn ambiguous_paths_are_refused() {
        for (raw, why) in [
            ("/api/users/x\\..\\login", PathError::Backslash),
            ("/api/users/x%2f..%2flogin", PathError::EncodedSlash),
            ("/api/users/x%2F..%2Flogin", PathError::EncodedSlash),
            ("/api/users/x%5c..%5clogin", PathError::EncodedSlash),
            ("/api/users/login%00", PathError::Nul),
            ("/api/users/login%", PathError::BadEscape),
            ("/api/users/login%4", PathError::BadEscape),
            ("/api/users/login%zz", PathError::BadEscape),
            ("/api/users/lo gin", PathError::BadChar),
            ("/api/users/\"login", PathError::BadChar),
            ("/api/users/{login}", PathError::BadChar),
            ("/api/users/lo\u{e9}gin", PathError::BadChar),
            ("api/users/login", PathError::NotAbsolute),
        ] {
            assert_eq!(canonical(raw), Err(why), "{raw}");
        }
    }

    #[test]
    fn canonical_paths_are_fixed_points() {
        for raw in [
            "/api/users/x/../login",
            "/a/%2e/b/%2E%2E/c/",
            "/api/x/a%3bb",
            "/api//config/",
        ] {
            let once = canonical(raw).unwrap();
            assert_eq!(canonical(&once).unwrap(), once, "{raw}");
        }
    }

    #[test]
    fn an_http_client_leaves_a_canonical_path_alone() {
        // The gateway forwards the canonical path through reqwest, whose URL
        // parser resolves dot segments and re-encodes on its own; a canonical
        // path must come out of it unchanged.
        for raw in [
            "/api/users/x/%2e%2e/login",
            "/api/shop/products/.%2e/orders",
            "/api/x/a%3Bb/~c/(d)!$&'*+,;=:@",
            "/api/x/%C3%A9t%C3%A9",
        ] {
            let canon = canonical(raw).unwrap();
            let url = reqwest::Url::parse(&format!("http://127.0.0.1:1{canon}")).unwrap();
            assert_eq!(url.path(), canon, "{raw}");
        }
    }
}

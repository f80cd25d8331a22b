//! The UI's cookies. Every one is `HttpOnly` (no script reads them),
//! `SameSite=Strict` (a cross-site request carries none, the first line
//! against CSRF) and `Path=/`. When the request came over TLS a cookie is
//! also `Secure` and its name carries the `__Host-` prefix: a browser
//! accepts such a cookie only from this very host over https, with
//! `Path=/` and no `Domain`, so a sibling subdomain or a plain-http page
//! on the network cannot plant or overwrite it (cookie tossing). Over TLS
//! only the prefixed names are read.

use http::{HeaderMap, HeaderValue, header};

/// The access token (JWT), as long as it is valid.
pub const ACCESS: &str = "marimo_at";
/// The opaque refresh token; rotated by the users service on every use.
pub const REFRESH: &str = "marimo_rt";
/// The CSRF token forms must echo (see [`crate::csrf`]).
pub const CSRF: &str = "marimo_csrf";
/// The chosen language.
pub const LANG: &str = "marimo_lang";
/// The cart: `product_id:qty|...`.
pub const CART: &str = "marimo_cart";

/// The prefix browsers reserve for host-only, secure, `Path=/` cookies.
pub const HOST_PREFIX: &str = "__Host-";

/// Refresh tokens live 7 days (the users service's TTL).
pub const REFRESH_MAX_AGE: u64 = 7 * 24 * 3600;
const YEAR: u64 = 365 * 24 * 3600;

/// The name cookie `name` has on the wire: `__Host-` prefixed over TLS.
pub fn wire_name(name: &str, secure: bool) -> String {
    if secure {
        format!("{HOST_PREFIX}{name}")
    } else {
        name.to_owned()
    }
}

/// The cookie `name` a request carries (the first of a repeated name),
/// under its wire name for a request that came over TLS or not.
pub fn get<'a>(headers: &'a HeaderMap, name: &str, secure: bool) -> Option<&'a str> {
    let wire = wire_name(name, secure);
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(k, _)| *k == wire)
        .map(|(_, v)| v.trim())
        .filter(|v| !v.is_empty())
}

/// A `Set-Cookie` value. `max_age` 0 deletes the cookie.
pub fn set(name: &str, value: &str, max_age: u64, secure: bool) -> HeaderValue {
    let wire = wire_name(name, secure);
    let mut s = format!("{wire}={value}; Path=/; Max-Age={max_age}; HttpOnly; SameSite=Strict");
    if secure {
        s.push_str("; Secure");
    }
    // Values are tokens we issued or built from checked parts; a value
    // that is not a valid header deletes the cookie rather than panicking.
    HeaderValue::from_str(&s).unwrap_or_else(|_| {
        let secure = if secure { "; Secure" } else { "" };
        HeaderValue::from_str(&format!(
            "{wire}=; Path=/; Max-Age=0; HttpOnly; SameSite=Strict{secure}"
        ))
        .unwrap_or(HeaderValue::from_static("x=; Max-Age=0"))
    })
}

pub fn clear(name: &str, secure: bool) -> HeaderValue {
    set(name, "", 0, secure)
}

pub fn lang(code: &str, secure: bool) -> HeaderValue {
    set(LANG, code, YEAR, secure)
}

/// Whether a response already sets cookie `name` (under its wire name).
pub fn is_set(headers: &HeaderMap, name: &str, secure: bool) -> bool {
    let wire = wire_name(name, secure);
    headers
        .get_all(header::SET_COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .any(|v| v.split_once('=').is_some_and(|(k, _)| k == wire))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_and_writes() {
        let mut h = HeaderMap::new();
        h.insert(
            header::COOKIE,
            HeaderValue::from_static("a=1; marimo_at=tok; b="),
        );
        assert_eq!(get(&h, "marimo_at", false), Some("tok"));
        assert_eq!(get(&h, "b", false), None);
        assert_eq!(get(&h, "c", false), None);
        let c = set(ACCESS, "tok", 900, false);
        assert_eq!(
            c,
            "marimo_at=tok; Path=/; Max-Age=900; HttpOnly; SameSite=Strict"
        );
        assert!(!clear(ACCESS, false).to_str().unwrap().contains("Secure"));
        let mut r = HeaderMap::new();
        r.append(header::SET_COOKIE, c);
        assert!(is_set(&r, ACCESS, false));
        assert!(!is_set(&r, ACCESS, true));
        assert!(!is_set(&r, REFRESH, false));
    }

    #[test]
    fn over_tls_names_are_host_prefixed_and_only_those_are_read() {
        let c = set(ACCESS, "tok", 900, true);
        assert_eq!(
            c,
            "__Host-marimo_at=tok; Path=/; Max-Age=900; HttpOnly; SameSite=Strict; Secure"
        );
        let cleared = clear(CSRF, true);
        let cleared = cleared.to_str().unwrap();
        assert!(
            cleared.starts_with("__Host-marimo_csrf=;") && cleared.ends_with("; Secure"),
            "{cleared}"
        );
        // A plain cookie tossed in by another host is not read over TLS.
        let mut h = HeaderMap::new();
        h.insert(
            header::COOKIE,
            HeaderValue::from_static("marimo_at=tossed; __Host-marimo_at=ours"),
        );
        assert_eq!(get(&h, ACCESS, true), Some("ours"));
        assert_eq!(get(&h, ACCESS, false), Some("tossed"));
    }
}

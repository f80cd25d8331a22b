//! The UI's cookies. Every one is `HttpOnly` (no script reads them),
//! `SameSite=Strict` (a cross-site request carries none, the first line
//! against CSRF) and `Path=/`; `Secure` when the request came over TLS.

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

/// Refresh tokens live 7 days (the users service's TTL).
pub const REFRESH_MAX_AGE: u64 = 7 * 24 * 3600;
const YEAR: u64 = 365 * 24 * 3600;

/// The cookies a request carries, by name (the first of a repeated name).
pub fn get<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v.trim())
        .filter(|v| !v.is_empty())
}

/// A `Set-Cookie` value. `max_age` 0 deletes the cookie.
pub fn set(name: &str, value: &str, max_age: u64, secure: bool) -> HeaderValue {
    let mut s = format!("{name}={value}; Path=/; Max-Age={max_age}; HttpOnly; SameSite=Strict");
    if secure {
        s.push_str("; Secure");
    }
    // Values are tokens we issued or built from checked parts; a value
    // that is not a valid header deletes the cookie rather than panicking.
    HeaderValue::from_str(&s).unwrap_or_else(|_| {
        HeaderValue::from_str(&format!(
            "{name}=; Path=/; Max-Age=0; HttpOnly; SameSite=Strict"
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

/// Whether a response already sets cookie `name`.
pub fn is_set(headers: &HeaderMap, name: &str) -> bool {
    headers
        .get_all(header::SET_COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .any(|v| v.split_once('=').is_some_and(|(k, _)| k == name))
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
        assert_eq!(get(&h, "marimo_at"), Some("tok"));
        assert_eq!(get(&h, "b"), None);
        assert_eq!(get(&h, "c"), None);
        let c = set(ACCESS, "tok", 900, true);
        assert_eq!(
            c,
            "marimo_at=tok; Path=/; Max-Age=900; HttpOnly; SameSite=Strict; Secure"
        );
        assert!(!clear(ACCESS, false).to_str().unwrap().contains("Secure"));
        let mut r = HeaderMap::new();
        r.append(header::SET_COOKIE, c);
        assert!(is_set(&r, ACCESS));
        assert!(!is_set(&r, REFRESH));
    }
}

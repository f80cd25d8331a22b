//! Webhook rules: what a registration may contain, which events match it,
//! and the signature a receiver verifies.

use hmac::{Hmac, KeyInit, Mac};
use marimo_platform::bus::topic;
use sha2::Sha256;

use super::destination::{self, Allowlist};

/// The request a webhook is registered with, after validation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewWebhook {
    pub url: String,
    pub event_types: Vec<String>,
    pub secret: String,
}

/// A rule a registration broke: the field and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Invalid {
    pub field: &'static str,
    pub message: String,
}

fn invalid(field: &'static str, message: impl Into<String>) -> Invalid {
    Invalid {
        field,
        message: message.into(),
    }
}

pub const MIN_SECRET_CHARS: usize = 16;
pub const MAX_SECRET_CHARS: usize = 256;
pub const MAX_URL_LEN: usize = 2048;
pub const MAX_PATTERNS: usize = 50;

pub fn validate(
    url: &str,
    event_types: &[String],
    secret: &str,
    allow: &Allowlist,
) -> Result<NewWebhook, Invalid> {
    Ok(NewWebhook {
        url: validate_url(url, allow)?,
        event_types: validate_patterns(event_types)?,
        secret: validate_secret(secret)?,
    })
}

/// An absolute `http` or `https` URL with a host and no credentials (they
/// would be stored and shown in clear; receivers authenticate us by the
/// signature instead), whose host is not a local or private address in
/// any spelling, nor `localhost` (see [`destination`]). A name is checked
/// again, resolved, at every delivery: DNS can change after registration.
pub fn validate_url(url: &str, allow: &Allowlist) -> Result<String, Invalid> {
    let url = url.trim();
    if url.is_empty() || url.len() > MAX_URL_LEN {
        return Err(invalid(
            "url",
            format!("url must be 1..={MAX_URL_LEN} characters"),
        ));
    }
    let uri: http::Uri = url
        .parse()
        .map_err(|_| invalid("url", "url is not a valid absolute URL"))?;
    match uri.scheme_str() {
        Some("http") | Some("https") => {}
        _ => return Err(invalid("url", "url must start with http:// or https://")),
    }
    let authority = uri
        .authority()
        .ok_or_else(|| invalid("url", "url must have a host"))?;
    if authority.as_str().contains('@') {
        return Err(invalid("url", "url must not contain credentials"));
    }
    let host = authority.host();
    if host.is_empty() {
        return Err(invalid("url", "url must have a host"));
    }
    let local = match destination::literal_ip(host) {
        Some(ip) => destination::refusal(ip, allow),
        None => destination::is_local_name(host).then_some("a loopback address"),
    };
    if let Some(why) = local {
        return Err(invalid(
            "url",
            format!("url points to {why}; webhooks go to public addresses only"),
        ));
    }
    Ok(url.to_owned())
}

/// 1..=50 topic patterns (`shop.order.*`, `factory.#`, `#`): dot-separated
/// words of lower-case letters, digits and `_`, or the wildcards `*` / `#`.
/// Duplicates are dropped; the order is kept.
pub fn validate_patterns(patterns: &[String]) -> Result<Vec<String>, Invalid> {
    if patterns.is_empty() || patterns.len() > MAX_PATTERNS {
        return Err(invalid(
            "event_types",
            format!("event_types must list 1..={MAX_PATTERNS} event types or patterns"),
        ));
    }
    let mut out: Vec<String> = Vec::with_capacity(patterns.len());
    for p in patterns {
        let p = p.trim();
        let ok = !p.is_empty()
            && p.len() <= 200
            && p.split('.').all(|w| {
                w == "*"
                    || w == "#"
                    || (!w.is_empty()
                        && w.bytes()
                            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_'))
            });
        if !ok {
            return Err(invalid(
                "event_types",
                format!("'{p}' is not an event type or pattern like 'shop.order.*'"),
            ));
        }
        if !out.iter().any(|q| q == p) {
            out.push(p.to_owned());
        }
    }
    Ok(out)
}

pub fn validate_secret(secret: &str) -> Result<String, Invalid> {
    let n = secret.chars().count();
    if !(MIN_SECRET_CHARS..=MAX_SECRET_CHARS).contains(&n) {
        return Err(invalid(
            "secret",
            format!("secret must be {MIN_SECRET_CHARS}..={MAX_SECRET_CHARS} characters"),
        ));
    }
    Ok(secret.to_owned())
}

/// True when any of the webhook's patterns matches `event_type`.
pub fn wants(patterns: &[String], event_type: &str) -> bool {
    patterns.iter().any(|p| topic::matches(p, event_type))
}

/// `X-Marimo-Signature`: `sha256=<hex HMAC-SHA256(secret, body)>`.
pub fn signature(secret: &str, body: &[u8]) -> String {
    // HMAC takes keys of any length (long ones are hashed first), so
    // `new_from_slice` cannot fail for HMAC-SHA256; should it ever, the
    // empty signature fails verification at the receiver instead of the
    // worker panicking.
    match Hmac::<Sha256>::new_from_slice(secret.as_bytes()) {
        Ok(mut mac) => {
            mac.update(body);
            format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
        }
        Err(_) => String::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(v: &[&str]) -> Vec<String> {
        v.iter().map(|x| (*x).to_owned()).collect()
    }

    #[test]
    fn signature_is_rfc4231_hmac_sha256() {
        // RFC 4231 test case 2.
        assert_eq!(
            signature("Jefe", b"what do ya want for nothing?"),
            "sha256=5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
    }

    #[test]
    fn urls_must_be_http_with_a_host_and_no_credentials() {
        let none = Allowlist::default();
        let validate_url = |u: &str| validate_url(u, &none);
        assert!(validate_url("https://hooks.example.com/x?y=1").is_ok());
        assert!(validate_url("http://93.184.216.34:9000/hook").is_ok());
        for bad in [
            "",
            "ftp://x.y/",
            "javascript:alert(1)",
            "/relative",
            "http://user:pw@x.y/",
            "not a url",
        ] {
            assert!(validate_url(bad).is_err(), "{bad}");
        }
        assert!(validate_url(&format!("http://x.y/{}", "a".repeat(MAX_URL_LEN))).is_err());
    }

    #[test]
    fn urls_to_local_and_private_addresses_are_refused_unless_allowed() {
        let none = Allowlist::default();
        for bad in [
            "http://127.0.0.1:9000/hook",
            "http://2130706433/",
            "http://0x7f.1/",
            "http://0177.0.0.1/",
            "http://[::1]:8080/",
            "http://[::ffff:127.0.0.1]/",
            "http://169.254.169.254/latest/meta-data/",
            "http://10.0.0.5/",
            "http://192.168.0.1/",
            "http://0.0.0.0:8081/",
            "http://224.0.0.1/",
            "http://localhost:8081/",
            "http://api.localhost/",
        ] {
            let err = validate_url(bad, &none).unwrap_err();
            assert!(err.message.contains("public addresses"), "{bad}: {err:?}");
        }
        let allow = Allowlist::parse(&["127.0.0.0/8".to_owned()]).unwrap();
        assert!(validate_url("http://127.0.0.1:9000/hook", &allow).is_ok());
        assert!(validate_url("http://10.0.0.5/", &allow).is_err());
    }

    #[test]
    fn patterns_are_topic_words_or_wildcards() {
        assert_eq!(
            validate_patterns(&s(&[
                "shop.order.*",
                "#",
                "shop.order.*",
                "factory.work_order.completed"
            ]))
            .unwrap(),
            s(&["shop.order.*", "#", "factory.work_order.completed"])
        );
        assert!(validate_patterns(&[]).is_err());
        for bad in ["", "shop..order", "Shop.Order", "shop.order.*x", "a b"] {
            assert!(validate_patterns(&s(&[bad])).is_err(), "{bad}");
        }
    }

    #[test]
    fn secrets_need_sixteen_characters() {
        assert!(validate_secret("0123456789abcde").is_err());
        assert!(validate_secret("0123456789abcdef").is_ok());
        assert!(validate_secret(&"x".repeat(MAX_SECRET_CHARS + 1)).is_err());
    }

    #[test]
    fn matching_uses_topic_patterns() {
        let p = s(&["shop.order.*", "factory.#"]);
        assert!(wants(&p, "shop.order.paid"));
        assert!(wants(&p, "factory.stock.low"));
        assert!(!wants(&p, "users.user.registered"));
    }
}

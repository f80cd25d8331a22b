//! Edge authentication: the access token is verified before a protected
//! request is forwarded; a missing, invalid or expired token is answered
//! with 401 here and never reaches a service.
//!
//! The verified identity travels on as `X-User-Id` and `X-User-Role`. Any
//! client-sent `X-User-*` header is removed first, so a client cannot forge
//! one. `Authorization` is forwarded as well: services verify the token
//! themselves (defence in depth) and must not trust these headers alone.

use http::{HeaderMap, HeaderName, HeaderValue, request::Parts};
use marimo_platform::{
    ApiError,
    auth::{
        JwtKeys,
        caller::bearer,
        jwt::{Identity, TokenError},
    },
};

use crate::policy::Access;

pub static USER_ID: HeaderName = HeaderName::from_static("x-user-id");
pub static USER_ROLE: HeaderName = HeaderName::from_static("x-user-role");

/// The identity a request is forwarded with: required for protected
/// routes; on public routes a valid token is used and a bad one ignored
/// (e.g. logging out with an expired token still works).
pub fn authenticate(
    keys: &JwtKeys,
    parts: &Parts,
    access: Access,
) -> Result<Option<Identity>, ApiError> {
    let token = bearer(parts);
    match access {
        Access::Public => Ok(token.and_then(|t| keys.verify_identity(t).ok())),
        Access::Protected => {
            let token = token
                .ok_or_else(|| ApiError::unauthorized("sign in first: missing bearer token"))?;
            keys.verify_identity(token).map(Some).map_err(|e| match e {
                TokenError::Expired => {
                    ApiError::unauthorized("the access token has expired; refresh it")
                }
                TokenError::Invalid => ApiError::unauthorized("the access token is invalid"),
                TokenError::Revoked => {
                    ApiError::unauthorized("the session has ended; sign in again")
                }
            })
        }
    }
}

/// Removes every client-sent `X-User-*` header.
pub fn strip_identity(headers: &mut HeaderMap) {
    let forged: Vec<HeaderName> = headers
        .keys()
        .filter(|k| k.as_str().starts_with("x-user-"))
        .cloned()
        .collect();
    for name in forged {
        headers.remove(&name);
    }
}

/// Sets the identity headers of a verified caller.
pub fn set_identity(headers: &mut HeaderMap, who: &Identity) {
    strip_identity(headers);
    // User ids are UUIDs we issued; a value that is not a valid header is
    // left out rather than forwarded mangled.
    if let Ok(v) = HeaderValue::from_str(&who.user_id) {
        headers.insert(USER_ID.clone(), v);
    }
    headers.insert(
        USER_ROLE.clone(),
        HeaderValue::from_static(who.role.as_str()),
    );
}

#[cfg(test)]
mod tests {
    use marimo_platform::auth::Role;

    use super::*;

    fn keys() -> JwtKeys {
        JwtKeys::new(&[9u8; 32])
    }

    fn who() -> Identity {
        Identity {
            user_id: "0190-u1".into(),
            email: "a@b.c".into(),
            role: Role::Manager,
            tenant: Default::default(),
        }
    }

    fn parts(auth: Option<&str>) -> Parts {
        let mut b = http::Request::builder().uri("/api/x");
        if let Some(a) = auth {
            b = b.header("authorization", a);
        }
        b.body(()).unwrap().into_parts().0
    }

    #[test]
    fn protected_requires_a_valid_token() {
        let k = keys();
        let (token, _) = k.issue(&who());
        let ok = authenticate(
            &k,
            &parts(Some(&format!("Bearer {token}"))),
            Access::Protected,
        );
        assert_eq!(ok.unwrap(), Some(who()));
        for bad in [
            None,
            Some("Bearer nope"),
            Some("Basic abc"),
            Some("Bearer "),
        ] {
            let err = authenticate(&k, &parts(bad), Access::Protected).unwrap_err();
            assert_eq!(err.status.as_u16(), 401, "{bad:?}");
        }
        let other = JwtKeys::new(&[1u8; 32]).issue(&who()).0;
        assert!(
            authenticate(
                &k,
                &parts(Some(&format!("Bearer {other}"))),
                Access::Protected
            )
            .is_err()
        );
    }

    #[test]
    fn public_tolerates_bad_tokens() {
        let k = keys();
        assert_eq!(
            authenticate(&k, &parts(None), Access::Public).unwrap(),
            None
        );
        assert_eq!(
            authenticate(&k, &parts(Some("Bearer junk")), Access::Public).unwrap(),
            None
        );
        let (token, _) = k.issue(&who());
        assert_eq!(
            authenticate(&k, &parts(Some(&format!("bearer {token}"))), Access::Public).unwrap(),
            Some(who())
        );
    }

    #[test]
    fn forged_identity_headers_are_replaced() {
        let mut h = HeaderMap::new();
        h.insert("x-user-id", HeaderValue::from_static("admin-id"));
        h.append("x-user-id", HeaderValue::from_static("second"));
        h.insert("x-user-role", HeaderValue::from_static("admin"));
        h.insert("x-user-email", HeaderValue::from_static("x@y.z"));
        h.insert("x-other", HeaderValue::from_static("kept"));
        let mut stripped = h.clone();
        strip_identity(&mut stripped);
        assert!(stripped.keys().all(|k| !k.as_str().starts_with("x-user-")));
        assert_eq!(stripped["x-other"], "kept");
        set_identity(&mut h, &who());
        assert_eq!(h.get_all("x-user-id").iter().count(), 1);
        assert_eq!(h["x-user-id"], "0190-u1");
        assert_eq!(h["x-user-role"], "manager");
        assert!(h.get("x-user-email").is_none());
    }
}

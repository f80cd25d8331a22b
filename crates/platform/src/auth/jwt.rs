//! Access tokens: JWT HS256 signed with `JWT_SECRET`, 15 minutes, with the
//! original API's claims plus `jti`. Verification pins the algorithm (so
//! `alg: none` and algorithm confusion are refused), and checks signature,
//! `exp` and `iss`.

use std::time::Duration;

use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation, decode, encode};
use serde::{Deserialize, Serialize};

use super::roles::Role;

pub const ISSUER: &str = "marimo-erp";
/// The original API's access-token lifetime (`expires_in: 900`).
pub const ACCESS_TOKEN_TTL: Duration = Duration::from_secs(15 * 60);

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Claims {
    pub sub: String,
    pub user_id: String,
    pub email: String,
    pub role: Role,
    pub iss: String,
    pub exp: i64,
    pub iat: i64,
    pub jti: String,
}

/// What a token says about its bearer, after verification.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Identity {
    pub user_id: String,
    pub email: String,
    pub role: Role,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum TokenError {
    #[error("the access token has expired")]
    Expired,
    #[error("the access token is invalid")]
    Invalid,
}

pub struct JwtKeys {
    encoding: EncodingKey,
    decoding: DecodingKey,
    validation: Validation,
    ttl: Duration,
}

impl std::fmt::Debug for JwtKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("JwtKeys")
            .field("ttl", &self.ttl)
            .finish_non_exhaustive()
    }
}

impl JwtKeys {
    pub fn new(secret: &[u8]) -> Self {
        Self::with_ttl(secret, ACCESS_TOKEN_TTL)
    }

    pub fn with_ttl(secret: &[u8], ttl: Duration) -> Self {
        let mut validation = Validation::new(Algorithm::HS256);
        validation.set_issuer(&[ISSUER]);
        validation.set_required_spec_claims(&["exp", "iat", "iss", "sub"]);
        validation.leeway = 5;
        Self {
            encoding: EncodingKey::from_secret(secret),
            decoding: DecodingKey::from_secret(secret),
            validation,
            ttl,
        }
    }

    pub fn ttl(&self) -> Duration {
        self.ttl
    }

    /// Signs an access token for `who`; returns it with its lifetime in seconds.
    pub fn issue(&self, who: &Identity) -> (String, u64) {
        self.issue_for(who, self.ttl)
    }

    /// Like [`Self::issue`], valid for `ttl` (a lifetime set at run time).
    pub fn issue_for(&self, who: &Identity, ttl: Duration) -> (String, u64) {
        let now = crate::clock::unix_now();
        let claims = Claims {
            sub: who.user_id.clone(),
            user_id: who.user_id.clone(),
            email: who.email.clone(),
            role: who.role,
            iss: ISSUER.into(),
            iat: now,
            exp: now + ttl.as_secs() as i64,
            jti: crate::ids::new_id(),
        };
        let token = encode(&Header::new(Algorithm::HS256), &claims, &self.encoding)
            .expect("HS256 signing of serialisable claims cannot fail");
        (token, ttl.as_secs())
    }

    pub fn verify(&self, token: &str) -> Result<Claims, TokenError> {
        use jsonwebtoken::errors::ErrorKind;
        decode::<Claims>(token, &self.decoding, &self.validation)
            .map(|data| data.claims)
            .map_err(|e| match e.kind() {
                ErrorKind::ExpiredSignature => TokenError::Expired,
                _ => TokenError::Invalid,
            })
            .and_then(|c| {
                if c.sub == c.user_id {
                    Ok(c)
                } else {
                    Err(TokenError::Invalid)
                }
            })
    }

    pub fn verify_identity(&self, token: &str) -> Result<Identity, TokenError> {
        self.verify(token).map(|c| Identity {
            user_id: c.user_id,
            email: c.email,
            role: c.role,
        })
    }
}

#[cfg(test)]
mod tests {
    use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD as B64};

    use super::*;

    fn keys() -> JwtKeys {
        JwtKeys::new(&[7u8; 32])
    }

    fn who() -> Identity {
        Identity {
            user_id: "u1".into(),
            email: "a@b.c".into(),
            role: Role::Accountant,
        }
    }

    #[test]
    fn issued_tokens_verify_with_original_claims() {
        let (token, ttl) = keys().issue(&who());
        assert_eq!(ttl, 900);
        let c = keys().verify(&token).unwrap();
        assert_eq!(
            (c.sub.as_str(), c.user_id.as_str(), c.role),
            ("u1", "u1", Role::Accountant)
        );
        assert_eq!(c.iss, ISSUER);
        assert_eq!(c.exp - c.iat, 900);
        assert!(!c.jti.is_empty());
    }

    #[test]
    fn wrong_key_is_invalid() {
        let (token, _) = keys().issue(&who());
        assert_eq!(
            JwtKeys::new(&[8u8; 32]).verify(&token),
            Err(TokenError::Invalid)
        );
    }

    #[test]
    fn alg_none_is_refused() {
        let (token, _) = keys().issue(&who());
        let payload = token.split('.').nth(1).unwrap();
        let header = B64.encode(br#"{"alg":"none","typ":"JWT"}"#);
        assert_eq!(
            keys().verify(&format!("{header}.{payload}.")),
            Err(TokenError::Invalid)
        );
    }

    #[test]
    fn tampered_claims_are_refused() {
        let (token, _) = keys().issue(&who());
        let parts: Vec<&str> = token.split('.').collect();
        let mut claims: serde_json::Value =
            serde_json::from_slice(&B64.decode(parts[1]).unwrap()).unwrap();
        claims["role"] = "admin".into();
        let forged = format!(
            "{}.{}.{}",
            parts[0],
            B64.encode(claims.to_string()),
            parts[2]
        );
        assert_eq!(keys().verify(&forged), Err(TokenError::Invalid));
    }

    #[test]
    fn expired_tokens_are_refused() {
        let short = JwtKeys::with_ttl(&[7u8; 32], Duration::from_secs(0));
        let mut claims = keys().verify(&short.issue(&who()).0).unwrap();
        claims.exp -= 3600;
        claims.iat -= 3600;
        let token = encode(
            &Header::new(Algorithm::HS256),
            &claims,
            &EncodingKey::from_secret(&[7u8; 32]),
        )
        .unwrap();
        assert_eq!(keys().verify(&token), Err(TokenError::Expired));
    }

    #[test]
    fn wrong_issuer_is_refused() {
        let mut claims = keys().verify(&keys().issue(&who()).0).unwrap();
        claims.iss = "someone-else".into();
        let token = encode(
            &Header::new(Algorithm::HS256),
            &claims,
            &EncodingKey::from_secret(&[7u8; 32]),
        )
        .unwrap();
        assert_eq!(keys().verify(&token), Err(TokenError::Invalid));
    }
}

//! Access tokens: JWT HS256 signed with `JWT_SECRET`, 15 minutes, with the
//! original API's claims plus `jti` and `aud`. Verification pins the
//! algorithm (so `alg: none` and algorithm confusion are refused), and
//! checks signature, `exp`, `iss`, `aud` and the user's revocation mark.
//!
//! **Rotation.** Every token names its key in the header (`kid`: the first
//! 16 hex digits of the key's SHA-256, which says nothing usable about the
//! key). During a rotation `JWT_SECRET` is the new key and
//! `JWT_SECRET_PREVIOUS` the old one: tokens are signed with the new key
//! only, and those of the old key keep verifying until they expire (15
//! minutes), so no one is signed out by the switch.
//!
//! **Revocation.** A deactivated, demoted or signed-out user's tokens stop
//! working before they expire: the users service publishes a per-user
//! *not-before* mark (`users.user.sessions_revoked`, unix milliseconds),
//! every service keeps the marks ([`super::revocation`]), and a token
//! issued (`iat_ms`, else `iat`) before its user's mark is refused here,
//! with the signature, by every extractor and at the gateway's edge.

use std::time::Duration;

use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation, decode, encode};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::{revocation::Revocations, roles::Role};
use crate::tenant::TenantId;

pub const ISSUER: &str = "marimo-erp";
/// The audience of the access tokens: the system's API.
pub const AUDIENCE: &str = "marimo-api";
/// The original API's access-token lifetime (`expires_in: 900`).
pub const ACCESS_TOKEN_TTL: Duration = Duration::from_secs(15 * 60);
/// Clock skew tolerated on `exp` and `iat`.
pub const LEEWAY_SECS: u64 = 5;

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Claims {
    pub sub: String,
    pub user_id: String,
    pub email: String,
    pub role: Role,
    pub iss: String,
    pub aud: String,
    pub exp: i64,
    pub iat: i64,
    /// `iat` in milliseconds: a revocation and a new sign-in in the same
    /// second are still ordered (absent in foreign tokens: `iat` counts).
    #[serde(default)]
    pub iat_ms: i64,
    pub jti: String,
    /// The tenant the token acts in. Absent in tokens from before
    /// tenancy (and in the original system's): the default tenant.
    #[serde(default)]
    pub tid: TenantId,
}

impl Claims {
    /// When the token was issued, in unix milliseconds.
    pub fn issued_at_ms(&self) -> i64 {
        if self.iat_ms > 0 {
            self.iat_ms
        } else {
            self.iat.saturating_mul(1000)
        }
    }
}

/// What a token says about its bearer, after verification.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Identity {
    pub user_id: String,
    pub email: String,
    /// The role in `tenant`.
    pub role: Role,
    pub tenant: TenantId,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum TokenError {
    #[error("the access token has expired")]
    Expired,
    #[error("the access token is invalid")]
    Invalid,
    /// Issued before its user's sessions were ended (deactivation, role or
    /// password change, sign-out everywhere).
    #[error("the session has ended; sign in again")]
    Revoked,
}

/// One signing key: its id and both halves.
struct Key {
    kid: String,
    encoding: EncodingKey,
    decoding: DecodingKey,
}

impl Key {
    fn new(secret: &[u8]) -> Self {
        Self {
            kid: key_id(secret),
            encoding: EncodingKey::from_secret(secret),
            decoding: DecodingKey::from_secret(secret),
        }
    }
}

/// The `kid` of a key: the first 16 hex digits of its SHA-256.
pub fn key_id(secret: &[u8]) -> String {
    hex::encode(&Sha256::digest(secret)[..8])
}

pub struct JwtKeys {
    current: Key,
    /// `JWT_SECRET_PREVIOUS`: verifies, never signs.
    previous: Option<Key>,
    validation: Validation,
    ttl: Duration,
    revocations: Revocations,
}

impl std::fmt::Debug for JwtKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("JwtKeys")
            .field("kid", &self.current.kid)
            .field("previous", &self.previous.as_ref().map(|k| &k.kid))
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
        validation.set_audience(&[AUDIENCE]);
        validation.set_required_spec_claims(&["exp", "iat", "iss", "sub", "aud"]);
        validation.leeway = LEEWAY_SECS;
        Self {
            current: Key::new(secret),
            previous: None,
            validation,
            ttl,
            revocations: Revocations::default(),
        }
    }

    /// Also accepts tokens signed with `previous` (a key being rotated out).
    pub fn with_previous(mut self, previous: Option<&[u8]>) -> Self {
        self.previous = previous.map(Key::new);
        self
    }

    /// Checks tokens against these revocation marks (shared, kept current
    /// by [`super::revocation::follow`]).
    pub fn with_revocations(mut self, revocations: Revocations) -> Self {
        self.revocations = revocations;
        self
    }

    /// The revocation marks these keys check tokens against.
    pub fn revocations(&self) -> &Revocations {
        &self.revocations
    }

    /// The id of the key tokens are signed with.
    pub fn kid(&self) -> &str {
        &self.current.kid
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
        let now_ms = crate::clock::unix_now_ms();
        let now = now_ms.div_euclid(1000);
        let claims = Claims {
            sub: who.user_id.clone(),
            user_id: who.user_id.clone(),
            email: who.email.clone(),
            role: who.role,
            iss: ISSUER.into(),
            aud: AUDIENCE.into(),
            iat: now,
            iat_ms: now_ms,
            exp: now + ttl.as_secs() as i64,
            jti: crate::ids::new_id(),
            tid: who.tenant.clone(),
        };
        let mut header = Header::new(Algorithm::HS256);
        header.kid = Some(self.current.kid.clone());
        let token = encode(&header, &claims, &self.current.encoding)
            .expect("HS256 signing of serialisable claims cannot fail");
        (token, ttl.as_secs())
    }

    /// The key tokens are signed with (service tokens: `auth::service`).
    pub(super) fn signing_key(&self) -> &EncodingKey {
        &self.current.encoding
    }

    /// The key that verifies `token` (see [`Self::key_for`]).
    pub(super) fn verifying_key(&self, token: &str) -> &DecodingKey {
        &self.key_for(token).decoding
    }

    /// The key a token names: the previous one only when its `kid` says
    /// so (a token without `kid` is judged by the current key).
    fn key_for(&self, token: &str) -> &Key {
        let kid = jsonwebtoken::decode_header(token).ok().and_then(|h| h.kid);
        match (&self.previous, kid) {
            (Some(prev), Some(kid)) if kid == prev.kid => prev,
            _ => &self.current,
        }
    }

    pub fn verify(&self, token: &str) -> Result<Claims, TokenError> {
        use jsonwebtoken::errors::ErrorKind;
        let claims = decode::<Claims>(token, &self.key_for(token).decoding, &self.validation)
            .map(|data| data.claims)
            .map_err(|e| match e.kind() {
                ErrorKind::ExpiredSignature => TokenError::Expired,
                _ => TokenError::Invalid,
            })?;
        if claims.sub != claims.user_id {
            return Err(TokenError::Invalid);
        }
        if self
            .revocations
            .not_before(&claims.user_id)
            .is_some_and(|not_before_ms| claims.issued_at_ms() < not_before_ms)
        {
            return Err(TokenError::Revoked);
        }
        Ok(claims)
    }

    pub fn verify_identity(&self, token: &str) -> Result<Identity, TokenError> {
        self.verify(token).map(|c| Identity {
            user_id: c.user_id,
            email: c.email,
            role: c.role,
            tenant: c.tid,
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
            tenant: Default::default(),
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
    fn tokens_name_their_key_and_audience() {
        let (token, _) = keys().issue(&who());
        let header = jsonwebtoken::decode_header(&token).unwrap();
        assert_eq!(header.kid.as_deref(), Some(keys().kid()));
        assert_eq!(keys().verify(&token).unwrap().aud, AUDIENCE);
    }

    #[test]
    fn another_audience_or_none_is_refused() {
        let mut claims = keys().verify(&keys().issue(&who()).0).unwrap();
        claims.aud = "another-api".into();
        let token = encode(
            &Header::new(Algorithm::HS256),
            &claims,
            &EncodingKey::from_secret(&[7u8; 32]),
        )
        .unwrap();
        assert_eq!(keys().verify(&token), Err(TokenError::Invalid));
        let mut json = serde_json::to_value(&claims).unwrap();
        json.as_object_mut().unwrap().remove("aud");
        let token = encode(
            &Header::new(Algorithm::HS256),
            &json,
            &EncodingKey::from_secret(&[7u8; 32]),
        )
        .unwrap();
        assert_eq!(keys().verify(&token), Err(TokenError::Invalid));
    }

    #[test]
    fn during_a_rotation_both_keys_verify_and_only_the_new_one_signs() {
        let old = JwtKeys::new(&[1u8; 32]);
        let rotated = JwtKeys::new(&[2u8; 32]).with_previous(Some(&[1u8; 32]));
        let (before, _) = old.issue(&who());
        assert!(rotated.verify(&before).is_ok(), "old key still verifies");
        let (after, _) = rotated.issue(&who());
        assert_eq!(
            jsonwebtoken::decode_header(&after).unwrap().kid.as_deref(),
            Some(rotated.kid())
        );
        assert_eq!(old.verify(&after), Err(TokenError::Invalid));
        // Once the rotation is over, the old key's tokens are refused.
        let done = JwtKeys::new(&[2u8; 32]);
        assert_eq!(done.verify(&before), Err(TokenError::Invalid));
        assert!(done.verify(&after).is_ok());
        // A token claiming the previous kid but signed with a third key.
        let forged = JwtKeys::new(&[3u8; 32]);
        assert_eq!(
            rotated.verify(&forged.issue(&who()).0),
            Err(TokenError::Invalid)
        );
    }

    #[test]
    fn a_token_issued_before_the_users_mark_is_revoked() {
        let keys = keys();
        let (token, _) = keys.issue(&who());
        let issued = keys.verify(&token).unwrap().issued_at_ms();
        keys.revocations().mark("someone-else", issued + 10);
        assert!(keys.verify(&token).is_ok());
        keys.revocations().mark("u1", issued);
        assert!(keys.verify(&token).is_ok(), "issued at the mark: kept");
        keys.revocations().mark("u1", issued + 1);
        assert_eq!(keys.verify(&token), Err(TokenError::Revoked));
        // Marks only move forward.
        keys.revocations().mark("u1", issued - 100_000);
        assert_eq!(keys.verify(&token), Err(TokenError::Revoked));
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

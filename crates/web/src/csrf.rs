//! CSRF tokens: signed double-submit, bound to the session.
//!
//! A token is `<nonce>.<mac>`: 32 random bytes and the HMAC-SHA256, under a
//! key derived from `JWT_SECRET` (so every gateway replica accepts it), of
//! the session's *binding* (the signed-in user's id, empty for a guest)
//! and the nonce. It lives in the `marimo_csrf` cookie and every form
//! echoes it in the `_csrf` field; a POST whose field does not equal a
//! cookie signed for the session making the request is refused with 403.
//! A cross-site page can neither read the cookie nor, thanks to the
//! signature, make one; and a token obtained in another session (the
//! attacker's own, or a guest's), planted as a cookie through a sibling
//! host, does not verify in the victim's. The token is replaced at
//! sign-in and sign-out as well.

use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;
use subtle::ConstantTimeEq;

type HmacSha256 = Hmac<Sha256>;

/// The name of the form field.
pub const FIELD: &str = "_csrf";

#[derive(Clone)]
pub struct CsrfKey([u8; 32]);

impl CsrfKey {
    /// Derives the CSRF key from the token signing secret, so that the
    /// secret itself never signs anything but tokens.
    pub fn derive(secret: &[u8]) -> Self {
        let mut mac = HmacSha256::new_from_slice(secret).expect("HMAC takes any key length");
        mac.update(b"marimo-web-csrf-v1");
        Self(mac.finalize().into_bytes().into())
    }

    fn mac(&self, binding: &str, nonce: &[u8]) -> [u8; 32] {
        let mut mac = HmacSha256::new_from_slice(&self.0).expect("HMAC takes any key length");
        // Length-prefixed, so no binding/nonce split can collide with another.
        mac.update(&(binding.len() as u64).to_be_bytes());
        mac.update(binding.as_bytes());
        mac.update(nonce);
        mac.finalize().into_bytes().into()
    }

    /// A new token for the session `binding` (user id, or empty for a guest).
    pub fn issue(&self, binding: &str) -> String {
        let mut nonce = [0u8; 32];
        rand::fill(&mut nonce);
        format!(
            "{}.{}",
            URL_SAFE_NO_PAD.encode(nonce),
            URL_SAFE_NO_PAD.encode(self.mac(binding, &nonce))
        )
    }

    /// Whether `token` is one this key signed for the session `binding`.
    pub fn is_signed(&self, token: &str, binding: &str) -> bool {
        let Some((nonce, mac)) = token.split_once('.') else {
            return false;
        };
        let (Ok(nonce), Ok(mac)) = (URL_SAFE_NO_PAD.decode(nonce), URL_SAFE_NO_PAD.decode(mac))
        else {
            return false;
        };
        nonce.len() == 32 && bool::from(self.mac(binding, &nonce).ct_eq(&mac[..]))
    }

    /// A form's token against the cookie's: equal, and signed by us for
    /// the session `binding`.
    pub fn verify(&self, cookie: Option<&str>, submitted: Option<&str>, binding: &str) -> bool {
        match (cookie, submitted) {
            (Some(c), Some(s)) => {
                bool::from(c.as_bytes().ct_eq(s.as_bytes())) && self.is_signed(c, binding)
            }
            _ => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signed_double_submit() {
        let key = CsrfKey::derive(b"0123456789abcdef0123456789abcdef");
        let t = key.issue("u1");
        assert!(key.is_signed(&t, "u1"));
        assert!(key.verify(Some(&t), Some(&t), "u1"));
        assert!(!key.verify(Some(&t), None, "u1"));
        assert!(!key.verify(None, Some(&t), "u1"));
        assert!(!key.verify(Some(&t), Some(&key.issue("u1")), "u1"));
        let other = CsrfKey::derive(b"another secret, another key.....");
        let forged = other.issue("u1");
        assert!(!key.verify(Some(&forged), Some(&forged), "u1"));
        assert!(!key.is_signed("abc.def", ""));
        assert!(!key.is_signed("nodot", ""));
    }

    #[test]
    fn a_token_of_another_session_does_not_verify() {
        let key = CsrfKey::derive(b"0123456789abcdef0123456789abcdef");
        let attackers = key.issue("attacker");
        assert!(!key.verify(Some(&attackers), Some(&attackers), "victim"));
        let guests = key.issue("");
        assert!(!key.verify(Some(&guests), Some(&guests), "victim"));
        assert!(key.verify(Some(&guests), Some(&guests), ""));
    }
}

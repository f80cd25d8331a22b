//! CSRF tokens: signed double-submit.
//!
//! A token is `<nonce>.<mac>`: 32 random bytes and their HMAC-SHA256 under a
//! key derived from `JWT_SECRET` (so every gateway replica accepts it). It
//! lives in the `marimo_csrf` cookie and every form echoes it in the
//! `_csrf` field; a POST whose field does not equal a validly signed
//! cookie is refused with 403. A cross-site page can neither read the
//! cookie nor, thanks to the signature, plant one of its own making. The
//! token is replaced at sign-in and sign-out, so a token seen before a
//! session started is worthless in it.

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

    fn mac(&self, nonce: &[u8]) -> [u8; 32] {
        let mut mac = HmacSha256::new_from_slice(&self.0).expect("HMAC takes any key length");
        mac.update(nonce);
        mac.finalize().into_bytes().into()
    }

    pub fn issue(&self) -> String {
        let mut nonce = [0u8; 32];
        rand::fill(&mut nonce);
        format!(
            "{}.{}",
            URL_SAFE_NO_PAD.encode(nonce),
            URL_SAFE_NO_PAD.encode(self.mac(&nonce))
        )
    }

    /// Whether `token` is one this key signed.
    pub fn is_signed(&self, token: &str) -> bool {
        let Some((nonce, mac)) = token.split_once('.') else {
            return false;
        };
        let (Ok(nonce), Ok(mac)) = (URL_SAFE_NO_PAD.decode(nonce), URL_SAFE_NO_PAD.decode(mac))
        else {
            return false;
        };
        nonce.len() == 32 && bool::from(self.mac(&nonce).ct_eq(&mac[..]))
    }

    /// A form's token against the cookie's: equal, and signed by us.
    pub fn verify(&self, cookie: Option<&str>, submitted: Option<&str>) -> bool {
        match (cookie, submitted) {
            (Some(c), Some(s)) => bool::from(c.as_bytes().ct_eq(s.as_bytes())) && self.is_signed(c),
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
        let t = key.issue();
        assert!(key.is_signed(&t));
        assert!(key.verify(Some(&t), Some(&t)));
        assert!(!key.verify(Some(&t), None));
        assert!(!key.verify(None, Some(&t)));
        assert!(!key.verify(Some(&t), Some(&key.issue())));
        let other = CsrfKey::derive(b"another secret, another key.....");
        let forged = other.issue();
        assert!(!key.verify(Some(&forged), Some(&forged)));
        assert!(!key.is_signed("abc.def"));
        assert!(!key.is_signed("nodot"));
    }
}

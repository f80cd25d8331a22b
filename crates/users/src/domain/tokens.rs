//! Refresh tokens: what one is and how it is stored.

use std::time::Duration;

use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use sha2::{Digest, Sha256};

pub const REFRESH_TOKEN_TTL: Duration = Duration::from_secs(7 * 24 * 60 * 60);
/// Random bytes in a refresh token (256 bits).
pub const REFRESH_TOKEN_BYTES: usize = 32;
/// Longer presented tokens are not even hashed.
pub const REFRESH_TOKEN_MAX_CHARS: usize = 256;

/// A new opaque refresh token: 32 bytes from the OS CSPRNG, base64url.
pub fn new_refresh_token() -> String {
    URL_SAFE_NO_PAD.encode(marimo_platform::ids::random_bytes::<REFRESH_TOKEN_BYTES>())
}

/// What is stored of a refresh token: its SHA-256, hex. The token has 256
/// bits of entropy, so a fast hash suffices (no salt or stretching needed).
pub fn hash_refresh_token(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

/// Cheap sanity check before a lookup.
pub fn plausible_refresh_token(token: &str) -> bool {
    !token.is_empty() && token.len() <= REFRESH_TOKEN_MAX_CHARS
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refresh_tokens_are_long_random_and_url_safe() {
        let a = new_refresh_token();
        let b = new_refresh_token();
        assert_ne!(a, b);
        assert_eq!(URL_SAFE_NO_PAD.decode(&a).unwrap().len(), 32);
        assert!(
            a.bytes()
                .all(|c| c.is_ascii_alphanumeric() || c == b'-' || c == b'_')
        );
    }

    #[test]
    fn refresh_tokens_are_stored_as_sha256_hex() {
        assert_eq!(
            hash_refresh_token("abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        let t = new_refresh_token();
        assert_eq!(hash_refresh_token(&t), hash_refresh_token(&t));
        assert!(!hash_refresh_token(&t).contains(&t));
        assert!(!plausible_refresh_token(""));
        assert!(!plausible_refresh_token(&"x".repeat(257)));
        assert!(plausible_refresh_token(&t));
    }
}

//! Password hashing: argon2id with OWASP parameters (m = 19 MiB, t = 2,
//! p = 1, the argon2 crate's defaults). The original system's bcrypt hashes
//! still verify, and [`Verdict::needs_rehash`] tells the caller to upgrade
//! them. Hashing is CPU work, so it runs on tokio's blocking pool behind a
//! semaphore that bounds how many hashes run at once (memory: 19 MiB each).

use std::sync::{Arc, LazyLock};

use argon2::{
    Argon2,
    password_hash::{PasswordHasher, PasswordVerifier, phc::PasswordHash},
};
use tokio::sync::Semaphore;

#[derive(Debug, thiserror::Error)]
pub enum PasswordError {
    #[error("password hashing failed: {0}")]
    Hash(String),
    #[error("password hashing was interrupted")]
    Interrupted,
}

/// The result of checking a password against a stored hash.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Verdict {
    pub ok: bool,
    /// The stored hash uses an old scheme or weaker parameters.
    pub needs_rehash: bool,
}

static PERMITS: LazyLock<Arc<Semaphore>> = LazyLock::new(|| {
    let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
    Arc::new(Semaphore::new(cores.max(2)))
});

/// A real argon2id hash of a random password, verified against when the
/// account does not exist so that a login takes the same time either way.
static DUMMY_HASH: LazyLock<String> =
    LazyLock::new(|| hash_blocking(&crate::ids::new_id()).expect("hashing a fixed-size input"));

async fn on_pool<T: Send + 'static>(
    f: impl FnOnce() -> T + Send + 'static,
) -> Result<T, PasswordError> {
    let _permit = PERMITS
        .clone()
        .acquire_owned()
        .await
        .map_err(|_| PasswordError::Interrupted)?;
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|_| PasswordError::Interrupted)
}

fn hash_blocking(password: &str) -> Result<String, PasswordError> {
    Argon2::default()
        .hash_password(password.as_bytes())
        .map(|h| h.to_string())
        .map_err(|e| PasswordError::Hash(e.to_string()))
}

fn verify_blocking(password: &str, stored: &str) -> Verdict {
    if stored.starts_with("$2a$") || stored.starts_with("$2b$") || stored.starts_with("$2y$") {
        let ok = bcrypt::verify(password, stored).unwrap_or(false);
        return Verdict {
            ok,
            needs_rehash: true,
        };
    }
    let Ok(parsed) = PasswordHash::new(stored) else {
        return Verdict {
            ok: false,
            needs_rehash: false,
        };
    };
    let ok = Argon2::default()
        .verify_password(password.as_bytes(), &parsed)
        .is_ok();
    let current = parsed.algorithm.as_str() == "argon2id"
        && parsed.params.get_decimal("m") == Some(argon2::Params::DEFAULT_M_COST)
        && parsed.params.get_decimal("t") == Some(argon2::Params::DEFAULT_T_COST);
    Verdict {
        ok,
        needs_rehash: ok && !current,
    }
}

/// Hashes a password with argon2id (PHC string).
pub async fn hash(password: &str) -> Result<String, PasswordError> {
    let password = password.to_owned();
    on_pool(move || hash_blocking(&password)).await?
}

/// Verifies a password against a stored argon2 or bcrypt hash.
pub async fn verify(password: &str, stored: &str) -> Result<Verdict, PasswordError> {
    let (password, stored) = (password.to_owned(), stored.to_owned());
    on_pool(move || verify_blocking(&password, &stored)).await
}

/// Spends the time of a real verification and fails: for unknown accounts.
pub async fn verify_nothing(password: &str) -> Result<Verdict, PasswordError> {
    let password = password.to_owned();
    on_pool(move || {
        verify_blocking(&password, &DUMMY_HASH);
        Verdict {
            ok: false,
            needs_rehash: false,
        }
    })
    .await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn argon2id_round_trip_with_owasp_parameters() {
        let h = hash("Secret123").await.unwrap();
        assert!(h.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"), "{h}");
        assert_eq!(
            verify("Secret123", &h).await.unwrap(),
            Verdict {
                ok: true,
                needs_rehash: false
            }
        );
        assert!(!verify("secret123", &h).await.unwrap().ok);
    }

    #[tokio::test]
    async fn bcrypt_hashes_of_the_original_verify_and_ask_for_rehash() {
        let legacy = bcrypt::hash("Secret123", 4).unwrap();
        assert_eq!(
            verify("Secret123", &legacy).await.unwrap(),
            Verdict {
                ok: true,
                needs_rehash: true
            }
        );
        assert!(!verify("nope", &legacy).await.unwrap().ok);
    }

    #[tokio::test]
    async fn garbage_hashes_never_verify() {
        assert!(!verify("x", "not-a-hash").await.unwrap().ok);
        assert!(!verify_nothing("x").await.unwrap().ok);
    }
}

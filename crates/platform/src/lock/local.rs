//! In-process leases with the same rules as Redis's: a lease expires after
//! its TTL, and only the token that holds it may renew or release it.

use std::{
    collections::HashMap,
    sync::Mutex,
    time::{Duration, Instant},
};

use super::{LockError, Locks};
use crate::bus::BoxFuture;

#[derive(Default)]
pub struct LocalLocks {
    /// name → (token, expires at).
    held: Mutex<HashMap<String, (String, Instant)>>,
}

impl LocalLocks {
    fn with<T>(&self, f: impl FnOnce(&mut HashMap<String, (String, Instant)>, Instant) -> T) -> T {
        let mut held = self
            .held
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let now = Instant::now();
        held.retain(|_, (_, until)| *until > now);
        f(&mut held, now)
    }
}

impl Locks for LocalLocks {
    fn kind(&self) -> &'static str {
        "local"
    }

    fn acquire<'a>(
        &'a self,
        name: &'a str,
        token: &'a str,
        ttl: Duration,
    ) -> BoxFuture<'a, Result<bool, LockError>> {
        let taken = self.with(|held, now| {
            if held.contains_key(name) {
                return false;
            }
            held.insert(name.to_owned(), (token.to_owned(), now + ttl));
            true
        });
        Box::pin(async move { Ok(taken) })
    }

    fn renew<'a>(
        &'a self,
        name: &'a str,
        token: &'a str,
        ttl: Duration,
    ) -> BoxFuture<'a, Result<bool, LockError>> {
        let renewed = self.with(|held, now| match held.get_mut(name) {
            Some((holder, until)) if holder == token => {
                *until = now + ttl;
                true
            }
            _ => false,
        });
        Box::pin(async move { Ok(renewed) })
    }

    fn release<'a>(
        &'a self,
        name: &'a str,
        token: &'a str,
    ) -> BoxFuture<'a, Result<bool, LockError>> {
        let released = self.with(|held, _| match held.get(name) {
            Some((holder, _)) if holder == token => {
                held.remove(name);
                true
            }
            _ => false,
        });
        Box::pin(async move { Ok(released) })
    }
}

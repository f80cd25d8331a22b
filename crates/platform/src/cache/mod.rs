//! A key-value cache behind one interface, [`CacheStore`]: the in-process
//! [`MokaStore`] (the embedded default) or [`RedisStore`] (shared by every
//! replica, when `REDIS_ADDR` is set). Values are opaque bytes with a time to live; keys are
//! strings, and [`CacheStore::invalidate_prefix`] drops every key that
//! starts with a prefix (callers put the invalidation unit first in
//! their keys).

mod redis;

use std::time::{Duration, Instant};

use bytes::Bytes;
use moka::Expiry;

pub use self::redis::RedisStore;
use crate::bus::BoxFuture;

/// Never fails: a store that cannot answer misses, and one that cannot
/// store forgets.
pub trait CacheStore: Send + Sync {
    /// `memory` or `redis`: the `store` label of the cache metrics.
    fn kind(&self) -> &'static str;
    /// Whether the store is reachable now, as far as it knows without
    /// asking (Redis: its breaker is closed). While it is not, reads miss
    /// and writes are dropped at once, so callers need not wait for each
    /// other to fill it.
    fn available(&self) -> bool {
        true
    }
    fn get<'a>(&'a self, key: &'a str) -> BoxFuture<'a, Option<Bytes>>;
    /// Whether the value was stored.
    fn put(&self, key: String, value: Bytes, ttl: Duration) -> BoxFuture<'_, bool>;
    fn invalidate_prefix(&self, prefix: String) -> BoxFuture<'_, ()>;
}

#[derive(Clone)]
struct Entry {
    value: Bytes,
    ttl: Duration,
}

struct PerEntryTtl;

impl Expiry<String, Entry> for PerEntryTtl {
    fn expire_after_create(&self, _key: &String, value: &Entry, _at: Instant) -> Option<Duration> {
        Some(value.ttl)
    }
}

/// The in-process store: moka, bounded by total bytes.
pub struct MokaStore {
    cache: moka::future::Cache<String, Entry>,
}

impl MokaStore {
    /// A store holding at most about `max_bytes` of keys and values.
    pub fn new(max_bytes: u64) -> Self {
        let cache = moka::future::Cache::builder()
            .max_capacity(max_bytes)
            .weigher(|k: &String, v: &Entry| {
                u32::try_from(k.len() + v.value.len()).unwrap_or(u32::MAX)
            })
            .expire_after(PerEntryTtl)
            .support_invalidation_closures()
            .build();
        Self { cache }
    }
}

impl CacheStore for MokaStore {
    fn kind(&self) -> &'static str {
        "memory"
    }

    fn get<'a>(&'a self, key: &'a str) -> BoxFuture<'a, Option<Bytes>> {
        Box::pin(async move { self.cache.get(key).await.map(|e| e.value) })
    }

    fn put(&self, key: String, value: Bytes, ttl: Duration) -> BoxFuture<'_, bool> {
        Box::pin(async move {
            self.cache.insert(key, Entry { value, ttl }).await;
            true
        })
    }

    fn invalidate_prefix(&self, prefix: String) -> BoxFuture<'_, ()> {
        Box::pin(async move {
            if let Err(e) = self
                .cache
                .invalidate_entries_if(move |k, _| k.starts_with(&prefix))
            {
                tracing::warn!(error = %e, "cache invalidation failed; clearing the cache");
                self.cache.invalidate_all();
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn get_put_and_prefix_invalidation() {
        let s = MokaStore::new(1 << 20);
        let ttl = Duration::from_secs(60);
        s.put(
            "GET /api/shop/products|a".into(),
            Bytes::from_static(b"1"),
            ttl,
        )
        .await;
        s.put("GET /api/config/x|a".into(), Bytes::from_static(b"2"), ttl)
            .await;
        assert_eq!(
            s.get("GET /api/shop/products|a").await.as_deref(),
            Some(&b"1"[..])
        );
        s.invalidate_prefix("GET /api/shop/".into()).await;
        assert_eq!(s.get("GET /api/shop/products|a").await, None);
        assert!(s.get("GET /api/config/x|a").await.is_some());
        s.put(
            "k".into(),
            Bytes::from_static(b"3"),
            Duration::from_millis(1),
        )
        .await;
        tokio::time::sleep(Duration::from_millis(20)).await;
        assert_eq!(s.get("k").await, None);
    }
}

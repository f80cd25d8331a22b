//! The cache store in Redis, shared by every gateway replica.
//!
//! Keys are `<namespace>:cache:<key>`; values are the bytes as given, with
//! the TTL as `SET .. PX`. A prefix is invalidated by walking `SCAN MATCH
//! <prefix>*` page by page and `UNLINK`ing each page (never `KEYS`, which
//! blocks the server; `UNLINK` frees memory off the main thread).
//!
//! Redis away: a read is a miss, a write is dropped — logged and counted
//! by [`Redis`], never an error to the caller. A failed invalidation is
//! remembered and retried before this store serves a read from Redis again;
//! until it succeeds, reads under that prefix are misses, so a change made
//! during an outage is not hidden by an older cached answer afterwards.

use std::{sync::Mutex, time::Duration};

use bytes::Bytes;

use super::CacheStore;
use crate::{
    bus::BoxFuture,
    redis::{Redis, RedisError, glob_escape},
};

/// Keys asked per SCAN page.
const SCAN_COUNT: usize = 1000;

pub struct RedisStore {
    redis: Redis,
    /// Invalidations that failed, to retry.
    pending: Mutex<Vec<String>>,
}

impl RedisStore {
    pub fn new(redis: Redis) -> Self {
        Self {
            redis,
            pending: Mutex::new(Vec::new()),
        }
    }

    fn key(&self, key: &str) -> String {
        self.redis.key("cache", key)
    }

    fn pending(&self) -> std::sync::MutexGuard<'_, Vec<String>> {
        self.pending
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Deletes every key under `prefix`; how many were deleted.
    async fn unlink_prefix(&self, prefix: &str) -> Result<usize, RedisError> {
        let pattern = format!("{}*", glob_escape(&self.key(prefix)));
        let mut cursor = "0".to_owned();
        let mut deleted = 0;
        loop {
            let mut scan = ::redis::cmd("SCAN");
            scan.arg(&cursor)
                .arg("MATCH")
                .arg(&pattern)
                .arg("COUNT")
                .arg(SCAN_COUNT);
            let (next, keys): (String, Vec<Vec<u8>>) =
                self.redis.query("cache_scan", &scan).await?;
            if !keys.is_empty() {
                let mut unlink = ::redis::cmd("UNLINK");
                unlink.arg(&keys);
                let n: usize = self.redis.query("cache_unlink", &unlink).await?;
                deleted += n;
            }
            if next == "0" {
                return Ok(deleted);
            }
            cursor = next;
        }
    }

    /// Retries failed invalidations; the prefixes still pending.
    async fn retry_pending(&self) -> Vec<String> {
        let todo = std::mem::take(&mut *self.pending());
        if todo.is_empty() {
            return todo;
        }
        let mut left = Vec::new();
        for prefix in todo {
            if !left.is_empty() || self.unlink_prefix(&prefix).await.is_err() {
                left.push(prefix);
            }
        }
        let mut pending = self.pending();
        for p in &left {
            if !pending.contains(p) {
                pending.push(p.clone());
            }
        }
        pending.clone()
    }
}

impl CacheStore for RedisStore {
    fn kind(&self) -> &'static str {
        "redis"
    }

    fn available(&self) -> bool {
        self.redis.is_up()
    }

    fn get<'a>(&'a self, key: &'a str) -> BoxFuture<'a, Option<Bytes>> {
        Box::pin(async move {
            let pending = self.retry_pending().await;
            if pending.iter().any(|p| key.starts_with(p.as_str())) {
                return None;
            }
            let cmd = ::redis::cmd("GET").arg(self.key(key)).clone();
            self.redis
                .query::<Option<Bytes>>("cache_get", &cmd)
                .await
                .ok()
                .flatten()
        })
    }

    fn put(&self, key: String, value: Bytes, ttl: Duration) -> BoxFuture<'_, bool> {
        Box::pin(async move {
            let ms = u64::try_from(ttl.as_millis()).unwrap_or(u64::MAX).max(1);
            let mut cmd = ::redis::cmd("SET");
            cmd.arg(self.key(&key))
                .arg(value.as_ref())
                .arg("PX")
                .arg(ms);
            // Dropped when Redis is away: the next read is a miss.
            self.redis.query::<()>("cache_put", &cmd).await.is_ok()
        })
    }

    fn invalidate_prefix(&self, prefix: String) -> BoxFuture<'_, ()> {
        Box::pin(async move {
            if let Err(e) = self.unlink_prefix(&prefix).await {
                // Debug: the outage itself is logged once by `Redis`; a
                // warning per invalidation would be one per write.
                tracing::debug!(%prefix, error = %e, "cache invalidation failed; retried before the next read");
                let mut pending = self.pending();
                if !pending.contains(&prefix) {
                    pending.push(prefix);
                }
            }
        })
    }
}

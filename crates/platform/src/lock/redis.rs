//! Leases in Redis, shared by every replica.

use std::time::Duration;

use super::{LockError, Locks};
use crate::{
    bus::BoxFuture,
    redis::{LuaScript, Redis},
};

/// Extends the lease only while it holds the caller's token.
const RENEW: &str = "if redis.call('GET', KEYS[1]) == ARGV[1] then \
                       return redis.call('PEXPIRE', KEYS[1], ARGV[2]) \
                     end \
                     return 0";
/// Deletes the lease only while it holds the caller's token.
const RELEASE: &str = "if redis.call('GET', KEYS[1]) == ARGV[1] then \
                         return redis.call('DEL', KEYS[1]) \
                       end \
                       return 0";

pub struct RedisLocks {
    redis: Redis,
    renew: LuaScript,
    release: LuaScript,
}

impl RedisLocks {
    pub fn new(redis: Redis) -> Self {
        Self {
            redis,
            renew: LuaScript::new(RENEW),
            release: LuaScript::new(RELEASE),
        }
    }

    fn key(&self, name: &str) -> String {
        self.redis.key("lock", name)
    }
}

fn millis(ttl: Duration) -> u64 {
    u64::try_from(ttl.as_millis()).unwrap_or(u64::MAX).max(1)
}

fn unreachable(e: crate::redis::RedisError) -> LockError {
    LockError(e.to_string())
}

impl Locks for RedisLocks {
    fn kind(&self) -> &'static str {
        "redis"
    }

    fn acquire<'a>(
        &'a self,
        name: &'a str,
        token: &'a str,
        ttl: Duration,
    ) -> BoxFuture<'a, Result<bool, LockError>> {
        Box::pin(async move {
            let mut cmd = ::redis::cmd("SET");
            cmd.arg(self.key(name))
                .arg(token)
                .arg("NX")
                .arg("PX")
                .arg(millis(ttl));
            let reply: Option<String> = self
                .redis
                .query("lock_acquire", &cmd)
                .await
                .map_err(unreachable)?;
            Ok(reply.is_some())
        })
    }

    fn renew<'a>(
        &'a self,
        name: &'a str,
        token: &'a str,
        ttl: Duration,
    ) -> BoxFuture<'a, Result<bool, LockError>> {
        Box::pin(async move {
            let key = self.key(name);
            let n: i64 = self
                .redis
                .eval("lock_renew", &self.renew, &[&key], &[&token, &millis(ttl)])
                .await
                .map_err(unreachable)?;
            Ok(n == 1)
        })
    }

    fn release<'a>(
        &'a self,
        name: &'a str,
        token: &'a str,
    ) -> BoxFuture<'a, Result<bool, LockError>> {
        Box::pin(async move {
            let key = self.key(name);
            let n: i64 = self
                .redis
                .eval("lock_release", &self.release, &[&key], &[&token])
                .await
                .map_err(unreachable)?;
            Ok(n == 1)
        })
    }
}

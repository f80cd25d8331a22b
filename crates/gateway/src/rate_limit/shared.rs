//! Limit state in Redis, so every gateway replica counts against one limit.
//!
//! One Lua script per request does the whole GCRA step atomically on the
//! server: read the key's theoretical arrival time (TAT), decide, store the
//! new TAT with an expiry of when it is back to fresh. Time is Redis's own
//! clock (`TIME`), so replicas with skewed clocks still agree. The
//! arithmetic is governor's: `burst` requests at once, then one per
//! `per / count`.
//!
//! Redis away: the caller falls back to its local limiter for that request.
//! The switch to local and back is logged once per outage and counted in
//! `gateway_rate_limit_fallbacks_total`. An outage is what the Redis handle
//! calls one (its breaker open: [`RedisError::Down`]); a single command
//! that missed its deadline on a busy moment falls back for its request
//! only, counted in `redis_errors_total` but not announced.

use std::{
    sync::atomic::{AtomicBool, Ordering},
    time::Duration,
};

use marimo_platform::{
    redis::{LuaScript, Redis, RedisError},
    telemetry::Metrics,
};

use super::{LimitKind, Rate};

/// KEYS[1]: the TAT in µs; ARGV[1]: emission interval (µs); ARGV[2]: burst.
/// Returns 0 when the request is allowed (and counted), else the µs to wait.
const GCRA: &str = r"
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local interval = tonumber(ARGV[1])
local burst = tonumber(ARGV[2])
local tat = tonumber(redis.call('GET', KEYS[1])) or now
if tat < now then tat = now end
local allow_at = tat + interval - interval * burst
if now < allow_at then return allow_at - now end
local new_tat = tat + interval
redis.call('SET', KEYS[1], string.format('%.0f', new_tat), 'PX', math.ceil((new_tat - now) / 1000))
return 0
";

pub struct SharedLimits {
    redis: Redis,
    script: LuaScript,
    metrics: Metrics,
    /// True while requests are limited locally because Redis is away.
    local: AtomicBool,
}

impl SharedLimits {
    pub fn new(redis: Redis, metrics: Metrics) -> Self {
        Self {
            redis,
            script: LuaScript::new(GCRA),
            metrics,
            local: AtomicBool::new(false),
        }
    }

    /// Counts one request of `id` against `rate`: `Some(Ok)` allowed,
    /// `Some(Err(wait))` limited, `None` when Redis cannot decide.
    pub async fn check(
        &self,
        kind: LimitKind,
        id: &str,
        rate: Rate,
    ) -> Option<Result<(), Duration>> {
        let key = self
            .redis
            .key("ratelimit", &format!("{}:{id}", kind.as_str()));
        let interval_us = u64::try_from((rate.per / rate.count.get()).as_micros())
            .unwrap_or(u64::MAX)
            .max(1);
        let burst = u64::from(rate.burst.get());
        let outcome = self
            .redis
            .eval::<i64>("rate_limit", &self.script, &[&key], &[&interval_us, &burst])
            .await;
        match outcome {
            Ok(wait_us) => {
                if self.local.swap(false, Ordering::Relaxed) {
                    tracing::info!("rate limits are shared through Redis again");
                }
                Some(if wait_us <= 0 {
                    Ok(())
                } else {
                    Err(Duration::from_micros(wait_us.unsigned_abs()))
                })
            }
            Err(e) => {
                if matches!(e, RedisError::Down) && !self.local.swap(true, Ordering::Relaxed) {
                    tracing::warn!(error = %e, "redis unreachable: rate limits are per replica until it is back");
                    self.metrics.record(|| {
                        metrics::counter!("gateway_rate_limit_fallbacks_total").increment(1);
                    });
                }
                None
            }
        }
    }
}

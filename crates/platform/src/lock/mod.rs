//! Leases, so that a scheduled job runs on one replica at a time.
//!
//! A lease is a named lock that expires by itself after its TTL unless its
//! holder renews it: a replica that dies mid-job blocks the others for at
//! most one TTL. Behind one interface, [`Locks`]:
//!
//! - [`RedisLocks`] (when `REDIS_ADDR` is set), shared by every replica:
//!   `SET key token NX PX ttl` with a random token; release and renewal are
//!   Lua scripts that act only while the key still holds the caller's token
//!   (compare-and-delete, compare-and-PEXPIRE), so a holder whose lease
//!   expired can never release or extend someone else's.
//! - [`LocalLocks`] (the embedded default): the same rules in process, for
//!   `marimo up`, where each service runs once.
//!
//! [`Lease`] renews itself every third of its TTL while held. When a
//! renewal finds the lease gone, or cannot reach Redis for two thirds of
//! the TTL since the last confirmation (after which another replica could
//! take it), the lease counts as *lost*: [`Lease::lost`] is cancelled and
//! [`run_exclusive`] drops the job. A job therefore never runs on two
//! replicas at once, as long as the job stops when told (dropping its
//! future) and clocks advance at the same rate.
//!
//! Redis unreachable means no lease: the job skips its turn rather than
//! run unlocked. [`spawn_periodic`] runs a job on an interval this way and
//! counts each turn in `scheduled_job_turns_total{job,outcome}` (`ran`,
//! `busy` — another replica has it, `skipped` — no lock service, `lost`).

mod local;
mod redis;

use std::{
    future::Future,
    sync::Arc,
    time::{Duration, Instant},
};

use tokio_util::sync::CancellationToken;

pub use self::{local::LocalLocks, redis::RedisLocks};
use crate::{bus::BoxFuture, service::ServiceContext};

/// The lock service could not be asked: nobody knows who holds the lease.
#[derive(Debug, Clone, thiserror::Error)]
#[error("the lock service is unreachable: {0}")]
pub struct LockError(pub String);

/// Named leases with an owner token.
pub trait Locks: Send + Sync {
    /// `redis` or `local`, for logs.
    fn kind(&self) -> &'static str;
    /// Takes `name` for `ttl` if nobody holds it; `Ok(false)` if someone does.
    fn acquire<'a>(
        &'a self,
        name: &'a str,
        token: &'a str,
        ttl: Duration,
    ) -> BoxFuture<'a, Result<bool, LockError>>;
    /// Extends the lease to `ttl` from now if `token` still holds it.
    fn renew<'a>(
        &'a self,
        name: &'a str,
        token: &'a str,
        ttl: Duration,
    ) -> BoxFuture<'a, Result<bool, LockError>>;
    /// Drops the lease if `token` holds it; `Ok(false)` (and nothing done)
    /// otherwise.
    fn release<'a>(
        &'a self,
        name: &'a str,
        token: &'a str,
    ) -> BoxFuture<'a, Result<bool, LockError>>;
}

/// The locks of these settings: Redis's when configured, else in-process.
pub fn from_redis(redis: Option<crate::redis::Redis>) -> Arc<dyn Locks> {
    match redis {
        Some(r) => Arc::new(RedisLocks::new(r)),
        None => Arc::new(LocalLocks::default()),
    }
}

/// A held lease, renewed in the background until released or dropped.
pub struct Lease {
    locks: Arc<dyn Locks>,
    name: String,
    token: String,
    lost: CancellationToken,
    stop_renewing: CancellationToken,
}

impl Lease {
    /// Takes `name` for `ttl` (at least 30 ms) and keeps renewing it;
    /// `Ok(None)` when another holder has it.
    pub async fn try_acquire(
        locks: &Arc<dyn Locks>,
        name: &str,
        ttl: Duration,
    ) -> Result<Option<Lease>, LockError> {
        let ttl = ttl.max(Duration::from_millis(30));
        let token = hex::encode(crate::ids::random_bytes::<16>());
        let asked = Instant::now();
        if !locks.acquire(name, &token, ttl).await? {
            return Ok(None);
        }
        let lease = Lease {
            locks: locks.clone(),
            name: name.to_owned(),
            token,
            lost: CancellationToken::new(),
            stop_renewing: CancellationToken::new(),
        };
        tokio::spawn(renew_loop(
            locks.clone(),
            lease.name.clone(),
            lease.token.clone(),
            ttl,
            asked,
            lease.lost.clone(),
            lease.stop_renewing.clone(),
        ));
        Ok(Some(lease))
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    /// Cancelled when the lease is lost: stop the work it guards.
    pub fn lost(&self) -> &CancellationToken {
        &self.lost
    }

    pub fn is_lost(&self) -> bool {
        self.lost.is_cancelled()
    }

    /// Stops renewing and drops the lease; `Ok(false)` when it was no
    /// longer ours.
    pub async fn release(self) -> Result<bool, LockError> {
        self.stop_renewing.cancel();
        self.locks.release(&self.name, &self.token).await
    }
}

impl Drop for Lease {
    fn drop(&mut self) {
        // A lease dropped unreleased expires by its TTL; renewing stops.
        self.stop_renewing.cancel();
    }
}

async fn renew_loop(
    locks: Arc<dyn Locks>,
    name: String,
    token: String,
    ttl: Duration,
    mut confirmed: Instant,
    lost: CancellationToken,
    stop: CancellationToken,
) {
    let every = ttl / 3;
    // Past this since the last confirmation another holder may have it.
    let deadline = ttl * 2 / 3;
    let mut wait = every;
    loop {
        tokio::select! {
            () = stop.cancelled() => return,
            () = tokio::time::sleep(wait) => {}
        }
        let asked = Instant::now();
        let outcome = tokio::select! {
            () = stop.cancelled() => return,
            r = locks.renew(&name, &token, ttl) => r,
        };
        match outcome {
            Ok(true) => {
                confirmed = asked;
                wait = every;
            }
            Ok(false) => {
                tracing::warn!(lease = %name, "lease lost: another holder has it or it expired");
                lost.cancel();
                return;
            }
            Err(e) if confirmed.elapsed() >= deadline => {
                tracing::warn!(lease = %name, error = %e, "lease lost: could not renew it in time");
                lost.cancel();
                return;
            }
            Err(e) => {
                tracing::debug!(lease = %name, error = %e, "lease renewal failed; retrying");
                wait = (ttl / 10).max(Duration::from_millis(5));
            }
        }
    }
}

/// How a turn of an exclusive job went.
#[derive(Debug)]
pub enum Turn<T> {
    /// The lease was held throughout and the job finished.
    Ran(T),
    /// Another holder has the lease.
    Busy,
    /// The lock service is unreachable: the job did not run.
    Unavailable(LockError),
    /// The lease was lost mid-job; the job was dropped.
    Lost,
}

impl<T> Turn<T> {
    pub fn outcome(&self) -> &'static str {
        match self {
            Turn::Ran(_) => "ran",
            Turn::Busy => "busy",
            Turn::Unavailable(_) => "skipped",
            Turn::Lost => "lost",
        }
    }
}

/// Runs `job` only while holding the lease `name`. The job gets the
/// lease's *lost* token; if the lease is lost first, the job's future is
/// dropped (a database transaction in it rolls back).
pub async fn run_exclusive<T, F, Fut>(
    locks: &Arc<dyn Locks>,
    name: &str,
    ttl: Duration,
    job: F,
) -> Turn<T>
where
    F: FnOnce(CancellationToken) -> Fut,
    Fut: Future<Output = T>,
{
    let lease = match Lease::try_acquire(locks, name, ttl).await {
        Ok(Some(lease)) => lease,
        Ok(None) => return Turn::Busy,
        Err(e) => return Turn::Unavailable(e),
    };
    let lost = lease.lost().clone();
    let outcome = tokio::select! {
        biased;
        () = lost.cancelled() => None,
        v = job(lost.clone()) => Some(v),
    };
    match outcome {
        Some(v) => {
            if let Err(e) = lease.release().await {
                // It expires by its TTL instead.
                tracing::debug!(lease = %name, error = %e, "lease not released");
            }
            Turn::Ran(v)
        }
        None => Turn::Lost,
    }
}

/// Runs `job` every `every` (first after one interval) on at most one
/// replica at a time, under the lease `<service>.<job>` of `ttl`, until
/// the service shuts down. A turn without the lease is skipped.
pub fn spawn_periodic<F, Fut>(
    ctx: &ServiceContext,
    job: &'static str,
    every: Duration,
    ttl: Duration,
    run: F,
) where
    F: Fn() -> Fut + Send + Sync + 'static,
    Fut: Future<Output = ()> + Send + 'static,
{
    let name = format!("{}.{job}", ctx.name);
    let (locks, metrics, shutdown) = (ctx.locks.clone(), ctx.metrics.clone(), ctx.shutdown.clone());
    ctx.tasks.spawn(async move {
        let mut skipping = false;
        loop {
            tokio::select! {
                () = shutdown.cancelled() => return,
                () = tokio::time::sleep(every) => {}
            }
            let turn = run_exclusive(&locks, &name, ttl, |_| run()).await;
            match &turn {
                Turn::Unavailable(e) if !skipping => {
                    tracing::warn!(job = %name, error = %e, "lock service unreachable: skipping turns");
                    skipping = true;
                }
                Turn::Unavailable(_) => {}
                Turn::Lost => tracing::warn!(job = %name, "lease lost mid-turn: job stopped"),
                Turn::Busy | Turn::Ran(()) => {
                    if std::mem::take(&mut skipping) {
                        tracing::info!(job = %name, "lock service back: turns resume");
                    }
                }
            }
            let outcome = turn.outcome();
            metrics.record(|| {
                metrics::counter!("scheduled_job_turns_total", "job" => name.clone(), "outcome" => outcome)
                    .increment(1);
            });
        }
    });
}

//! Retry timing and the retry budget.
//!
//! [`Backoff`]: exponential with full jitter — before retry *n* (0-based)
//! wait a uniformly random time in `[0, min(cap, base · factor^n)]`
//! (defaults 100 ms, ×2, 10 s cap), so that clients retrying together
//! spread out instead of arriving in waves.
//!
//! [`RetryBudget`]: retries may be at most `ratio` (20 %) of the requests
//! seen over a rolling window (10 s), plus a floor of `min_per_sec` (3)
//! per second so that a quiet service can still be retried. When a service
//! is down every request fails, and the budget caps the extra load retries
//! add at 20 % instead of ×attempts.

use std::{
    sync::Mutex,
    time::{Duration, Instant},
};

use super::window::Window;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Backoff {
    pub base: Duration,
    pub factor: u32,
    pub cap: Duration,
}

impl Default for Backoff {
    fn default() -> Self {
        Self {
            base: Duration::from_millis(100),
            factor: 2,
            cap: Duration::from_secs(10),
        }
    }
}

impl Backoff {
    /// The upper bound of the wait before retry `n` (0-based).
    pub fn ceiling(&self, n: u32) -> Duration {
        let mult = u64::from(self.factor).saturating_pow(n);
        let nanos = u64::try_from(self.base.as_nanos())
            .unwrap_or(u64::MAX)
            .saturating_mul(mult);
        Duration::from_nanos(nanos).min(self.cap)
    }

    /// A random wait in `[0, ceiling(n)]` (full jitter).
    pub fn delay(&self, n: u32) -> Duration {
        self.delay_with(n, u64::from_le_bytes(crate::ids::random_bytes::<8>()))
    }

    /// [`Self::delay`] with the random number given (for tests).
    pub fn delay_with(&self, n: u32, random: u64) -> Duration {
        let ceiling = u64::try_from(self.ceiling(n).as_nanos()).unwrap_or(u64::MAX);
        Duration::from_nanos(random % ceiling.saturating_add(1))
    }
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct BudgetConfig {
    pub window: Duration,
    /// Retries allowed as a share of requests (0.2 = 20 %).
    pub ratio: f64,
    /// Retries always allowed per second of the window.
    pub min_per_sec: u32,
}

impl Default for BudgetConfig {
    fn default() -> Self {
        Self {
            window: Duration::from_secs(10),
            ratio: 0.2,
            min_per_sec: 3,
        }
    }
}

/// Shared by every request to one service.
#[derive(Debug)]
pub struct RetryBudget {
    cfg: BudgetConfig,
    /// (requests, retries)
    window: Mutex<Window>,
}

impl Default for RetryBudget {
    fn default() -> Self {
        Self::new(BudgetConfig::default())
    }
}

impl RetryBudget {
    pub fn new(cfg: BudgetConfig) -> Self {
        Self {
            cfg,
            window: Mutex::new(Window::new(cfg.window, Instant::now())),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Window> {
        self.window
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Counts an original request.
    pub fn deposit(&self) {
        self.deposit_at(Instant::now());
    }

    pub fn deposit_at(&self, now: Instant) {
        self.lock().add(now, 1, 0);
    }

    /// Takes one retry from the budget; `false` when it is spent.
    pub fn try_withdraw(&self) -> bool {
        self.try_withdraw_at(Instant::now())
    }

    pub fn try_withdraw_at(&self, now: Instant) -> bool {
        let mut w = self.lock();
        let (requests, retries) = w.sum(now);
        let floor =
            u64::from(self.cfg.min_per_sec).saturating_mul(self.cfg.window.as_secs().max(1));
        let share = (requests as f64 * self.cfg.ratio) as u64;
        if retries < floor.max(share) {
            w.add(now, 0, 1);
            true
        } else {
            false
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_grows_and_is_capped() {
        let b = Backoff::default();
        assert_eq!(b.ceiling(0), Duration::from_millis(100));
        assert_eq!(b.ceiling(1), Duration::from_millis(200));
        assert_eq!(b.ceiling(3), Duration::from_millis(800));
        assert_eq!(b.ceiling(7), Duration::from_secs(10));
        assert_eq!(b.ceiling(200), Duration::from_secs(10));
    }

    #[test]
    fn jitter_stays_within_zero_and_the_ceiling() {
        let b = Backoff::default();
        assert_eq!(b.delay_with(0, 0), Duration::ZERO);
        assert_eq!(b.delay_with(0, 100_000_000), Duration::from_millis(100));
        for n in 0..12 {
            for _ in 0..200 {
                assert!(b.delay(n) <= b.ceiling(n));
            }
            assert!(b.delay_with(n, u64::MAX) <= b.ceiling(n));
        }
        // Not constant: 200 draws are not all equal.
        let draws: std::collections::HashSet<_> = (0..200).map(|_| b.delay(3)).collect();
        assert!(draws.len() > 1);
    }

    #[test]
    fn budget_allows_the_floor_then_twenty_percent() {
        let t = Instant::now();
        let budget = RetryBudget::new(BudgetConfig {
            window: Duration::from_secs(10),
            ratio: 0.2,
            min_per_sec: 1,
        });
        // Floor: 10 retries per 10 s window with no traffic at all.
        for _ in 0..10 {
            assert!(budget.try_withdraw_at(t));
        }
        assert!(!budget.try_withdraw_at(t));
        // 100 requests → 20 retries in the window (10 used).
        for _ in 0..100 {
            budget.deposit_at(t);
        }
        for _ in 0..10 {
            assert!(budget.try_withdraw_at(t));
        }
        assert!(!budget.try_withdraw_at(t));
        // The window rolls on.
        assert!(budget.try_withdraw_at(t + Duration::from_secs(11)));
    }
}

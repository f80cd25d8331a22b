//! A circuit breaker for one upstream instance.
//!
//! - **Closed**: requests pass; outcomes are counted in a rolling window
//!   (default 10 s). Once the window holds at least `min_requests` (5) and
//!   at least `failure_rate` % (50) of them failed, it opens.
//! - **Open**: requests are refused at once for `open_for` (1 s).
//! - **Half-open**: up to `half_open` (3) trial requests are let through at
//!   once; the first success closes it, the first failure reopens it. A
//!   trial that never reports (its caller went away) frees its slot after
//!   another `open_for`.
//!
//! Why so short an open period and a single success: a breaker exists to
//! stop hammering an instance that is failing, not to keep traffic away
//! from one that has recovered. After a database outage the instances are
//! healthy again the moment it returns; a 30 s open period (the old
//! default) kept answering 503 for 15–19 s after that. One trial a second
//! per instance costs a failing upstream nothing, and a success is the
//! only evidence needed that requests go through again.
//!
//! What counts as a failure is the caller's decision (the gateway: 5xx,
//! timeouts, connection errors).
//!
//! **Probed use.** A dependency that can be asked whether it is back
//! without a caller's request (Redis answers `PING`) needs no caller to be
//! a trial: its callers ask [`Breaker::is_closed`] instead of
//! [`Breaker::try_acquire`], so while open every call fails at once,
//! however long the outage, and the owner's background probe calls
//! [`Breaker::close`] on its first answer.

use std::{
    sync::Mutex,
    time::{Duration, Instant},
};

use super::window::Window;

/// Breaker thresholds; `MARIMO_BREAKER` (see [`BreakerConfig::parse`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BreakerConfig {
    /// The rolling window outcomes are judged over.
    pub window: Duration,
    /// No judgement before this many requests in the window.
    pub min_requests: u32,
    /// Opens at this failure percentage (1..=100).
    pub failure_rate: u8,
    /// How long it stays open before trials.
    pub open_for: Duration,
    /// Trial requests let through at once in half-open; the first success
    /// closes it.
    pub half_open: u32,
}

impl Default for BreakerConfig {
    fn default() -> Self {
        Self {
            window: Duration::from_secs(10),
            min_requests: 5,
            failure_rate: 50,
            open_for: Duration::from_secs(1),
            half_open: 3,
        }
    }
}

impl BreakerConfig {
    /// `min_requests=5,failure_rate=50,open_ms=1000,half_open=3` (any
    /// subset; also `open_ms`, `window_secs`, `window_ms`). Unset keys keep
    /// their defaults.
    pub fn parse(spec: &str) -> Result<Self, String> {
        let mut cfg = Self::default();
        for part in spec.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            let (key, value) = part
                .split_once('=')
                .ok_or_else(|| format!("'{part}' is not key=value"))?;
            let n: u64 = value
                .trim()
                .parse()
                .map_err(|_| format!("'{value}' is not a number (in '{part}')"))?;
            let positive = |n: u64| {
                if n == 0 {
                    Err(format!("{} must be positive", key.trim()))
                } else {
                    Ok(n)
                }
            };
            match key.trim() {
                "min_requests" => {
                    cfg.min_requests = u32::try_from(positive(n)?).unwrap_or(u32::MAX)
                }
                "failure_rate" if (1..=100).contains(&n) => cfg.failure_rate = n as u8,
                "failure_rate" => return Err("failure_rate must be 1..=100".into()),
                "open_secs" => cfg.open_for = Duration::from_secs(positive(n)?),
                "open_ms" => cfg.open_for = Duration::from_millis(positive(n)?),
                "window_secs" => cfg.window = Duration::from_secs(positive(n)?),
                "window_ms" => cfg.window = Duration::from_millis(positive(n)?),
                "half_open" => cfg.half_open = u32::try_from(positive(n)?).unwrap_or(u32::MAX),
                other => return Err(format!("unknown key '{other}'")),
            }
        }
        Ok(cfg)
    }
}

/// The state, as exported in `circuit_breaker_state` (0, 1, 2).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BreakerState {
    Closed = 0,
    Open = 1,
    HalfOpen = 2,
}

impl BreakerState {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Closed => "closed",
            Self::Open => "open",
            Self::HalfOpen => "half_open",
        }
    }
    pub fn gauge(self) -> f64 {
        f64::from(self as u8)
    }
}

#[derive(Debug)]
enum Phase {
    Closed,
    Open { until: Instant },
    HalfOpen { since: Instant, admitted: u32 },
}

#[derive(Debug)]
struct Inner {
    phase: Phase,
    /// (requests, failures) while closed.
    window: Window,
}

/// One instance's breaker. Cheap to call; one short mutex per call.
#[derive(Debug)]
pub struct Breaker {
    cfg: BreakerConfig,
    inner: Mutex<Inner>,
}

impl Breaker {
    pub fn new(cfg: BreakerConfig) -> Self {
        Self::new_at(cfg, Instant::now())
    }

    pub fn new_at(cfg: BreakerConfig, now: Instant) -> Self {
        Self {
            cfg,
            inner: Mutex::new(Inner {
                phase: Phase::Closed,
                window: Window::new(cfg.window, now),
            }),
        }
    }

    pub fn config(&self) -> &BreakerConfig {
        &self.cfg
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// The state now (an elapsed open period reads as half-open).
    pub fn state(&self) -> BreakerState {
        self.state_at(Instant::now())
    }

    pub fn state_at(&self, now: Instant) -> BreakerState {
        match self.lock().phase {
            Phase::Closed => BreakerState::Closed,
            Phase::Open { until } if now < until => BreakerState::Open,
            Phase::Open { .. } | Phase::HalfOpen { .. } => BreakerState::HalfOpen,
        }
    }

    /// Whether a request may go now. In half-open this admits a trial, so
    /// call it only for a request that will be sent and then recorded.
    pub fn try_acquire(&self) -> bool {
        self.try_acquire_at(Instant::now())
    }

    pub fn try_acquire_at(&self, now: Instant) -> bool {
        let mut guard = self.lock();
        let inner = &mut *guard;
        let half_open = self.cfg.half_open;
        let open_for = self.cfg.open_for;
        match &mut inner.phase {
            Phase::Closed => true,
            Phase::Open { until } if now < *until => false,
            Phase::Open { .. } => {
                inner.phase = Phase::HalfOpen {
                    since: now,
                    admitted: 1,
                };
                true
            }
            Phase::HalfOpen { since, admitted } => {
                if *admitted >= half_open && now.saturating_duration_since(*since) >= open_for {
                    // Trials that never reported: let new ones try.
                    *admitted = 0;
                    *since = now;
                }
                if *admitted < half_open {
                    *admitted += 1;
                    true
                } else {
                    false
                }
            }
        }
    }

    /// Whether calls may go without being a trial: closed only. For probed
    /// use (see the module docs): open and half-open both refuse, and no
    /// call is ever admitted as a trial.
    pub fn is_closed(&self) -> bool {
        matches!(self.lock().phase, Phase::Closed)
    }

    /// Closes the breaker on evidence from outside the calls (a probe that
    /// got an answer); a fresh window starts.
    pub fn close(&self) {
        let mut inner = self.lock();
        inner.phase = Phase::Closed;
        inner.window.clear();
    }

    /// How long until an open breaker lets a trial through.
    pub fn retry_in(&self) -> Duration {
        self.retry_in_at(Instant::now())
    }

    pub fn retry_in_at(&self, now: Instant) -> Duration {
        match self.lock().phase {
            Phase::Open { until } => until.saturating_duration_since(now),
            _ => Duration::ZERO,
        }
    }

    pub fn record_success(&self) {
        self.record_at(Instant::now(), true);
    }

    pub fn record_failure(&self) {
        self.record_at(Instant::now(), false);
    }

    /// Records the outcome of a request that [`Self::try_acquire`] let through.
    pub fn record_at(&self, now: Instant, success: bool) {
        let mut guard = self.lock();
        let inner = &mut *guard;
        let cfg = self.cfg;
        match &mut inner.phase {
            Phase::Closed => {
                inner.window.add(now, 1, u64::from(!success));
                let (total, failed) = inner.window.sum(now);
                if total >= u64::from(cfg.min_requests)
                    && failed * 100 >= total * u64::from(cfg.failure_rate)
                {
                    inner.phase = Phase::Open {
                        until: now + cfg.open_for,
                    };
                    inner.window.clear();
                }
            }
            // A late answer from before it opened changes nothing.
            Phase::Open { .. } => {}
            Phase::HalfOpen { .. } => {
                if success {
                    // One answer is the evidence: the instance serves again.
                    inner.phase = Phase::Closed;
                    inner.window.clear();
                } else {
                    inner.phase = Phase::Open {
                        until: now + cfg.open_for,
                    };
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg() -> BreakerConfig {
        BreakerConfig::default()
    }

    #[test]
    fn parses_the_spec() {
        assert_eq!(BreakerConfig::parse("").unwrap(), cfg());
        let c = BreakerConfig::parse("min_requests=7, failure_rate=25,open_ms=200,half_open=1")
            .unwrap();
        assert_eq!(c.min_requests, 7);
        assert_eq!(c.failure_rate, 25);
        assert_eq!(c.open_for, Duration::from_millis(200));
        assert_eq!(c.half_open, 1);
        for bad in [
            "x",
            "min_requests=0",
            "failure_rate=101",
            "nope=1",
            "open_secs=a",
        ] {
            assert!(BreakerConfig::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn no_judgement_below_min_requests() {
        let t = Instant::now();
        let b = Breaker::new_at(cfg(), t);
        for _ in 0..4 {
            assert!(b.try_acquire_at(t));
            b.record_at(t, false);
        }
        assert_eq!(b.state_at(t), BreakerState::Closed);
        b.record_at(t, false);
        assert_eq!(b.state_at(t), BreakerState::Open);
        assert!(!b.try_acquire_at(t));
    }

    #[test]
    fn opens_at_the_failure_rate_only() {
        let t = Instant::now();
        let b = Breaker::new_at(cfg(), t);
        // 3 of 7 failed: 43 % < 50 %.
        for ok in [true, true, true, true, false, false, false] {
            b.record_at(t, ok);
        }
        assert_eq!(b.state_at(t), BreakerState::Closed);
        b.record_at(t, false); // 4 of 8 = 50 %
        assert_eq!(b.state_at(t), BreakerState::Open);
    }

    #[test]
    fn old_outcomes_leave_the_window() {
        let t = Instant::now();
        let b = Breaker::new_at(cfg(), t);
        for _ in 0..4 {
            b.record_at(t, false);
        }
        let later = t + Duration::from_secs(11);
        b.record_at(later, false);
        assert_eq!(b.state_at(later), BreakerState::Closed);
    }

    #[test]
    fn half_open_trials_close_on_the_first_success_or_reopen() {
        let t = Instant::now();
        let b = Breaker::new_at(cfg(), t);
        for _ in 0..5 {
            b.record_at(t, false);
        }
        let open_for = cfg().open_for;
        let t1 = t + open_for - Duration::from_millis(1);
        assert!(!b.try_acquire_at(t1));
        let t2 = t + open_for;
        assert_eq!(b.state_at(t2), BreakerState::HalfOpen);
        // Three trials at once, no more.
        assert!(b.try_acquire_at(t2));
        assert!(b.try_acquire_at(t2));
        assert!(b.try_acquire_at(t2));
        assert!(!b.try_acquire_at(t2));
        // The first answer is a failure: open again for a full period.
        b.record_at(t2, false);
        assert_eq!(b.state_at(t2), BreakerState::Open);
        // A trial of the earlier round answering late changes nothing.
        b.record_at(t2, true);
        assert_eq!(b.state_at(t2), BreakerState::Open);
        assert!(!b.try_acquire_at(t2 + open_for - Duration::from_millis(1)));

        // Next round: the first success closes it.
        let t3 = t2 + open_for;
        assert!(b.try_acquire_at(t3));
        assert!(b.try_acquire_at(t3));
        b.record_at(t3, true);
        assert_eq!(b.state_at(t3), BreakerState::Closed);
        assert!(b.try_acquire_at(t3));
        // The other trial failing afterwards is one failure in a fresh
        // window, not a reason to open.
        b.record_at(t3, false);
        assert_eq!(b.state_at(t3), BreakerState::Closed);
    }

    #[test]
    fn the_default_breaker_half_opens_within_two_seconds() {
        // The recovery target: after the upstream is back, at most 2 s
        // until a trial, and that trial's success closes the breaker.
        let t = Instant::now();
        let b = Breaker::new_at(cfg(), t);
        for _ in 0..cfg().min_requests {
            b.record_at(t, false);
        }
        assert_eq!(b.state_at(t), BreakerState::Open);
        let two_secs = t + Duration::from_secs(2);
        assert!(cfg().open_for <= Duration::from_secs(2));
        assert!(b.try_acquire_at(two_secs));
        b.record_at(two_secs, true);
        assert_eq!(b.state_at(two_secs), BreakerState::Closed);
    }

    #[test]
    fn probed_use_refuses_every_call_until_closed_from_outside() {
        let t = Instant::now();
        let b = Breaker::new_at(cfg(), t);
        assert!(b.is_closed());
        for _ in 0..cfg().min_requests {
            b.record_at(t, false);
        }
        assert!(!b.is_closed());
        // Long after the open period a trial would be due, callers that
        // only ask `is_closed` are still refused: none becomes the trial.
        let later = t + cfg().open_for * 10;
        assert_eq!(b.state_at(later), BreakerState::HalfOpen);
        assert!(!b.is_closed());
        // A late answer of a call made before it opened changes nothing.
        b.record_at(later, true);
        assert!(!b.is_closed());
        b.close();
        assert!(b.is_closed());
        assert_eq!(b.state_at(later), BreakerState::Closed);
        // A fresh window: four failures after closing do not open it.
        for _ in 0..cfg().min_requests - 1 {
            b.record_at(later, false);
        }
        assert!(b.is_closed());
    }

    #[test]
    fn lost_trials_free_their_slots() {
        let t = Instant::now();
        let c = BreakerConfig {
            half_open: 1,
            ..cfg()
        };
        let b = Breaker::new_at(c, t);
        for _ in 0..5 {
            b.record_at(t, false);
        }
        let t2 = t + c.open_for;
        assert!(b.try_acquire_at(t2));
        assert!(!b.try_acquire_at(t2));
        assert!(b.try_acquire_at(t2 + c.open_for));
    }
}

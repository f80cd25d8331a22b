//! The worker's rules, without I/O: the events it understands
//! ([`event`]), how each is audited ([`audit`]), which mails are sent and
//! how they read ([`mail`]), who is notified ([`notify`]), webhook
//! validation and signatures ([`webhook`]) and where they may go
//! ([`destination`]), and the retry schedule
//! ([`Backoff`]).

pub mod audit;
pub mod destination;
pub mod event;
pub mod mail;
pub mod notify;
pub mod webhook;

use std::time::Duration;

/// Exponential backoff: after the `n`-th failed attempt the next one waits
/// `base × factor^(n-1)`, never more than `cap`; after `max_attempts`
/// attempts the item is given up.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Backoff {
    pub base: Duration,
    pub factor: u32,
    pub cap: Duration,
    pub max_attempts: u32,
}

/// What to do after a failed attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Retry {
    After(Duration),
    GiveUp,
}

impl Backoff {
    /// After `attempts` attempts (≥ 1) of which the last failed.
    pub fn after_failure(&self, attempts: u32) -> Retry {
        if attempts >= self.max_attempts {
            return Retry::GiveUp;
        }
        Retry::After(self.delay(attempts))
    }

    /// The wait after the `attempts`-th failure (saturating, capped).
    pub fn delay(&self, attempts: u32) -> Duration {
        let exp = attempts.saturating_sub(1);
        let mut d = self.base;
        for _ in 0..exp {
            d = d.saturating_mul(self.factor.max(1));
            if d >= self.cap {
                return self.cap;
            }
        }
        d.min(self.cap)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const WEBHOOKS: Backoff = Backoff {
        base: Duration::from_secs(1),
        factor: 2,
        cap: Duration::from_secs(600),
        max_attempts: 8,
    };

    #[test]
    fn delays_double_up_to_the_cap() {
        let d: Vec<u64> = (1..=7).map(|n| WEBHOOKS.delay(n).as_secs()).collect();
        assert_eq!(d, vec![1, 2, 4, 8, 16, 32, 64]);
        let b = Backoff {
            cap: Duration::from_secs(10),
            ..WEBHOOKS
        };
        assert_eq!(b.delay(5), Duration::from_secs(10));
        assert_eq!(b.delay(u32::MAX), Duration::from_secs(10));
    }

    #[test]
    fn gives_up_after_the_last_attempt() {
        assert_eq!(
            WEBHOOKS.after_failure(1),
            Retry::After(Duration::from_secs(1))
        );
        assert_eq!(
            WEBHOOKS.after_failure(7),
            Retry::After(Duration::from_secs(64))
        );
        assert_eq!(WEBHOOKS.after_failure(8), Retry::GiveUp);
        assert_eq!(WEBHOOKS.after_failure(9), Retry::GiveUp);
    }
}

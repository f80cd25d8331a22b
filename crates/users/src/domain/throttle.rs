//! The brute-force delay: how long sign-in stays closed after failures
//! (never a permanent lockout), counted per [`ThrottleKey`]:
//!
//! - per **account and client address**: consecutive failures for one
//!   email from one address delay that address's attempts on it, so a
//!   stranger guessing an admin's password slows down only themselves and
//!   never locks the admin out (who signs in from elsewhere);
//! - per **client address**, across accounts: a budget of failures, so one
//!   address cannot spray guesses over many accounts either. A success
//!   gives back only its own attempt, never the budget.
//!
//! The gateway's per-address rate limit on `/login` (429) comes first.

use std::time::Duration;

use time::OffsetDateTime;

/// Consecutive failures of one account from one address allowed before
/// that address's attempts on it are delayed.
pub const FREE_FAILURES: i64 = 5;
/// Failures from one address, across accounts, allowed (within a day)
/// before every attempt from it is delayed.
pub const FREE_FAILURES_PER_ADDRESS: i64 = 30;
// An address's budget must exceed one account's allowance, or a user
// mistyping their password would close the door for everyone behind
// their address.
const _: () = assert!(FREE_FAILURES_PER_ADDRESS > FREE_FAILURES);
/// The longest delay; there is never a permanent lockout.
pub const MAX_DELAY: Duration = Duration::from_secs(15 * 60);
/// Failures older than this are forgotten (and their rows may be pruned).
pub const FORGET_AFTER: Duration = Duration::from_secs(24 * 60 * 60);

/// What a delay counts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ThrottleKey {
    /// One (normalised) email tried from one client address.
    AccountFrom { email: String, address: String },
    /// One client address, whatever the accounts.
    Address(String),
}

impl ThrottleKey {
    /// The keys of a sign-in attempt on `email` from `address` (unknown
    /// when the request carried none): the address's, the account's.
    pub fn of_attempt(email: &str, address: Option<&str>) -> (Self, Self) {
        let address = address.unwrap_or("unknown").to_owned();
        (
            Self::Address(address.clone()),
            Self::AccountFrom {
                email: email.to_owned(),
                address,
            },
        )
    }

    /// The stored key. An address never contains `|`, so the two kinds and
    /// their parts cannot collide.
    pub fn stored(&self) -> String {
        match self {
            Self::AccountFrom { email, address } => format!("account|{address}|{email}"),
            Self::Address(address) => format!("address|{address}"),
        }
    }

    /// Failures allowed before the delay starts.
    pub fn free_failures(&self) -> i64 {
        match self {
            Self::AccountFrom { .. } => FREE_FAILURES,
            Self::Address(_) => FREE_FAILURES_PER_ADDRESS,
        }
    }
}

/// How long sign-in stays closed after `failures` failures when `free` are
/// allowed: nothing before, then 1 s, 2 s, 4 s, … capped at 15 minutes.
pub fn delay_after(failures: i64, free: i64) -> Duration {
    if failures < free {
        return Duration::ZERO;
    }
    // 2^10 s already exceeds the cap; clamping the shift avoids overflow.
    let doublings = (failures - free).min(10) as u32;
    Duration::from_secs(1u64 << doublings).min(MAX_DELAY)
}

/// The stored throttle state of one (normalised) email.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ThrottleState {
    pub failures: i64,
    pub blocked_until: Option<OffsetDateTime>,
    pub last_attempt_at: OffsetDateTime,
}

/// Whether a sign-in attempt may be checked at all.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Admission {
    /// Closed: answer 429 without checking the password.
    Blocked { retry_after_secs: u64 },
    /// Check the password. The attempt is counted as a failure up front
    /// (`failures`, `blocked_until` are the state to store *before*
    /// checking), so concurrent attempts cannot slip past the delay; a
    /// success clears the state.
    Admit {
        failures: i64,
        blocked_until: Option<OffsetDateTime>,
    },
}

/// Decides on an attempt at `now` given the stored state, `free` failures
/// allowed.
pub fn admit(state: Option<&ThrottleState>, now: OffsetDateTime, free: i64) -> Admission {
    let live = state.filter(|s| now - s.last_attempt_at < FORGET_AFTER);
    if let Some(until) = live.and_then(|s| s.blocked_until)
        && until > now
    {
        return Admission::Blocked {
            retry_after_secs: seconds_until(until, now),
        };
    }
    let failures = live.map_or(0, |s| s.failures) + 1;
    Admission::Admit {
        failures,
        blocked_until: blocked_until(failures, now, free),
    }
}

/// When sign-in reopens after `failures` failures, the last one at `at`.
pub fn blocked_until(failures: i64, at: OffsetDateTime, free: i64) -> Option<OffsetDateTime> {
    let delay = delay_after(failures, free);
    (!delay.is_zero()).then(|| at + delay)
}

/// Whole seconds from `now` until `until`, rounded up, at least 1.
pub fn seconds_until(until: OffsetDateTime, now: OffsetDateTime) -> u64 {
    let secs = (until - now).as_seconds_f64().ceil();
    if secs.is_finite() && secs >= 1.0 {
        secs as u64
    } else {
        1
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delay_schedule_grows_and_is_capped() {
        for n in 0..5 {
            assert_eq!(delay_after(n, FREE_FAILURES), Duration::ZERO, "{n}");
        }
        let secs: Vec<u64> = (5..=16)
            .map(|n| delay_after(n, FREE_FAILURES).as_secs())
            .collect();
        assert_eq!(secs, [1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 900, 900]);
        assert_eq!(delay_after(i64::MAX, FREE_FAILURES), MAX_DELAY);
    }

    fn at(s: &str) -> OffsetDateTime {
        marimo_platform::clock::parse(s).unwrap()
    }

    #[test]
    fn first_attempts_are_admitted_and_counted() {
        let now = at("2026-01-01T00:00:00Z");
        assert_eq!(
            admit(None, now, FREE_FAILURES),
            Admission::Admit {
                failures: 1,
                blocked_until: None
            }
        );
        let four = ThrottleState {
            failures: 4,
            blocked_until: None,
            last_attempt_at: now,
        };
        // The fifth attempt closes the door for a second while it runs.
        assert_eq!(
            admit(Some(&four), now, FREE_FAILURES),
            Admission::Admit {
                failures: 5,
                blocked_until: Some(at("2026-01-01T00:00:01Z"))
            }
        );
    }

    #[test]
    fn attempts_inside_the_delay_are_blocked_with_retry_after() {
        let now = at("2026-01-01T00:00:00Z");
        let state = ThrottleState {
            failures: 7,
            blocked_until: Some(at("2026-01-01T00:00:03.2Z")),
            last_attempt_at: now,
        };
        assert_eq!(
            admit(Some(&state), now, FREE_FAILURES),
            Admission::Blocked {
                retry_after_secs: 4
            }
        );
        // Once the delay has passed, one attempt is admitted and counted.
        let later = at("2026-01-01T00:00:04Z");
        assert_eq!(
            admit(Some(&state), later, FREE_FAILURES),
            Admission::Admit {
                failures: 8,
                blocked_until: Some(at("2026-01-01T00:00:12Z"))
            }
        );
    }

    #[test]
    fn old_failures_are_forgotten() {
        let then = at("2026-01-01T00:00:00Z");
        let state = ThrottleState {
            failures: 30,
            blocked_until: Some(at("2026-01-01T00:15:00Z")),
            last_attempt_at: then,
        };
        let next_day = at("2026-01-02T00:00:01Z");
        assert_eq!(
            admit(Some(&state), next_day, FREE_FAILURES),
            Admission::Admit {
                failures: 1,
                blocked_until: None
            }
        );
    }

    #[test]
    fn an_account_is_throttled_per_address_and_an_address_has_a_budget() {
        let (address, account) = ThrottleKey::of_attempt("admin@x.test", Some("203.0.113.9"));
        let (_, from_elsewhere) = ThrottleKey::of_attempt("admin@x.test", Some("198.51.100.7"));
        assert_ne!(account.stored(), from_elsewhere.stored());
        assert_eq!(address.stored(), "address|203.0.113.9");
        assert_eq!(account.free_failures(), FREE_FAILURES);
        assert_eq!(address.free_failures(), FREE_FAILURES_PER_ADDRESS);
        let (unknown, _) = ThrottleKey::of_attempt("a@x.test", None);
        assert_eq!(unknown.stored(), "address|unknown");
        assert_eq!(
            delay_after(FREE_FAILURES_PER_ADDRESS - 1, FREE_FAILURES_PER_ADDRESS),
            Duration::ZERO
        );
        assert_eq!(
            delay_after(FREE_FAILURES_PER_ADDRESS, FREE_FAILURES_PER_ADDRESS),
            Duration::from_secs(1)
        );
    }

    #[test]
    fn seconds_until_rounds_up_and_is_at_least_one() {
        let now = at("2026-01-01T00:00:00Z");
        assert_eq!(seconds_until(at("2026-01-01T00:00:00.001Z"), now), 1);
        assert_eq!(seconds_until(at("2026-01-01T00:00:02Z"), now), 2);
        assert_eq!(seconds_until(at("2026-01-01T00:00:02.5Z"), now), 3);
        assert_eq!(seconds_until(now, now), 1);
    }
}

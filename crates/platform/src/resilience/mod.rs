//! Resilience building blocks for any caller of another service: a
//! per-instance [`breaker::Breaker`], exponential [`retry::Backoff`] with
//! full jitter and a [`retry::RetryBudget`] that keeps retries from
//! multiplying an outage. Pure state machines over [`std::time::Instant`],
//! so they are unit-tested without sleeping.

pub mod breaker;
pub mod retry;
mod window;

pub use breaker::{Breaker, BreakerConfig, BreakerState};
pub use retry::{Backoff, RetryBudget};

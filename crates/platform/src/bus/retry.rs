//! How a consumer retries a failed handler call — one policy for both
//! brokers, by the class of the [`HandlerError`]:
//!
//! - **Transient** (the database or a peer away, a deadlock, a busy
//!   file): retried for as long as it lasts, with capped exponential
//!   backoff and full jitter ([`BACKOFF`]: 100 ms doubling to 5 s). The
//!   consumer is *paused* meanwhile: one handler call at a time probes
//!   (after each backoff), every other delivery of the queue waits for the
//!   probe to succeed instead of failing on its own. On RabbitMQ the
//!   waiting deliveries stay unacked within the prefetch window, so the
//!   broker sends nothing more; on the embedded broker the publisher's
//!   relay waits. Never dead-lettered.
//! - **Deferred** (a precondition not met yet, a panicking handler):
//!   retried with the same backoff at most [`DEFERRED_ATTEMPTS`] times,
//!   then dead-lettered.
//! - **Permanent**: dead-lettered at once.
//!
//! Logs: one warning when a queue pauses, one info when it resumes (with
//! how long it was paused); single attempts only at debug level. Metrics
//! (of the consuming service): `consumer_paused{service,queue}` (1 while
//! paused) and `events_dead_lettered_total{service,queue,reason}`.
//!
//! A consumer without a database of its own on the embedded broker
//! (`subscribe_stateless`, a cache invalidation) retries transient errors
//! like deferred ones: pausing it would hold up the publisher's whole
//! outbox for an effect that is rebuilt anyway.

use std::{
    any::Any,
    time::{Duration, Instant},
};

use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

use super::{Envelope, Handler, HandlerError, Subscription};
use crate::{db::Db, resilience::retry::Backoff, telemetry::Metrics};

/// Handler calls a deferred event gets before it is dead-lettered (about
/// 6 s of backoff on average, at most about 11 s).
pub const DEFERRED_ATTEMPTS: u32 = 8;

/// The wait before retry `n`: full jitter under 100 ms · 2ⁿ, at most 5 s.
pub const BACKOFF: Backoff = Backoff {
    base: Duration::from_millis(100),
    factor: 2,
    cap: Duration::from_secs(5),
};

/// Why an event was given up on: the `reason` of a dead letter and of
/// `events_dead_lettered_total`.
pub mod reason {
    /// The handler said it can never succeed.
    pub const PERMANENT: &str = "permanent";
    /// A deferred (or, without pausing, transient) failure outlasted its
    /// attempts.
    pub const DEFERRED: &str = "deferred";
    /// The message is not an envelope at all.
    pub const UNPARSEABLE: &str = "unparseable";
}

/// What became of a delivery.
#[derive(Debug)]
pub(crate) enum Outcome {
    Applied,
    /// Dead-letter it (see [`reason`]).
    GiveUp {
        reason: &'static str,
        error: String,
        attempts: u32,
        /// When its first attempt failed (RFC 3339).
        first_failed_at: String,
    },
    /// Stopped before an outcome: the delivery stays unsettled and comes
    /// again.
    Stopped,
}

#[derive(Debug, Default, Clone, Copy)]
struct Gate {
    /// Since when the queue is paused; `None` while it runs.
    paused_since: Option<Instant>,
    /// Whether a handler call holds the probe.
    probing: bool,
    /// Probes failed in this pause (the backoff exponent).
    probes: u32,
}

/// One subscription's retry state, shared by its handler calls (and, on
/// RabbitMQ, kept across reconnects).
pub(crate) struct Retrier {
    queue: String,
    metrics: Option<Metrics>,
    /// False: transient failures are bounded like deferred ones and never
    /// pause (see the module docs).
    pause_on_transient: bool,
    gate: watch::Sender<Gate>,
}

/// A handler call's place at the gate; gives the probe back when dropped
/// while holding it (a stopped or cancelled call).
struct Turn<'a> {
    retrier: &'a Retrier,
    probing: bool,
}

impl Drop for Turn<'_> {
    fn drop(&mut self) {
        if self.probing {
            self.retrier.gate.send_modify(|g| g.probing = false);
        }
    }
}

impl Retrier {
    /// The state for `sub`; `pause_on_transient` as the module docs say.
    pub(crate) fn new(sub: &Subscription, pause_on_transient: bool) -> Self {
        let metrics = sub.db.as_ref().and_then(Db::telemetry).map(|(m, _)| m);
        let retrier = Self {
            queue: sub.queue.clone(),
            metrics,
            pause_on_transient,
            gate: watch::Sender::new(Gate::default()),
        };
        // Exported from the start, so an alert can tell 0 from absent.
        retrier.set_paused_gauge(false);
        retrier
    }

    /// Calls `handler` on `env` until it applies, is given up on, or
    /// `stop` is cancelled (see the module docs).
    pub(crate) async fn handle(
        &self,
        handler: &Handler,
        env: &Envelope,
        stop: &CancellationToken,
    ) -> Outcome {
        let mut turn = tokio::select! {
            () = stop.cancelled() => return Outcome::Stopped,
            turn = self.admit() => turn,
        };
        let mut attempts = 0;
        let mut bounded_failures = 0;
        let mut first_failed_at = None;
        loop {
            let result = call(handler, env).await;
            attempts += 1;
            let error = match result {
                Ok(()) => {
                    self.answered(&mut turn);
                    return Outcome::Applied;
                }
                Err(e) => e,
            };
            let first_failed_at = first_failed_at
                .get_or_insert_with(crate::clock::now_text)
                .clone();
            let wait = match error {
                HandlerError::Transient(e) if self.pause_on_transient => {
                    match self.failed_transiently(&mut turn, &e) {
                        Some(delay) => delay,
                        // Someone else probes: wait for the queue to run.
                        None => {
                            drop(turn);
                            turn = tokio::select! {
                                () = stop.cancelled() => return Outcome::Stopped,
                                turn = self.admit() => turn,
                            };
                            continue;
                        }
                    }
                }
                HandlerError::Permanent(e) => {
                    self.answered(&mut turn);
                    return Outcome::GiveUp {
                        reason: reason::PERMANENT,
                        error: e,
                        attempts,
                        first_failed_at,
                    };
                }
                HandlerError::Deferred(e) | HandlerError::Transient(e) => {
                    self.answered(&mut turn);
                    bounded_failures += 1;
                    if bounded_failures >= DEFERRED_ATTEMPTS {
                        return Outcome::GiveUp {
                            reason: reason::DEFERRED,
                            error: e,
                            attempts,
                            first_failed_at,
                        };
                    }
                    tracing::debug!(queue = %self.queue, event = %env.id, attempt = attempts, error = %e, "event deferred; retrying");
                    BACKOFF.delay(bounded_failures - 1)
                }
            };
            tokio::select! {
                () = stop.cancelled() => return Outcome::Stopped,
                () = tokio::time::sleep(wait) => {}
            }
            if !turn.probing {
                drop(turn);
                turn = tokio::select! {
                    () = stop.cancelled() => return Outcome::Stopped,
                    turn = self.admit() => turn,
                };
            }
        }
    }

    /// Lets a call in: at once while the queue runs; while it is paused,
    /// as the probe when nobody probes, else once it runs again.
    async fn admit(&self) -> Turn<'_> {
        let mut rx = self.gate.subscribe();
        loop {
            let mut admitted = None;
            self.gate.send_if_modified(|g| match g.paused_since {
                None => {
                    admitted = Some(false);
                    false
                }
                Some(_) if !g.probing => {
                    g.probing = true;
                    admitted = Some(true);
                    true
                }
                Some(_) => false,
            });
            if let Some(probing) = admitted {
                return Turn {
                    retrier: self,
                    probing,
                };
            }
            if rx
                .wait_for(|g| g.paused_since.is_none() || !g.probing)
                .await
                .is_err()
            {
                // Unreachable: the sender lives in `self`.
                return Turn {
                    retrier: self,
                    probing: false,
                };
            }
        }
    }

    /// A transient failure: pauses the queue if it ran. Returns the
    /// backoff before this call probes again, or `None` when another call
    /// holds the probe.
    fn failed_transiently(&self, turn: &mut Turn<'_>, error: &str) -> Option<Duration> {
        let mut paused_now = false;
        let mut delay = None;
        self.gate.send_modify(|g| {
            if g.paused_since.is_none() {
                *g = Gate {
                    paused_since: Some(Instant::now()),
                    probing: true,
                    probes: 0,
                };
                turn.probing = true;
                paused_now = true;
            } else if !turn.probing && !g.probing {
                g.probing = true;
                turn.probing = true;
            }
            if turn.probing {
                delay = Some(BACKOFF.delay(g.probes));
                g.probes = g.probes.saturating_add(1);
            }
        });
        if paused_now {
            tracing::warn!(queue = %self.queue, error, "consumer paused: a dependency is failing; retrying until it recovers");
            self.set_paused_gauge(true);
        } else {
            tracing::debug!(queue = %self.queue, error, "consumer still paused");
        }
        delay
    }

    /// The handler got an answer that is not a transient failure: what it
    /// depends on works, so a paused queue runs again.
    fn answered(&self, turn: &mut Turn<'_>) {
        turn.probing = false;
        let mut paused_for = None;
        self.gate.send_if_modified(|g| match g.paused_since {
            Some(since) => {
                paused_for = Some(since.elapsed());
                *g = Gate::default();
                true
            }
            None => false,
        });
        if let Some(d) = paused_for {
            tracing::info!(queue = %self.queue, paused_ms = d.as_millis() as u64, "consumer resumed");
            self.set_paused_gauge(false);
        }
    }

    /// Whether the queue is paused now.
    #[cfg(test)]
    fn is_paused(&self) -> bool {
        self.gate.borrow().paused_since.is_some()
    }

    fn set_paused_gauge(&self, paused: bool) {
        if let Some(m) = &self.metrics {
            m.record(|| {
                metrics::gauge!("consumer_paused", "service" => m.service(), "queue" => self.queue.clone())
                    .set(if paused { 1.0 } else { 0.0 });
            });
        }
    }

    /// Counts a dead letter that was stored.
    pub(crate) fn dead_lettered(&self, reason: &'static str) {
        if let Some(m) = &self.metrics {
            m.record(|| {
                metrics::counter!("events_dead_lettered_total", "service" => m.service(), "queue" => self.queue.clone(), "reason" => reason)
                    .increment(1);
            });
        }
    }
}

/// Calls the handler in a task of its own, so that a panic is an error of
/// this event (deferred: a bug may depend on the state, and a bounded
/// number of tries keeps the queue moving) rather than a lost relay or
/// consumer. Dropping the call aborts the task (its transaction rolls
/// back).
async fn call(handler: &Handler, env: &Envelope) -> Result<(), HandlerError> {
    struct AbortOnDrop(tokio::task::AbortHandle);
    impl Drop for AbortOnDrop {
        fn drop(&mut self) {
            self.0.abort();
        }
    }
    let task = tokio::spawn(handler(env.clone()));
    let _abort = AbortOnDrop(task.abort_handle());
    match task.await {
        Ok(result) => result,
        Err(e) if e.is_panic() => Err(HandlerError::Deferred(format!(
            "handler panicked: {}",
            panic_text(e.into_panic().as_ref())
        ))),
        Err(e) => Err(HandlerError::Transient(format!("handler cancelled: {e}"))),
    }
}

fn panic_text(payload: &(dyn Any + Send)) -> &str {
    payload
        .downcast_ref::<&str>()
        .copied()
        .or_else(|| payload.downcast_ref::<String>().map(String::as_str))
        .unwrap_or("(no message)")
}

#[cfg(test)]
mod tests {
    use std::sync::{
        Arc,
        atomic::{AtomicU32, Ordering},
    };

    use serde_json::json;

    use super::*;
    use crate::bus::QueueKind;

    fn sub(handler: Handler) -> Subscription {
        Subscription {
            queue: "q".into(),
            bindings: vec!["#".into()],
            handler,
            db: None,
            kind: QueueKind::Shared,
        }
    }

    fn env() -> Envelope {
        Envelope::new("test", "test.thing.done", json!({}))
    }

    /// A handler that fails with `fail(n)` on call n (0-based) until it
    /// returns `None`.
    fn scripted(
        fail: impl Fn(u32) -> Option<HandlerError> + Send + Sync + 'static,
    ) -> (Handler, Arc<AtomicU32>) {
        let calls = Arc::new(AtomicU32::new(0));
        let seen = calls.clone();
        let fail = Arc::new(fail);
        let handler: Handler = Arc::new(move |_env| {
            let n = seen.fetch_add(1, Ordering::SeqCst);
            let fail = fail.clone();
            Box::pin(async move { fail(n).map_or(Ok(()), Err) })
        });
        (handler, calls)
    }

    #[tokio::test(start_paused = true)]
    async fn transient_failures_are_retried_past_any_limit_and_pause_the_queue() {
        // Far more failures than any attempt limit: still applied.
        let (handler, calls) =
            scripted(|n| (n < 40).then(|| HandlerError::Transient("db down".into())));
        let s = sub(handler.clone());
        let r = Arc::new(Retrier::new(&s, true));
        let stop = CancellationToken::new();
        let task = {
            let (r, stop) = (r.clone(), stop.clone());
            tokio::spawn(async move { r.handle(&handler, &env(), &stop).await })
        };
        // Paused while it fails.
        while calls.load(Ordering::SeqCst) < 3 {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        assert!(r.is_paused());
        assert!(matches!(task.await.unwrap(), Outcome::Applied));
        assert_eq!(calls.load(Ordering::SeqCst), 41);
        assert!(!r.is_paused());
    }

    #[tokio::test(start_paused = true)]
    async fn while_paused_only_the_probe_calls_the_handler() {
        let down = Arc::new(std::sync::atomic::AtomicBool::new(true));
        let calls = Arc::new(AtomicU32::new(0));
        let handler: Handler = {
            let (down, calls) = (down.clone(), calls.clone());
            Arc::new(move |_env| {
                calls.fetch_add(1, Ordering::SeqCst);
                let down = down.load(Ordering::SeqCst);
                Box::pin(async move {
                    if down {
                        Err(HandlerError::Transient("db down".into()))
                    } else {
                        Ok(())
                    }
                })
            })
        };
        let r = Arc::new(Retrier::new(&sub(handler.clone()), true));
        let stop = CancellationToken::new();
        // The first delivery pauses the queue.
        let first = {
            let (r, h, stop) = (r.clone(), handler.clone(), stop.clone());
            tokio::spawn(async move { r.handle(&h, &env(), &stop).await })
        };
        while !r.is_paused() {
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
        // Ten more arrive while it is paused: none of them calls.
        let before = calls.load(Ordering::SeqCst);
        let waiting: Vec<_> = (0..10)
            .map(|_| {
                let (r, h, stop) = (r.clone(), handler.clone(), stop.clone());
                tokio::spawn(async move { r.handle(&h, &env(), &stop).await })
            })
            .collect();
        tokio::time::sleep(Duration::from_secs(60)).await;
        let during = calls.load(Ordering::SeqCst) - before;
        // One probe per backoff (at most 5 s apart, at least one per
        // ceiling): a handful in a minute, not 11 × that.
        assert!((1..=60).contains(&during), "{during} calls while paused");
        down.store(false, Ordering::SeqCst);
        assert!(matches!(first.await.unwrap(), Outcome::Applied));
        for w in waiting {
            assert!(matches!(w.await.unwrap(), Outcome::Applied));
        }
        assert!(!r.is_paused());
    }

    #[tokio::test(start_paused = true)]
    async fn deferred_failures_give_up_after_the_limit_and_permanent_at_once() {
        let (handler, calls) = scripted(|_| Some(HandlerError::Deferred("not yet".into())));
        let r = Retrier::new(&sub(handler.clone()), true);
        let stop = CancellationToken::new();
        let Outcome::GiveUp {
            reason, attempts, ..
        } = r.handle(&handler, &env(), &stop).await
        else {
            panic!("a deferred event was not given up on");
        };
        assert_eq!((reason, attempts), (reason::DEFERRED, DEFERRED_ATTEMPTS));
        assert_eq!(calls.load(Ordering::SeqCst), DEFERRED_ATTEMPTS);

        let (handler, calls) = scripted(|_| Some(HandlerError::Permanent("garbage".into())));
        let r = Retrier::new(&sub(handler.clone()), true);
        let Outcome::GiveUp {
            reason,
            attempts,
            error,
            first_failed_at,
        } = r.handle(&handler, &env(), &stop).await
        else {
            panic!("a permanent failure was retried");
        };
        assert_eq!(
            (reason, attempts, error.as_str()),
            (reason::PERMANENT, 1, "garbage")
        );
        assert!(crate::clock::parse(&first_failed_at).is_some());
        assert_eq!(calls.load(Ordering::SeqCst), 1);
    }

    #[tokio::test(start_paused = true)]
    async fn without_pausing_transient_failures_are_bounded() {
        let (handler, _) = scripted(|_| Some(HandlerError::Transient("consul down".into())));
        let r = Retrier::new(&sub(handler.clone()), false);
        let outcome = r.handle(&handler, &env(), &CancellationToken::new()).await;
        assert!(
            matches!(outcome, Outcome::GiveUp { reason: reason::DEFERRED, attempts, .. } if attempts == DEFERRED_ATTEMPTS),
            "{outcome:?}"
        );
        assert!(!r.is_paused());
    }

    #[tokio::test(start_paused = true)]
    async fn a_panicking_handler_is_deferred_and_stop_leaves_the_event_unsettled() {
        let handler: Handler = Arc::new(|_env| Box::pin(async { panic!("boom") }));
        let r = Retrier::new(&sub(handler.clone()), true);
        let outcome = r.handle(&handler, &env(), &CancellationToken::new()).await;
        assert!(
            matches!(&outcome, Outcome::GiveUp { reason: reason::DEFERRED, error, .. } if error.contains("boom")),
            "{outcome:?}"
        );

        let (handler, _) = scripted(|_| Some(HandlerError::Transient("db down".into())));
        let r = Arc::new(Retrier::new(&sub(handler.clone()), true));
        let stop = CancellationToken::new();
        let task = {
            let (r, stop) = (r.clone(), stop.clone());
            tokio::spawn(async move { r.handle(&handler, &env(), &stop).await })
        };
        tokio::time::sleep(Duration::from_secs(10)).await;
        stop.cancel();
        assert!(matches!(task.await.unwrap(), Outcome::Stopped));
        // The probe was given back: a new call may probe at once.
        assert!(!r.gate.borrow().probing);
    }
}

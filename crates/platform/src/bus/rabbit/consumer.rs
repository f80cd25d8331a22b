//! A subscription's consumer on RabbitMQ.
//!
//! Up to [`PREFETCH`] deliveries are unacked at a time and each is handled
//! in its own task, so a slow or failing message does not hold up the ones
//! behind it. A delivery is acked only after the handler returned `Ok`
//! (the handler commits its own transaction through `bus::inbox`).
//!
//! **Retries and dead letters** follow [`crate::bus::retry`]: a transient
//! failure pauses the queue — one delivery probes with backoff, the others
//! wait unacked, and since the prefetch window is full RabbitMQ sends no
//! more — for as long as it lasts; a deferred one is retried a bounded
//! number of times; then, like a permanent error or a body that is not an
//! envelope, the message is dead-lettered: republished to [`DLX`] with
//! routing key `Q` (so it lands in `Q.dlq`) carrying `x-error`,
//! `x-reason`, `x-attempts`, `x-failed-at` (the first failure) and
//! `x-queue` headers, and only after that publish is confirmed is the
//! original acked. If that publish fails while the channel is up, the
//! original is rejected without requeue and RabbitMQ dead-letters it
//! itself through the queue's DLX (`x-death` then says why). A crash at
//! any point leaves the delivery unacked, so it is redelivered; the
//! queue's `x-delivery-limit` ([`super::DELIVERY_LIMIT`]) bounds how often.
//!
//! Consumers are idempotent (`processed_events`), so the rare duplicate —
//! redelivery after a lost ack, or a dead letter published twice — is
//! harmless.

use std::{sync::Arc, time::Duration};

use futures_util::StreamExt;
use lapin::{
    Channel,
    message::Delivery,
    options::{
        BasicAckOptions, BasicCancelOptions, BasicConsumeOptions, BasicPublishOptions,
        BasicQosOptions, BasicRejectOptions,
    },
    types::{AMQPValue, FieldTable, LongString, ShortString},
};
use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;

use super::{DLX, Inner, Live, PREFETCH, RECONNECT_FIRST, RECONNECT_MAX, await_confirm, guard};
use crate::bus::{
    Envelope, Subscription,
    retry::{self, Outcome, Retrier},
};

/// How long a stopping consumer waits for its in-flight handlers.
const DRAIN: Duration = Duration::from_secs(10);
/// Dead-letter headers stay small; the full error is in the logs.
const MAX_ERROR_BYTES: usize = 2048;

/// Consumes `sub.queue` on whatever connection is current, restarting on
/// each new one, until `stop`.
pub(super) async fn consume(inner: Arc<Inner>, sub: Arc<Subscription>, stop: CancellationToken) {
    let mut live_rx = inner.live.subscribe();
    let mut backoff = RECONNECT_FIRST;
    // Outlives each channel: a queue paused on one connection is still
    // paused on the next (and its gauge stays right).
    let retrier = Arc::new(Retrier::new(&sub, true));
    let mut failing = false;
    loop {
        let live = loop {
            let current = live_rx.borrow_and_update().clone();
            if let Some(live) = current
                && live.conn.status().connected()
            {
                break live;
            }
            tokio::select! {
                () = stop.cancelled() => return,
                changed = live_rx.changed() => if changed.is_err() { return },
            }
        };
        match run(&inner, &sub, &retrier, &live, &stop).await {
            Ok(()) => {
                backoff = RECONNECT_FIRST;
                failing = false;
            }
            Err(e) => {
                // Once per streak: the supervisor reports the outage itself.
                if !failing {
                    tracing::warn!(queue = %sub.queue, error = %e, "cannot start consumer; retrying");
                }
                failing = true;
                backoff = (backoff * 2).min(RECONNECT_MAX);
            }
        }
        if stop.is_cancelled() {
            return;
        }
        // The connection may be what failed: let the supervisor look now.
        inner.kick.notify_one();
        tokio::select! {
            () = stop.cancelled() => return,
            () = tokio::time::sleep(backoff) => {}
        }
    }
}

/// One consumer on one channel: returns when the channel or connection
/// ends, the broker cancels the consumer, or on `stop`.
async fn run(
    inner: &Arc<Inner>,
    sub: &Arc<Subscription>,
    retrier: &Arc<Retrier>,
    live: &Arc<Live>,
    stop: &CancellationToken,
) -> Result<(), lapin::Error> {
    let conn = &live.conn;
    let channel = guard(conn, conn.create_channel()).await?;
    super::declare_on(conn, &channel, &sub.queue, &sub.bindings, sub.kind).await?;
    guard(
        conn,
        channel.basic_qos(PREFETCH, BasicQosOptions::default()),
    )
    .await?;
    let tag = format!("{}-{}", sub.queue, crate::ids::new_id());
    let mut deliveries = guard(
        conn,
        channel.basic_consume(
            sub.queue.as_str().into(),
            tag.as_str().into(),
            BasicConsumeOptions::default(),
            FieldTable::default(),
        ),
    )
    .await?;
    tracing::debug!(queue = %sub.queue, "consuming");

    let permits = Arc::new(Semaphore::new(usize::from(PREFETCH)));
    // Ends handlers' backoff waits when this channel is gone: their ack
    // could not succeed any more, the delivery comes again.
    let run_stop = stop.child_token();
    loop {
        let permit = tokio::select! {
            () = stop.cancelled() => break,
            permit = permits.clone().acquire_owned() => match permit {
                Ok(p) => p,
                Err(_) => break,
            },
        };
        let next = tokio::select! {
            () = stop.cancelled() => break,
            next = deliveries.next() => next,
            // lapin normally ends the stream with an error; this is the net.
            () = channel_lost(conn, &channel) => {
                // The supervisor logs the outage once for every queue.
                tracing::debug!(queue = %sub.queue, "consumer's connection lost");
                break;
            }
        };
        match next {
            Some(Ok(delivery)) => {
                let ctx = Handling {
                    inner: inner.clone(),
                    live: live.clone(),
                    sub: sub.clone(),
                    retrier: retrier.clone(),
                    stop: run_stop.clone(),
                };
                tokio::spawn(async move {
                    ctx.handle(delivery).await;
                    drop(permit);
                });
            }
            Some(Err(e)) => {
                tracing::debug!(queue = %sub.queue, error = %e, "consumer stopped");
                break;
            }
            None => {
                tracing::warn!(queue = %sub.queue, "consumer cancelled by the broker");
                break;
            }
        }
    }
    if channel.status().connected() {
        let _ = guard(
            conn,
            channel.basic_cancel(tag.as_str().into(), BasicCancelOptions::default()),
        )
        .await;
    } else {
        run_stop.cancel();
    }
    // Wait for the handlers in flight, then close: whatever is still
    // unacked is redelivered.
    let _ = tokio::time::timeout(DRAIN, permits.acquire_many(u32::from(PREFETCH))).await;
    run_stop.cancel();
    if channel.status().connected() {
        let _ = guard(conn, channel.close(200, "OK".into())).await;
    }
    Ok(())
}

async fn channel_lost(conn: &lapin::Connection, channel: &Channel) {
    while conn.status().connected() && channel.status().connected() {
        tokio::time::sleep(super::HEALTH_CHECK).await;
    }
}

struct Handling {
    inner: Arc<Inner>,
    /// The connection the delivery came on (its acks go there).
    live: Arc<Live>,
    sub: Arc<Subscription>,
    retrier: Arc<Retrier>,
    stop: CancellationToken,
}

impl Handling {
    async fn handle(&self, delivery: Delivery) {
        let env = match serde_json::from_slice::<Envelope>(&delivery.data) {
            Ok(env) => env,
            Err(e) => {
                let letter = Letter {
                    reason: retry::reason::UNPARSEABLE,
                    error: format!("not a valid envelope: {e}"),
                    attempts: 0,
                    first_failed_at: crate::clock::now_text(),
                };
                return self.dead_letter(&delivery, None, letter).await;
            }
        };
        match self
            .retrier
            .handle(&self.sub.handler, &env, &self.stop)
            .await
        {
            Outcome::Applied => {
                let acked = guard(
                    &self.live.conn,
                    delivery.acker.ack(BasicAckOptions::default()),
                )
                .await;
                if let Err(e) = acked {
                    tracing::debug!(queue = %self.sub.queue, event = %env.id, error = %e, "ack lost; the event will be redelivered");
                }
            }
            // Left unacked: redelivered on the next channel.
            Outcome::Stopped => {}
            Outcome::GiveUp {
                reason,
                error,
                attempts,
                first_failed_at,
            } => {
                let letter = Letter {
                    reason,
                    error,
                    attempts,
                    first_failed_at,
                };
                self.dead_letter(&delivery, Some(&env), letter).await;
            }
        }
    }

    async fn dead_letter(&self, delivery: &Delivery, env: Option<&Envelope>, letter: Letter) {
        let event = env.map_or_else(
            || {
                delivery
                    .properties
                    .message_id()
                    .as_ref()
                    .map(|id| id.to_string())
                    .unwrap_or_default()
            },
            |e| e.id.clone(),
        );
        tracing::error!(queue = %self.sub.queue, %event, attempts = letter.attempts, reason = letter.reason, error = %letter.error, "dead-lettering event");
        let published = match self.inner.current() {
            Some(live) => publish_dead_letter(&live, &self.sub.queue, delivery, &letter).await,
            None => Err("not connected".into()),
        };
        let conn = &self.live.conn;
        let settled = match published {
            Ok(()) => guard(conn, delivery.acker.ack(BasicAckOptions::default())).await,
            Err(e) => {
                tracing::warn!(queue = %self.sub.queue, %event, error = %e, "dead letter not published; rejecting to the queue's DLX instead");
                let reject = delivery.acker.reject(BasicRejectOptions { requeue: false });
                guard(conn, reject).await
            }
        };
        if settled.is_ok() {
            self.retrier.dead_lettered(letter.reason);
        }
        if let Err(e) = settled {
            tracing::debug!(queue = %self.sub.queue, %event, error = %e, "settle lost; the event will be redelivered");
        }
    }
}

/// Why a delivery is dead-lettered.
struct Letter {
    reason: &'static str,
    error: String,
    attempts: u32,
    first_failed_at: String,
}

/// Publishes `delivery` to `Q.dlq` through the DLX, with why it failed,
/// and waits for the confirm.
async fn publish_dead_letter(
    live: &Live,
    queue: &str,
    delivery: &Delivery,
    letter: &Letter,
) -> Result<(), String> {
    let mut headers = delivery.properties.headers().clone().unwrap_or_default();
    let text = |s: &str| AMQPValue::LongString(LongString::from(s));
    headers.insert(
        "x-error".into(),
        text(truncate(&letter.error, MAX_ERROR_BYTES)),
    );
    headers.insert("x-reason".into(), text(letter.reason));
    headers.insert(
        "x-attempts".into(),
        AMQPValue::LongLongInt(i64::from(letter.attempts)),
    );
    headers.insert("x-failed-at".into(), text(&letter.first_failed_at));
    headers.insert("x-queue".into(), text(queue));
    let props = delivery
        .properties
        .clone()
        .with_delivery_mode(2)
        .with_headers(headers);
    let routing_key = ShortString::try_new(queue).map_err(|e| e.to_string())?;
    let confirm = live
        .publish
        .basic_publish(
            DLX.into(),
            routing_key,
            BasicPublishOptions::default(),
            &delivery.data,
            props,
        )
        .await
        .map_err(|e| e.to_string())?;
    match await_confirm(live, confirm).await {
        Ok(c) if c.is_ack() => Ok(()),
        Ok(_) => Err("nacked by RabbitMQ".into()),
        Err(e) => Err(e.to_string()),
    }
}

/// At most `max` bytes of `s`, cut at a character boundary.
pub(crate) fn truncate(s: &str, max: usize) -> &str {
    if s.len() <= max {
        return s;
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    &s[..end]
}

#[cfg(test)]
mod tests {
    #[test]
    fn truncates_at_a_char_boundary() {
        assert_eq!(super::truncate("abc", 10), "abc");
        assert_eq!(super::truncate("abcdef", 3), "abc");
        assert_eq!(super::truncate("aé", 2), "a");
    }
}

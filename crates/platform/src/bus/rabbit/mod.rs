//! The RabbitMQ broker, used when `RABBITMQ_URL` is set.
//!
//! **Topology.** One durable topic exchange [`EXCHANGE`] (`marimo.events`):
//! the routing key is the envelope's `type` (`shop.order.paid`). Every
//! queue `Q` is a durable quorum queue bound to it with the subscription's
//! patterns, and has a dead-letter queue `Q.dlq` (also quorum) bound to the
//! direct exchange [`DLX`] (`marimo.dlx`) on routing key `Q`. `Q` names
//! that exchange as its `x-dead-letter-exchange` (routing key `Q`) and
//! carries `x-delivery-limit` = [`DELIVERY_LIMIT`]. The seed's queues
//! ([`SEED_QUEUES`]) are declared at every connect; a service's queue when
//! it subscribes.
//!
//! **Publishing.** A batch is published pipelined on one channel in
//! confirm mode (persistent, `message_id` = envelope id, `type` = event
//! type, JSON, `traceparent` header), then each confirm is awaited in
//! order; [`PublishOutcome::confirmed`] is the confirmed prefix. A nack,
//! a lost connection or a missing confirm fails the rest, which stay in
//! the publisher's outbox for the relay to retry. An event no queue is
//! bound to is confirmed and dropped by the exchange, as intended.
//!
//! **Consuming.** See the `consumer` module: bounded prefetch, deliveries handled
//! concurrently, ack only after the handler returned `Ok`, in-process
//! retries with exponential backoff, then dead-lettering with the error.
//!
//! **Reconnecting.** A supervisor task owns the connection. When it drops
//! (broker restart, network cut) publishes fail at once (the outbox keeps
//! the events) and the supervisor reconnects with backoff (100 ms doubling
//! to 1 s), re-declares the exchanges, the seed queues and every
//! subscription's queue *before* publishers may use the new connection (so
//! nothing is routed to a queue that is not bound yet), and each
//! subscription's consumer restarts on it. The new connection wakes the
//! outbox relays waiting for it ([`Broker::reconnected`]). An outage is
//! logged once (warn) and its end once (info, with its length).
//!
//! **Stopping.** The broker stops when the token it was started with is
//! cancelled: consumers cancel, in-flight handlers get a bounded time to
//! finish (unacked deliveries are redelivered later), the connection is
//! closed.

pub(crate) mod consumer;

use std::{sync::Arc, time::Duration};

use lapin::{
    BasicProperties, Channel, Connection, ConnectionProperties, ExchangeKind,
    options::{
        BasicPublishOptions, ConfirmSelectOptions, ExchangeDeclareOptions, QueueBindOptions,
        QueueDeclareOptions,
    },
    types::{AMQPValue, FieldTable, LongString, ShortString},
    uri::{AMQPScheme, AMQPUri},
};
use tokio::sync::{Mutex, Notify, watch};
use tokio_util::{sync::CancellationToken, task::TaskTracker};

use super::{BoxFuture, Broker, BusError, Envelope, PublishOutcome, QueueKind, Subscription};

/// The topic exchange every event is published to.
pub const EXCHANGE: &str = "marimo.events";
/// The direct exchange dead letters go through (routing key = queue).
pub const DLX: &str = "marimo.dlx";
/// The original system's queues, declared at every connect so they exist
/// (and can be inspected) before their consumer first starts.
pub const SEED_QUEUES: [&str; 4] = [
    "email_queue",
    "audit_queue",
    "notification_queue",
    "events_queue",
];
/// The queues' `x-delivery-limit`: how often RabbitMQ redelivers a message
/// that was never settled (its consumer crashed or lost the connection)
/// before dead-lettering it itself. It counts redeliveries, not handler
/// attempts (those happen in process, see `bus::retry`): a few restarts
/// with messages in flight must not dead-letter healthy events, but a
/// message that kills its consumer every time must end up in the DLQ.
/// Changing it on existing queues needs a policy (queue arguments are
/// fixed).
pub const DELIVERY_LIMIT: i32 = 20;
/// Unacked deliveries per consumer, all of them handled concurrently.
pub const PREFETCH: u16 = 32;

const RECONNECT_FIRST: Duration = Duration::from_millis(100);
/// Reconnect attempts are at most this far apart, so that publishing and
/// consuming resume within about a second of the broker's return.
const RECONNECT_MAX: Duration = Duration::from_secs(1);
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
const CONFIRM_TIMEOUT: Duration = Duration::from_secs(30);
/// Longest wait for the broker's answer to a method (declare, bind, ...).
const RPC_TIMEOUT: Duration = Duration::from_secs(15);
/// How often the supervisor checks that the connection is still up.
const HEALTH_CHECK: Duration = Duration::from_millis(250);
/// How long [`RabbitBroker::start`] waits for the first connection; after
/// that the service starts anyway and the supervisor keeps trying.
const STARTUP_WAIT: Duration = Duration::from_secs(3);
/// Heartbeat asked for when the URL does not say: a silently dead peer is
/// noticed within two intervals.
const DEFAULT_HEARTBEAT_SECS: u16 = 10;
/// Longest queue name: `Q.dlq` must fit AMQP's 255-byte short string.
const MAX_QUEUE_NAME: usize = 250;

/// The RabbitMQ [`Broker`]. Start it with [`RabbitBroker::start`].
pub struct RabbitBroker {
    inner: Arc<Inner>,
}

struct Inner {
    uri: AMQPUri,
    /// For logs: the URL without its password.
    display: String,
    /// The current connection, `None` while (re)connecting.
    live: watch::Sender<Option<Arc<Live>>>,
    subs: Mutex<Vec<SubEntry>>,
    shutdown: CancellationToken,
    /// Wakes the supervisor to check the connection now (a publisher or a
    /// consumer saw an error).
    kick: Notify,
    /// The supervisor.
    tasks: TaskTracker,
    /// One consume loop per subscription.
    consumers: TaskTracker,
}

struct Live {
    conn: Connection,
    /// In confirm mode; used for events and for dead letters.
    publish: Channel,
}

struct SubEntry {
    sub: Arc<Subscription>,
    /// Stops this subscription's consumer (re-subscribing the same queue
    /// replaces it); a child of the broker's shutdown token.
    stop: CancellationToken,
}

impl RabbitBroker {
    /// Parses `url`, starts the connection supervisor and waits briefly
    /// for the first connection. An unreachable broker is not an error:
    /// the supervisor keeps trying and the outbox keeps the events.
    /// Everything stops when `shutdown` is cancelled.
    pub async fn start(url: &str, shutdown: CancellationToken) -> Result<Arc<Self>, BusError> {
        let display = crate::config::redact_url(url);
        let mut uri: AMQPUri = url
            .parse()
            .map_err(|e| BusError::Invalid(format!("RABBITMQ_URL {display}: {e}")))?;
        if uri.scheme == AMQPScheme::AMQPS {
            return Err(BusError::Invalid(format!(
                "RABBITMQ_URL {display}: amqps:// is not supported by this build (use amqp://)"
            )));
        }
        uri.query.heartbeat.get_or_insert(DEFAULT_HEARTBEAT_SECS);
        let (live, mut live_rx) = watch::channel(None);
        let inner = Arc::new(Inner {
            uri,
            display,
            live,
            subs: Mutex::new(Vec::new()),
            shutdown,
            kick: Notify::new(),
            tasks: TaskTracker::new(),
            consumers: TaskTracker::new(),
        });
        inner.tasks.spawn(inner.clone().supervise());
        let first = tokio::time::timeout(STARTUP_WAIT, live_rx.wait_for(Option::is_some)).await;
        if !matches!(first, Ok(Ok(_))) {
            tracing::warn!(url = %inner.display, "RabbitMQ is not reachable yet; events wait in the outboxes until it is");
        }
        Ok(Arc::new(Self { inner }))
    }

    /// True while connected (publishes can be confirmed).
    pub fn is_connected(&self) -> bool {
        self.inner
            .current()
            .is_some_and(|live| live.conn.status().connected())
    }

    /// Stops consuming, lets in-flight handlers finish (bounded), closes
    /// the connection and waits until all of that is done. The same
    /// happens, without the waiting, when the start token is cancelled.
    pub async fn shutdown(&self) {
        self.inner.shutdown.cancel();
        self.inner.tasks.close();
        self.inner.tasks.wait().await;
    }
}

impl Inner {
    fn current(&self) -> Option<Arc<Live>> {
        self.live.borrow().clone()
    }

    async fn supervise(self: Arc<Self>) {
        let mut backoff = RECONNECT_FIRST;
        let mut last: Option<Arc<Live>> = None;
        // Since when the broker is away (`None` while connected or before
        // the first attempt): the outage is logged at its start and end.
        let mut down_since: Option<std::time::Instant> = None;
        while !self.shutdown.is_cancelled() {
            let attempt = tokio::select! {
                () = self.shutdown.cancelled() => break,
                attempt = self.establish() => attempt,
            };
            match attempt {
                Ok(live) => {
                    backoff = RECONNECT_FIRST;
                    match down_since.take() {
                        Some(since) => {
                            tracing::info!(url = %self.display, down_ms = since.elapsed().as_millis() as u64, "reconnected to RabbitMQ")
                        }
                        None => tracing::info!(url = %self.display, "connected to RabbitMQ"),
                    }
                    self.watch(&live).await;
                    self.live.send_replace(None);
                    if self.shutdown.is_cancelled() {
                        last = Some(live);
                        break;
                    }
                    down_since = Some(std::time::Instant::now());
                    tracing::warn!(url = %self.display, "RabbitMQ connection lost; reconnecting (events wait in the outboxes)");
                    // Make sure the consumers on it stop too.
                    if live.conn.status().connected() {
                        let _ = live.conn.close(320, "reconnecting".into()).await;
                    }
                }
                Err(e) => {
                    if down_since.is_none() {
                        down_since = Some(std::time::Instant::now());
                        tracing::warn!(url = %self.display, error = %e, "cannot connect to RabbitMQ; retrying every second at most (events wait in the outboxes)");
                    } else {
                        tracing::debug!(url = %self.display, error = %e, retry_in_ms = backoff.as_millis() as u64, "cannot connect to RabbitMQ");
                    }
                    tokio::select! {
                        () = self.shutdown.cancelled() => break,
                        () = tokio::time::sleep(backoff) => {}
                    }
                    backoff = (backoff * 2).min(RECONNECT_MAX);
                }
            }
        }
        // Shutdown: consumers first (they cancel, then drain), then the
        // connection they run on.
        self.consumers.close();
        self.consumers.wait().await;
        if let Some(live) = last.take()
            && live.conn.status().connected()
        {
            let _ = live.conn.close(200, "shutdown".into()).await;
        }
        tracing::info!("RabbitMQ broker stopped");
    }

    /// Returns when `live` is lost or on shutdown.
    async fn watch(&self, live: &Live) {
        loop {
            tokio::select! {
                () = self.shutdown.cancelled() => return,
                () = self.kick.notified() => {}
                () = tokio::time::sleep(HEALTH_CHECK) => {}
            }
            if !live.conn.status().connected() || !live.publish.status().connected() {
                return;
            }
        }
    }

    /// Connects, declares the topology and publishes the connection.
    async fn establish(&self) -> Result<Arc<Live>, lapin::Error> {
        let props = ConnectionProperties::default()
            .with_connection_name(format!("marimo-{}", std::process::id()).into());
        let conn = tokio::time::timeout(
            CONNECT_TIMEOUT,
            Connection::connect_uri(self.uri.clone(), props),
        )
        .await
        .map_err(|_| io_error(std::io::ErrorKind::TimedOut, "connecting timed out"))??;
        let setup = guard(&conn, conn.create_channel()).await?;
        let durable = ExchangeDeclareOptions {
            durable: true,
            ..ExchangeDeclareOptions::default()
        };
        guard(
            &conn,
            setup.exchange_declare(
                EXCHANGE.into(),
                ExchangeKind::Topic,
                durable,
                FieldTable::default(),
            ),
        )
        .await?;
        guard(
            &conn,
            setup.exchange_declare(
                DLX.into(),
                ExchangeKind::Direct,
                durable,
                FieldTable::default(),
            ),
        )
        .await?;
        let _ = guard(&conn, setup.close(200, "OK".into())).await;
        for queue in SEED_QUEUES {
            if let Err(e) = declare_queue(&conn, queue, &[], QueueKind::Shared).await {
                if !conn.status().connected() {
                    return Err(e);
                }
                tracing::error!(queue, error = %e, "cannot declare queue (an existing queue of another type must be migrated)");
            }
        }
        // Held until the connection is published: a subscription either
        // is declared here or, arriving later, sees the connection.
        let subs = self.subs.lock().await;
        for entry in subs.iter() {
            if let Err(e) =
                declare_queue(&conn, &entry.sub.queue, &entry.sub.bindings, entry.sub.kind).await
            {
                if !conn.status().connected() {
                    return Err(e);
                }
                tracing::error!(queue = %entry.sub.queue, error = %e, "cannot declare queue");
            }
        }
        let publish = guard(&conn, conn.create_channel()).await?;
        guard(
            &conn,
            publish.confirm_select(ConfirmSelectOptions::default()),
        )
        .await?;
        let live = Arc::new(Live { conn, publish });
        self.live.send_replace(Some(live.clone()));
        drop(subs);
        Ok(live)
    }

    async fn publish(&self, events: &[Envelope]) -> PublishOutcome {
        let Some(live) = self.current() else {
            return PublishOutcome {
                confirmed: 0,
                error: Some(BusError::Unavailable("not connected to RabbitMQ".into())),
            };
        };
        // Pipelined: send everything, then collect the confirms in order.
        let mut pending = Vec::with_capacity(events.len());
        let mut send_error = None;
        for env in events {
            match send(&live.publish, env).await {
                Ok(confirm) => pending.push((env, confirm)),
                Err(e) => {
                    send_error = Some(e);
                    break;
                }
            }
        }
        let mut confirmed = 0;
        for (env, confirm) in pending {
            let error = match await_confirm(&live, confirm).await {
                Ok(c) if c.is_ack() => {
                    confirmed += 1;
                    continue;
                }
                Ok(_) => BusError::Refused(format!("RabbitMQ nacked event {}", env.id)),
                Err(e) => BusError::Unavailable(format!("event {}: {e}", env.id)),
            };
            self.kick.notify_one();
            return PublishOutcome {
                confirmed,
                error: Some(error),
            };
        }
        if send_error.is_some() {
            self.kick.notify_one();
        }
        PublishOutcome {
            confirmed,
            error: send_error,
        }
    }

    async fn subscribe(self: &Arc<Self>, sub: Subscription) -> Result<(), BusError> {
        validate_queue(&sub.queue)?;
        if self.shutdown.is_cancelled() {
            return Err(BusError::Unavailable("the broker is shutting down".into()));
        }
        let sub = Arc::new(sub);
        let stop = self.shutdown.child_token();
        {
            let mut subs = self.subs.lock().await;
            if let Some(live) = self.current()
                && let Err(e) = declare_queue(&live.conn, &sub.queue, &sub.bindings, sub.kind).await
            {
                // With the connection still up it is the declaration
                // itself that failed (e.g. a queue of another type already
                // has this name): a configuration error to report now.
                // Otherwise the next connect declares it.
                if live.conn.status().connected() {
                    return Err(BusError::Refused(format!(
                        "cannot declare queue {}: {e}",
                        sub.queue
                    )));
                }
            }
            // A queue has one consumer per process: re-subscribing replaces it.
            subs.retain(|entry| {
                let same = entry.sub.queue == sub.queue;
                if same {
                    entry.stop.cancel();
                }
                !same
            });
            subs.push(SubEntry {
                sub: sub.clone(),
                stop: stop.clone(),
            });
        }
        self.consumers
            .spawn(consumer::consume(self.clone(), sub, stop));
        Ok(())
    }
}

impl Broker for RabbitBroker {
    fn name(&self) -> &'static str {
        "rabbitmq"
    }

    fn publish<'a>(&'a self, events: &'a [Envelope]) -> BoxFuture<'a, PublishOutcome> {
        Box::pin(self.inner.publish(events))
    }

    fn subscribe(&self, sub: Subscription) -> BoxFuture<'_, Result<(), BusError>> {
        Box::pin(self.inner.subscribe(sub))
    }

    /// Resolves at once while connected, else when the supervisor has a
    /// new connection (topology declared, ready for publishes).
    fn reconnected(&self) -> BoxFuture<'_, ()> {
        let mut live = self.inner.live.subscribe();
        Box::pin(async move {
            let _ = live
                .wait_for(|l| l.as_ref().is_some_and(|l| l.conn.status().connected()))
                .await;
        })
    }

    /// Messages ready in `Q.dlq`, by a passive declare on a short-lived
    /// channel of the current connection.
    fn dead_letter_count<'a>(
        &'a self,
        queue: &'a str,
        _db: Option<&'a crate::db::Db>,
    ) -> BoxFuture<'a, Result<Option<u64>, BusError>> {
        Box::pin(async move {
            let Some(live) = self.inner.current() else {
                return Err(BusError::Unavailable("not connected to RabbitMQ".into()));
            };
            let unavailable = |e: lapin::Error| BusError::Unavailable(e.to_string());
            let conn = &live.conn;
            let channel = guard(conn, conn.create_channel())
                .await
                .map_err(unavailable)?;
            let passive = QueueDeclareOptions {
                passive: true,
                ..QueueDeclareOptions::default()
            };
            let declared = guard(
                conn,
                channel.queue_declare(
                    dlq_name(queue).as_str().into(),
                    passive,
                    FieldTable::default(),
                ),
            )
            .await;
            if channel.status().connected() {
                let _ = guard(conn, channel.close(200, "OK".into())).await;
            }
            Ok(Some(u64::from(
                declared.map_err(unavailable)?.message_count(),
            )))
        })
    }
}

/// Sends one event (without awaiting its confirm).
async fn send(channel: &Channel, env: &Envelope) -> Result<lapin::PublisherConfirm, BusError> {
    let refused = |what: &str, e: &dyn std::fmt::Display| {
        BusError::Refused(format!("event {}: {what}: {e}", env.id))
    };
    let body = serde_json::to_vec(env).map_err(|e| refused("cannot serialise", &e))?;
    let routing_key =
        ShortString::try_new(env.event_type.as_str()).map_err(|e| refused("type", &e))?;
    let message_id = ShortString::try_new(env.id.as_str()).map_err(|e| refused("id", &e))?;
    let mut props = BasicProperties::default()
        .with_delivery_mode(2)
        .with_content_type("application/json".into())
        .with_message_id(message_id)
        .with_type(routing_key.clone());
    if let Some(t) = crate::clock::parse(&env.occurred_at) {
        props = props.with_timestamp(t.unix_timestamp().max(0) as u64);
    }
    // The tenant travels as a header too, so a broker-side binding or a
    // shovel can route or filter by tenant without parsing the body.
    let mut headers = FieldTable::default();
    headers.insert(
        "x-tenant".into(),
        AMQPValue::LongString(LongString::from(env.tenant.as_str())),
    );
    if let Some(traceparent) = &env.traceparent {
        headers.insert(
            "traceparent".into(),
            AMQPValue::LongString(LongString::from(traceparent.as_str())),
        );
    }
    props = props.with_headers(headers);
    channel
        .basic_publish(
            EXCHANGE.into(),
            routing_key,
            BasicPublishOptions::default(),
            &body,
            props,
        )
        .await
        .map_err(|e| BusError::Unavailable(e.to_string()))
}

/// The name of `queue`'s dead-letter queue.
pub fn dlq_name(queue: &str) -> String {
    format!("{queue}.dlq")
}

/// Queue names become AMQP short strings and appear in the CLI.
pub(crate) fn validate_queue(queue: &str) -> Result<(), BusError> {
    let ok = !queue.is_empty()
        && queue.len() <= MAX_QUEUE_NAME
        && !queue.starts_with("amq.")
        && queue
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.' | b':'));
    if ok {
        Ok(())
    } else {
        Err(BusError::Invalid(format!(
            "invalid queue name '{queue}' (1-{MAX_QUEUE_NAME} of A-Z a-z 0-9 _ - . :, not amq.*)"
        )))
    }
}

fn quorum_args() -> FieldTable {
    let mut args = FieldTable::default();
    args.insert(
        "x-queue-type".into(),
        AMQPValue::LongString("quorum".into()),
    );
    args
}

/// Declares `queue` (quorum, dead-lettering to `queue.dlq`) and its DLQ,
/// and binds `queue` to each pattern. Idempotent; a channel of its own, so
/// a refused declaration (a channel error) does not close a shared one.
async fn declare_queue(
    conn: &Connection,
    queue: &str,
    bindings: &[String],
    kind: QueueKind,
) -> Result<(), lapin::Error> {
    let channel = guard(conn, conn.create_channel()).await?;
    let result = declare_on(conn, &channel, queue, bindings, kind).await;
    if channel.status().connected() {
        let _ = guard(conn, channel.close(200, "OK".into())).await;
    }
    result
}

async fn declare_on(
    conn: &Connection,
    channel: &Channel,
    queue: &str,
    bindings: &[String],
    kind: QueueKind,
) -> Result<(), lapin::Error> {
    match kind {
        QueueKind::Shared => declare_shared(conn, channel, queue).await?,
        QueueKind::PerInstance => declare_per_instance(conn, channel, queue).await?,
    }
    bind(conn, channel, queue, bindings).await
}

/// A classic, non-durable queue that RabbitMQ deletes a minute after its
/// consumer went away (`x-expires`); no dead-letter queue: its events are
/// only of use to this process, now.
async fn declare_per_instance(
    conn: &Connection,
    channel: &Channel,
    queue: &str,
) -> Result<(), lapin::Error> {
    let mut args = FieldTable::default();
    args.insert("x-expires".into(), AMQPValue::LongInt(60_000));
    guard(
        conn,
        channel.queue_declare(queue.into(), QueueDeclareOptions::default(), args),
    )
    .await?;
    Ok(())
}

/// A quorum queue dead-lettering to `queue.dlq` after the delivery limit.
async fn declare_shared(
    conn: &Connection,
    channel: &Channel,
    queue: &str,
) -> Result<(), lapin::Error> {
    let durable = QueueDeclareOptions {
        durable: true,
        ..QueueDeclareOptions::default()
    };
    let dlq = dlq_name(queue);
    guard(
        conn,
        channel.queue_declare(dlq.as_str().into(), durable, quorum_args()),
    )
    .await?;
    guard(
        conn,
        channel.queue_bind(
            dlq.as_str().into(),
            DLX.into(),
            queue.into(),
            QueueBindOptions::default(),
            FieldTable::default(),
        ),
    )
    .await?;
    let mut args = quorum_args();
    args.insert(
        "x-dead-letter-exchange".into(),
        AMQPValue::LongString(DLX.into()),
    );
    args.insert(
        "x-dead-letter-routing-key".into(),
        AMQPValue::LongString(queue.into()),
    );
    args.insert(
        "x-delivery-limit".into(),
        AMQPValue::LongInt(DELIVERY_LIMIT),
    );
    guard(conn, channel.queue_declare(queue.into(), durable, args)).await?;
    Ok(())
}

async fn bind(
    conn: &Connection,
    channel: &Channel,
    queue: &str,
    bindings: &[String],
) -> Result<(), lapin::Error> {
    for pattern in bindings {
        let key = ShortString::try_new(pattern.as_str()).map_err(|e| {
            lapin::Error::from(std::io::Error::new(std::io::ErrorKind::InvalidInput, e))
        })?;
        guard(
            conn,
            channel.queue_bind(
                queue.into(),
                EXCHANGE.into(),
                key,
                QueueBindOptions::default(),
                FieldTable::default(),
            ),
        )
        .await?;
    }
    Ok(())
}

/// Resolves once `conn` is no longer connected. lapin reports a lost
/// connection to most waiters, but not to every call in flight (a declare
/// pending during a network cut was seen to wait forever): this is the net
/// under every wait for the broker.
pub(crate) async fn conn_lost(conn: &Connection) {
    while conn.status().connected() {
        tokio::time::sleep(HEALTH_CHECK).await;
    }
}

/// Awaits a broker call, failing it when the connection is lost or after
/// [`RPC_TIMEOUT`].
pub(crate) async fn guard<T>(
    conn: &Connection,
    call: impl Future<Output = Result<T, lapin::Error>>,
) -> Result<T, lapin::Error> {
    tokio::select! {
        result = call => result,
        () = conn_lost(conn) => Err(io_error(std::io::ErrorKind::ConnectionAborted, "connection lost")),
        () = tokio::time::sleep(RPC_TIMEOUT) => Err(io_error(std::io::ErrorKind::TimedOut, "no answer from RabbitMQ")),
    }
}

/// Awaits a publisher confirm on `live`, failing when its connection or
/// channel is lost or after [`CONFIRM_TIMEOUT`].
async fn await_confirm(
    live: &Live,
    confirm: lapin::PublisherConfirm,
) -> Result<lapin::Confirmation, lapin::Error> {
    let channel_lost = async {
        while live.publish.status().connected() {
            tokio::time::sleep(HEALTH_CHECK).await;
        }
    };
    tokio::select! {
        result = confirm => result,
        () = conn_lost(&live.conn) => Err(io_error(std::io::ErrorKind::ConnectionAborted, "connection lost")),
        () = channel_lost => Err(io_error(std::io::ErrorKind::ConnectionAborted, "channel closed")),
        () = tokio::time::sleep(CONFIRM_TIMEOUT) => Err(io_error(std::io::ErrorKind::TimedOut, "no confirm from RabbitMQ")),
    }
}

fn io_error(kind: std::io::ErrorKind, what: &'static str) -> lapin::Error {
    lapin::Error::from(std::io::Error::new(kind, what))
}

/// A plain connection for one-off tools (the DLQ commands).
pub(crate) async fn open(url: &str) -> Result<Connection, BusError> {
    let display = crate::config::redact_url(url);
    let mut uri: AMQPUri = url
        .parse()
        .map_err(|e| BusError::Invalid(format!("RABBITMQ_URL {display}: {e}")))?;
    uri.query.heartbeat.get_or_insert(DEFAULT_HEARTBEAT_SECS);
    let connect = Connection::connect_uri(uri, ConnectionProperties::default());
    match tokio::time::timeout(CONNECT_TIMEOUT, connect).await {
        Ok(Ok(conn)) => Ok(conn),
        Ok(Err(e)) => Err(BusError::Unavailable(format!("RabbitMQ at {display}: {e}"))),
        Err(_) => Err(BusError::Unavailable(format!(
            "RabbitMQ at {display}: connecting timed out"
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn queue_names_are_checked() {
        assert!(validate_queue("accounting").is_ok());
        assert!(validate_queue("email_queue").is_ok());
        assert!(validate_queue("t-0192.x:y").is_ok());
        assert!(validate_queue("").is_err());
        assert!(validate_queue("amq.gen").is_err());
        assert!(validate_queue("a b").is_err());
        assert!(validate_queue(&"q".repeat(251)).is_err());
        assert_eq!(dlq_name("audit_queue"), "audit_queue.dlq");
    }
}

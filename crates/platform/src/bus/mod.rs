//! The event backbone.
//!
//! A state change that other services care about is published by writing
//! an [`Envelope`] into the service's own `outbox` table **in the same
//! transaction as the change** ([`Outbox::publish`]). A [`relay`] per
//! service delivers unsent rows in id (= creation) order to the [`Broker`]
//! and marks them sent only after the broker confirmed them. Consumers
//! subscribe a queue to topic patterns and apply each event exactly once by
//! recording it in `processed_events` in the same transaction as their
//! effect ([`inbox::begin`]).
//!
//! Brokers: [`embedded::EmbeddedBroker`] (default: in-process, fed by the
//! same durable outbox) and [`rabbit::RabbitBroker`] (when `RABBITMQ_URL`
//! is set). Events a consumer gave up on are dead letters; [`dlq`] lists
//! and replays them on either broker.

pub mod dlq;
pub mod embedded;
pub mod envelope;
pub mod inbox;
pub mod outbox;
pub mod rabbit;
pub mod relay;
pub mod retry;
pub mod schema;
pub mod topic;

use std::{future::Future, pin::Pin, sync::Arc};

pub use envelope::Envelope;
pub use outbox::Outbox;

use tokio_util::sync::CancellationToken;

use crate::{
    config::Settings,
    db::Db,
    http::request_id,
    telemetry::{
        Metrics, Tracer,
        trace::{self, SpanContext, SpanKind},
    },
};

/// The broker the settings ask for: RabbitMQ when `RABBITMQ_URL` is set,
/// the embedded one otherwise. A RabbitMQ broker runs (and reconnects)
/// until `shutdown` is cancelled; the embedded one ignores it.
pub async fn connect(settings: &Settings, shutdown: CancellationToken) -> Result<Bus, BusError> {
    match &settings.rabbitmq_url {
        Some(url) => Ok(Bus::new(rabbit::RabbitBroker::start(url, shutdown).await?)),
        None => Ok(Bus::embedded()),
    }
}

pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

#[derive(Debug, thiserror::Error)]
pub enum BusError {
    #[error("broker unavailable: {0}")]
    Unavailable(String),
    #[error("broker refused the message: {0}")]
    Refused(String),
    /// A bad queue name or broker URL.
    #[error("{0}")]
    Invalid(String),
    #[error("database: {0}")]
    Db(#[from] sqlx::Error),
}

/// What a consumer's handler reports, classified by what retrying can do
/// about it (see [`retry`] for how each class is handled).
#[derive(Debug, thiserror::Error)]
pub enum HandlerError {
    /// Infrastructure trouble that says nothing about the event: the
    /// database or a peer unreachable, a pool timeout, a deadlock or
    /// serialization failure, a busy SQLite file. Retried with capped
    /// backoff for as long as it lasts, the consumer paused meanwhile;
    /// never dead-lettered.
    #[error("{0}")]
    Transient(String),
    /// A precondition not met yet (an event that arrived before the one
    /// it depends on, a handler that panicked): retried a bounded number
    /// of times ([`retry::DEFERRED_ATTEMPTS`]), then dead-lettered.
    #[error("{0}")]
    Deferred(String),
    /// Will never succeed (malformed or permanently invalid payload):
    /// dead-lettered at once.
    #[error("{0}")]
    Permanent(String),
}

impl HandlerError {
    /// Classifies a database error: connection trouble, pool timeouts,
    /// deadlocks, serialization failures, lock timeouts, a server
    /// shutting down or starting, a busy or locked SQLite file are
    /// [`Transient`](Self::Transient); a row that is not there (yet) is
    /// [`Deferred`](Self::Deferred); constraint violations, decode errors
    /// and every other statement error are [`Permanent`](Self::Permanent)
    /// — the same statement on the same data fails again.
    pub fn from_db(e: sqlx::Error) -> Self {
        match crate::db::classify(&e) {
            crate::db::Fault::Transient => HandlerError::Transient(e.to_string()),
            crate::db::Fault::Missing => HandlerError::Deferred(e.to_string()),
            crate::db::Fault::Permanent => HandlerError::Permanent(e.to_string()),
        }
    }

    /// The class as a metrics label and dead-letter reason: `transient`,
    /// `deferred` or `permanent`.
    pub fn class(&self) -> &'static str {
        match self {
            HandlerError::Transient(_) => "transient",
            HandlerError::Deferred(_) => "deferred",
            HandlerError::Permanent(_) => "permanent",
        }
    }
}

/// `?` on a database call in a handler classifies the error
/// ([`HandlerError::from_db`]).
impl From<sqlx::Error> for HandlerError {
    fn from(e: sqlx::Error) -> Self {
        HandlerError::from_db(e)
    }
}

pub type Handler =
    Arc<dyn Fn(Envelope) -> BoxFuture<'static, Result<(), HandlerError>> + Send + Sync>;

/// A queue bound to topic patterns (`shop.order.*`, `#`), with its handler.
#[derive(Clone)]
pub struct Subscription {
    pub queue: String,
    pub bindings: Vec<String>,
    pub handler: Handler,
    /// The consuming service's database: dead letters of the embedded
    /// broker are kept there. `None` for stateless consumers (a cache
    /// invalidation), whose failures are only logged.
    pub db: Option<Db>,
    pub kind: QueueKind,
}

/// Who gets an event of a queue.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum QueueKind {
    /// One durable queue shared by every replica of the consuming service:
    /// each event is handled once, by one of them.
    Shared,
    /// A queue of this process alone (non-durable; RabbitMQ deletes it a
    /// minute after its consumer is gone): every replica sees every event.
    /// For state each replica holds in memory, e.g. a response cache.
    PerInstance,
}

/// How far a batch got: the first `confirmed` events are safely with the
/// broker; `error` says why the rest were not.
#[derive(Debug)]
pub struct PublishOutcome {
    pub confirmed: usize,
    pub error: Option<BusError>,
}

/// A message broker as the relay and consumers see it.
pub trait Broker: Send + Sync {
    fn name(&self) -> &'static str;
    /// Publishes `events` in order; returns how many were confirmed.
    fn publish<'a>(&'a self, events: &'a [Envelope]) -> BoxFuture<'a, PublishOutcome>;
    /// Starts consuming `sub.queue` (until the broker stops).
    fn subscribe(&self, sub: Subscription) -> BoxFuture<'_, Result<(), BusError>>;
    /// How many dead letters `queue` holds (`db`: its consumer's database),
    /// or `None` when this broker cannot tell.
    fn dead_letter_count<'a>(
        &'a self,
        queue: &'a str,
        db: Option<&'a Db>,
    ) -> BoxFuture<'a, Result<Option<u64>, BusError>> {
        let _ = (queue, db);
        Box::pin(async { Ok(None) })
    }
    /// Resolves when the broker is connected (at once if it is now): the
    /// relay waits on it after a failed publish, so it resumes as soon as
    /// the broker is back rather than after its own backoff. Brokers
    /// without a connection never resolve it.
    fn reconnected(&self) -> BoxFuture<'_, ()> {
        Box::pin(std::future::pending())
    }
}

/// The process's broker handle, shared by every service in it.
#[derive(Clone)]
pub struct Bus(Arc<dyn Broker>);

impl Bus {
    pub fn new(broker: Arc<dyn Broker>) -> Self {
        Self(broker)
    }

    /// The in-process broker.
    pub fn embedded() -> Self {
        Self(Arc::new(embedded::EmbeddedBroker::default()))
    }

    pub fn broker(&self) -> &Arc<dyn Broker> {
        &self.0
    }

    /// Subscribes `queue` to `bindings`; `handler` is called once per event
    /// (retried on transient errors, dead-lettered after the limit).
    ///
    /// Each handler call is a consumer span continuing the envelope's
    /// `traceparent`, runs with the envelope's request id, and counts in
    /// `events_consumed_total` or `events_failed_total` of the service
    /// owning `db`; that service's `/metrics` also shows the queue's
    /// `dlq_depth`.
    pub async fn subscribe<F, Fut>(
        &self,
        db: &Db,
        queue: &str,
        bindings: &[&str],
        handler: F,
    ) -> Result<(), BusError>
    where
        F: Fn(Envelope) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<(), HandlerError>> + Send + 'static,
    {
        self.subscribe_with(
            Some(db.clone()),
            queue,
            QueueKind::Shared,
            bindings,
            handler,
        )
        .await
    }

    /// Subscribes a consumer without a database of its own, whose effect is
    /// idempotent by nature (e.g. dropping cache entries): no inbox, and
    /// events it cannot handle are logged rather than dead-lettered.
    pub async fn subscribe_stateless<F, Fut>(
        &self,
        queue: &str,
        bindings: &[&str],
        handler: F,
    ) -> Result<(), BusError>
    where
        F: Fn(Envelope) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<(), HandlerError>> + Send + 'static,
    {
        self.subscribe_with(None, queue, QueueKind::Shared, bindings, handler)
            .await
    }

    /// Like [`Self::subscribe_stateless`], but every process gets every
    /// event: the queue is `<queue>.<a new id>` and lives with the process
    /// ([`QueueKind::PerInstance`]). Nothing is replayed to a replica that
    /// was down, so use it only for state that is rebuilt on start.
    pub async fn subscribe_each_instance<F, Fut>(
        &self,
        queue: &str,
        bindings: &[&str],
        handler: F,
    ) -> Result<(), BusError>
    where
        F: Fn(Envelope) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<(), HandlerError>> + Send + 'static,
    {
        let queue = format!("{queue}.{}", crate::ids::new_id());
        self.subscribe_with(None, &queue, QueueKind::PerInstance, bindings, handler)
            .await
    }

    async fn subscribe_with<F, Fut>(
        &self,
        db: Option<Db>,
        queue: &str,
        kind: QueueKind,
        bindings: &[&str],
        handler: F,
    ) -> Result<(), BusError>
    where
        F: Fn(Envelope) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<(), HandlerError>> + Send + 'static,
    {
        let observer = db
            .as_ref()
            .and_then(Db::telemetry)
            .map(|(metrics, tracer)| {
                Arc::new(Observer {
                    metrics,
                    tracer,
                    queue: queue.to_owned(),
                    broker: self.0.name(),
                })
            });
        let handler = Arc::new(handler);
        let wrapped: Handler = match observer.clone() {
            Some(observer) => {
                Arc::new(move |env| Box::pin(observer.clone().consume(env, handler.clone())))
            }
            None => Arc::new(move |env| Box::pin(handler(env))),
        };
        self.0
            .subscribe(Subscription {
                queue: queue.to_owned(),
                bindings: bindings.iter().map(|b| (*b).to_owned()).collect(),
                handler: wrapped,
                db: db.clone(),
                kind,
            })
            .await?;
        if let (Some(observer), Some(db)) = (observer, db) {
            observer.collect_dlq_depth(&self.0, &db);
        }
        Ok(())
    }
}

/// Traces and counts a subscription's handler calls.
struct Observer {
    metrics: Metrics,
    tracer: Tracer,
    queue: String,
    broker: &'static str,
}

impl Observer {
    async fn consume<F, Fut>(
        self: Arc<Self>,
        env: Envelope,
        handler: Arc<F>,
    ) -> Result<(), HandlerError>
    where
        F: Fn(Envelope) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<(), HandlerError>> + Send + 'static,
    {
        let parent = env.traceparent.as_deref().and_then(SpanContext::parse);
        let mut span = self.tracer.span(
            format!("{} process", env.event_type),
            SpanKind::Consumer,
            parent,
        );
        span.set_attribute("messaging.system", self.broker);
        span.set_attribute("messaging.operation.type", "process");
        span.set_attribute("messaging.destination.name", env.event_type.clone());
        span.set_attribute("messaging.consumer.group.name", self.queue.clone());
        span.set_attribute("messaging.message.id", env.id.clone());
        let event_type = env.event_type.clone();
        let request = env.request_id.clone();
        let handled = trace::in_scope(&span, handler(env));
        let result = match request {
            Some(id) => request_id::scope(id, handled).await,
            None => handled.await,
        };
        let m = &self.metrics;
        let labels = [
            ("service", m.service().to_owned()),
            ("queue", self.queue.clone()),
            ("type", event_type),
        ];
        match &result {
            Ok(()) => m.record(|| metrics::counter!("events_consumed_total", &labels).increment(1)),
            Err(e) => {
                span.set_error(e.to_string());
                m.record(|| metrics::counter!("events_failed_total", &labels).increment(1));
            }
        }
        span.end();
        result
    }

    /// `dlq_depth{queue}`, read from the broker at every scrape. The
    /// collector holds the broker and the database weakly: both own (via
    /// the subscription) the metrics it lives in.
    fn collect_dlq_depth(&self, broker: &Arc<dyn Broker>, db: &Db) {
        let (broker, db) = (Arc::downgrade(broker), db.downgrade());
        let queue = self.queue.clone();
        self.metrics.add_collector(move |m| {
            let (broker, db, queue) = (broker.upgrade(), db.upgrade(), queue.clone());
            async move {
                let (Some(broker), Some(db)) = (broker, db) else {
                    return;
                };
                match broker.dead_letter_count(&queue, Some(&db)).await {
                    Ok(Some(n)) => m.record(|| {
                        metrics::gauge!("dlq_depth", "service" => m.service(), "queue" => queue.clone())
                            .set(n as f64)
                    }),
                    Ok(None) => {}
                    Err(e) => tracing::debug!(%queue, error = %e, "dead-letter count unavailable"),
                }
            }
        });
    }
}

impl std::fmt::Debug for Bus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_tuple("Bus").field(&self.0.name()).finish()
    }
}

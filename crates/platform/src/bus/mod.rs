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
pub mod schema;
pub mod topic;

use std::{future::Future, pin::Pin, sync::Arc};

pub use envelope::Envelope;
pub use outbox::Outbox;

use tokio_util::sync::CancellationToken;

use crate::{config::Settings, db::Db};

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

/// What a consumer's handler reports.
#[derive(Debug, thiserror::Error)]
pub enum HandlerError {
    /// Worth retrying (a database or a peer briefly down).
    #[error("{0}")]
    Transient(String),
    /// Will never succeed (malformed payload): dead-letter at once.
    #[error("{0}")]
    Permanent(String),
}

impl From<sqlx::Error> for HandlerError {
    fn from(e: sqlx::Error) -> Self {
        HandlerError::Transient(e.to_string())
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
        self.subscribe_with(Some(db.clone()), queue, bindings, handler)
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
        self.subscribe_with(None, queue, bindings, handler).await
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
        let handler: Handler = Arc::new(move |env| Box::pin(handler(env)));
        self.0
            .subscribe(Subscription {
                queue: format!("{queue}.{}", crate::ids::new_id()),
                bindings: bindings.iter().map(|b| (*b).to_owned()).collect(),
                handler,
                db: None,
                kind: QueueKind::PerInstance,
            })
            .await
    }

    async fn subscribe_with<F, Fut>(
        &self,
        db: Option<Db>,
        queue: &str,
        bindings: &[&str],
        handler: F,
    ) -> Result<(), BusError>
    where
        F: Fn(Envelope) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<(), HandlerError>> + Send + 'static,
    {
        let handler: Handler = Arc::new(move |env| Box::pin(handler(env)));
        self.0
            .subscribe(Subscription {
                queue: queue.to_owned(),
                bindings: bindings.iter().map(|b| (*b).to_owned()).collect(),
                handler,
                db,
                kind: QueueKind::Shared,
            })
            .await
    }
}

impl std::fmt::Debug for Bus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_tuple("Bus").field(&self.0.name()).finish()
    }
}

//! The RabbitMQ broker against a real RabbitMQ (`MARIMO_TEST_RABBITMQ_URL`):
//! outbox → relay → `marimo.events` → quorum queue → idempotent consumer,
//! a network cut, poison messages and their dead-letter queue.
//!
//! Every test uses its own queue and its own event type
//! (`shop.t<uuid>.paid`), so tests running at once never see each other's
//! events, and deletes its queues at the end.

use std::{
    net::SocketAddr,
    sync::{
        Arc, Mutex,
        atomic::{AtomicBool, AtomicUsize, Ordering},
    },
    time::Duration,
};

use lapin::{
    BasicProperties, Connection, ConnectionProperties,
    options::{
        BasicGetOptions, BasicPublishOptions, QueueBindOptions, QueueDeclareOptions,
        QueueDeleteOptions,
    },
    types::{AMQPValue, FieldTable},
};
use marimo_platform::{
    bus::{
        Broker, Bus, Envelope, HandlerError, dlq, inbox,
        rabbit::{self, RabbitBroker},
        retry::DEFERRED_ATTEMPTS,
    },
    config::Settings,
    ids::new_id,
    service::{ServiceContext, ServiceName},
};
use marimo_testkit::{
    Backend, backends, context_on, eventually_within, rabbitmq_url, scrape::sample,
};
use serde_json::json;
use tokio::{
    net::{TcpListener, TcpStream},
    sync::watch,
};
use tokio_util::sync::CancellationToken;

use crate::support::{PATIENCE, count_reaches, scalar};

/// A publisher (shop) and a consumer (accounting, on its own queue) over
/// one RabbitMQ broker. The consumer counts each applied event in
/// `effects`; a `{"poison": true}` payload is deferred (a precondition
/// that never comes) until `accept_poison`, and its first attempt waits
/// for `release_poison`.
struct Rig {
    broker: Arc<RabbitBroker>,
    publisher: ServiceContext,
    consumer: ServiceContext,
    /// Settings whose `RABBITMQ_URL` is the real broker (for `dlq`).
    settings: Settings,
    url: String,
    queue: String,
    event_type: String,
    calls: Arc<AtomicUsize>,
    poison_attempts: Arc<AtomicUsize>,
    accept_poison: Arc<AtomicBool>,
    release_poison: watch::Sender<bool>,
}

async fn rig(backend: &Backend, url: &str, broker_url: &str) -> Rig {
    // Warnings and errors (or `RUST_LOG`) show in a failing test's output.
    let filter = std::env::var("RUST_LOG").unwrap_or_else(|_| "warn".into());
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_test_writer()
        .try_init();
    let _ = tracing_subscriber::fmt()
        .with_env_filter(std::env::var("RUST_LOG").unwrap_or_default())
        .with_test_writer()
        .try_init();
    let token = new_id().replace('-', "");
    let queue = format!("test-{token}");
    let event_type = format!("shop.t{token}.paid");
    let broker = RabbitBroker::start(broker_url, CancellationToken::new())
        .await
        .unwrap();
    assert!(
        broker.is_connected(),
        "RabbitMQ at {broker_url} is not reachable"
    );
    let bus = Bus::new(broker.clone());
    let settings = backend.settings(&[("RABBITMQ_URL", url)]).await;
    let publisher = context_on(ServiceName::Shop, settings.clone(), bus.clone()).await;
    let consumer = context_on(ServiceName::Accounting, settings.clone(), bus.clone()).await;
    let db = consumer.db().clone();
    sqlx::query("CREATE TABLE effects (event_id TEXT PRIMARY KEY, applied BIGINT NOT NULL)")
        .execute(db.pool())
        .await
        .unwrap();
    let calls = Arc::new(AtomicUsize::new(0));
    let poison_attempts = Arc::new(AtomicUsize::new(0));
    let accept_poison = Arc::new(AtomicBool::new(false));
    let (release_poison, released) = watch::channel(false);
    let binding = format!("shop.t{token}.*");
    let (h_db, h_calls, h_attempts, h_accept) = (
        db.clone(),
        calls.clone(),
        poison_attempts.clone(),
        accept_poison.clone(),
    );
    bus.subscribe(&db, &queue, &[binding.as_str()], move |env: Envelope| {
        let (db, calls, attempts, accept) = (
            h_db.clone(),
            h_calls.clone(),
            h_attempts.clone(),
            h_accept.clone(),
        );
        let mut released = released.clone();
        async move {
            calls.fetch_add(1, Ordering::SeqCst);
            if env.payload["poison"] == true && !accept.load(Ordering::SeqCst) {
                // Longer than `count_reaches` waits: a consumer stuck behind
                // this message fails the test rather than being slow.
                if attempts.fetch_add(1, Ordering::SeqCst) == 0 {
                    let _ =
                        tokio::time::timeout(Duration::from_secs(90), released.wait_for(|r| *r))
                            .await;
                }
                return Err(HandlerError::Deferred("poison payload".into()));
            }
            let Some(mut tx) = inbox::begin(&db, "accounting", &env.id).await? else {
                return Ok(());
            };
            // A plain INSERT: a second application would violate the key.
            sqlx::query("INSERT INTO effects (event_id, applied) VALUES ($1, 1)")
                .bind(&env.id)
                .execute(&mut *tx)
                .await?;
            tx.commit().await?;
            Ok(())
        }
    })
    .await
    .unwrap();
    Rig {
        broker,
        publisher,
        consumer,
        settings,
        url: url.to_owned(),
        queue,
        event_type,
        calls,
        poison_attempts,
        accept_poison,
        release_poison,
    }
}

impl Rig {
    async fn publish(&self, n: usize, payload: serde_json::Value) {
        for _ in 0..n {
            let mut tx = self.publisher.db().begin().await.unwrap();
            let env = Envelope::new("shop", &self.event_type, payload.clone());
            self.publisher.outbox.publish(&mut tx, &env).await.unwrap();
            tx.commit().await.unwrap();
        }
        self.publisher.outbox.wake();
    }

    /// Stops the broker, then deletes the queues (in that order: a live
    /// consumer would re-declare a deleted queue).
    async fn finish(self) {
        self.broker.shutdown().await;
        delete_queues(&self.url, &self.queue).await;
    }
}

pub(crate) async fn delete_queues(url: &str, queue: &str) {
    let conn = Connection::connect(url, ConnectionProperties::default())
        .await
        .unwrap();
    let channel = conn.create_channel().await.unwrap();
    for q in [queue.to_owned(), rabbit::dlq_name(queue)] {
        channel
            .queue_delete(q.as_str().into(), QueueDeleteOptions::default())
            .await
            .unwrap();
    }
    let _ = conn.close(200, "OK".into()).await;
}

const UNSENT: &str = "SELECT COUNT(*) FROM outbox WHERE sent_at IS NULL";
const EFFECTS: &str = "SELECT COUNT(*) FROM effects";
const PROCESSED: &str = "SELECT COUNT(*) FROM processed_events";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn events_are_applied_exactly_once_even_when_redelivered() {
    let Some(url) = rabbitmq_url() else { return };
    for backend in backends() {
        let r = rig(&backend, &url, &url).await;
        r.publish(50, json!({"order": 1})).await;
        count_reaches(&r.consumer, EFFECTS, 50).await;
        count_reaches(&r.publisher, UNSENT, 0).await;

        // As if the relay had crashed before marking them sent.
        sqlx::query("UPDATE outbox SET sent_at = NULL")
            .execute(r.publisher.db().pool())
            .await
            .unwrap();
        r.publisher.outbox.wake();
        count_reaches(&r.publisher, UNSENT, 0).await;
        let calls = r.calls.clone();
        eventually_within(
            PATIENCE,
            "every redelivery reached the handler",
            async || calls.load(Ordering::SeqCst) == 100,
        )
        .await;
        assert_eq!(scalar(&r.consumer, EFFECTS).await, 50, "{}", backend.name());
        assert_eq!(scalar(&r.consumer, PROCESSED).await, 50);
        r.finish().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_network_cut_loses_nothing_and_the_broker_reconnects() {
    let Some(url) = rabbitmq_url() else { return };
    for backend in backends() {
        let proxy = Proxy::start(&url).await;
        let r = rig(&backend, &url, &proxy.url).await;
        // The consumer is up and running before the cut.
        r.publish(10, json!({"order": 2})).await;
        count_reaches(&r.consumer, EFFECTS, 10).await;

        proxy.cut();
        let broker = r.broker.clone();
        eventually_within(PATIENCE, "the broker noticed the cut", async || {
            !broker.is_connected()
        })
        .await;
        r.publish(1000, json!({"order": 2})).await;
        // Let the relay try (and fail) a few times.
        tokio::time::sleep(Duration::from_millis(300)).await;
        assert_eq!(scalar(&r.publisher, UNSENT).await, 1000);
        assert_eq!(scalar(&r.consumer, EFFECTS).await, 10);

        proxy.restore();
        eventually_within(PATIENCE, "the broker reconnected", async || {
            broker.is_connected()
        })
        .await;
        // Nothing wakes the relay but the broker's return: it must not
        // sleep out a long backoff (a deadline, not a measurement; the
        // fault bench measures it).
        let consumer = &r.consumer;
        eventually_within(
            Duration::from_secs(15),
            "the relay resumed on its own",
            async || scalar(consumer, EFFECTS).await > 10,
        )
        .await;
        count_reaches(&r.consumer, EFFECTS, 1010).await;
        count_reaches(&r.publisher, UNSENT, 0).await;
        assert_eq!(
            scalar(&r.consumer, PROCESSED).await,
            1010,
            "{}",
            backend.name()
        );
        r.finish().await;
        proxy.stop.cancel();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_poison_event_is_retried_dead_lettered_and_replayed() {
    let Some(url) = rabbitmq_url() else { return };
    for backend in backends() {
        let r = rig(&backend, &url, &url).await;
        r.publish(3, json!({"order": 3})).await;
        r.publish(1, json!({"poison": true})).await;
        r.publish(3, json!({"order": 4})).await;
        // The poison's first attempt blocks until the six others are
        // applied: a consumer that handled one delivery at a time would
        // never get there.
        count_reaches(&r.consumer, EFFECTS, 6).await;
        r.release_poison.send_replace(true);

        let settings = r.settings.clone();
        let queue = r.queue.clone();
        eventually_within(PATIENCE, "the poison reached the DLQ", async || {
            dlq::list(&settings, &queue).await.unwrap().len() == 1
        })
        .await;
        let letters = dlq::list(&r.settings, &r.queue).await.unwrap();
        let letter = &letters[0];
        assert_eq!(letter.event_type, r.event_type);
        assert_eq!(letter.attempts, i64::from(DEFERRED_ATTEMPTS));
        assert_eq!(letter.reason, "deferred");
        assert!(letter.error.contains("poison"), "{}", letter.error);
        assert!(!letter.failed_at.is_empty());
        assert_eq!(letter.envelope["id"], letter.event_id.as_str());
        assert_eq!(
            r.poison_attempts.load(Ordering::SeqCst),
            DEFERRED_ATTEMPTS as usize
        );
        // Listing is a peek: the letter is still there.
        assert_eq!(dlq::list(&r.settings, &r.queue).await.unwrap(), letters);
        // The consumer's /metrics shows the failed attempts and the depth
        // of its dead-letter queue.
        let metrics = r.consumer.metrics.clone();
        let shows = |name: &'static str, labels: Vec<(&'static str, String)>, want: f64| {
            let metrics = metrics.clone();
            async move {
                let labels: Vec<(&str, &str)> =
                    labels.iter().map(|(k, v)| (*k, v.as_str())).collect();
                eventually_within(PATIENCE, &format!("{name} = {want}"), async || {
                    sample(&metrics.scrape().await, name, &labels) == Some(want)
                })
                .await;
            }
        };
        let queue_labels = vec![
            ("service", "accounting".to_owned()),
            ("queue", r.queue.clone()),
        ];
        let mut labels = queue_labels.clone();
        labels.push(("type", r.event_type.clone()));
        shows("dlq_depth", queue_labels.clone(), 1.0).await;
        let mut dead_labels = queue_labels.clone();
        dead_labels.push(("reason", "deferred".to_owned()));
        shows("events_dead_lettered_total", dead_labels, 1.0).await;
        shows("consumer_paused", queue_labels.clone(), 0.0).await;
        shows(
            "events_failed_total",
            labels.clone(),
            f64::from(DEFERRED_ATTEMPTS),
        )
        .await;
        shows("events_consumed_total", labels.clone(), 6.0).await;

        r.accept_poison.store(true, Ordering::SeqCst);
        assert_eq!(dlq::replay(&r.settings, &r.queue).await.unwrap(), 1);
        count_reaches(&r.consumer, EFFECTS, 7).await;
        assert!(dlq::list(&r.settings, &r.queue).await.unwrap().is_empty());
        assert_eq!(dlq::replay(&r.settings, &r.queue).await.unwrap(), 0);
        shows("dlq_depth", queue_labels, 0.0).await;
        shows("events_consumed_total", labels, 7.0).await;
        assert_eq!(
            scalar(&r.consumer, PROCESSED).await,
            7,
            "{}",
            backend.name()
        );
        r.finish().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_message_that_is_not_an_envelope_is_dead_lettered_at_once() {
    let Some(url) = rabbitmq_url() else { return };
    let r = rig(&Backend::Sqlite, &url, &url).await;
    let conn = Connection::connect(&url, ConnectionProperties::default())
        .await
        .unwrap();
    let channel = conn.create_channel().await.unwrap();
    channel
        .basic_publish(
            "".into(),
            r.queue.as_str().into(),
            BasicPublishOptions::default(),
            b"not json",
            BasicProperties::default().with_message_id("garbage-1".into()),
        )
        .await
        .unwrap();
    let (settings, queue) = (r.settings.clone(), r.queue.clone());
    eventually_within(PATIENCE, "the garbage reached the DLQ", async || {
        dlq::list(&settings, &queue).await.unwrap().len() == 1
    })
    .await;
    let letter = dlq::list(&r.settings, &r.queue).await.unwrap().remove(0);
    assert_eq!(letter.event_id, "garbage-1");
    assert_eq!(letter.reason, "unparseable");
    assert_eq!(letter.envelope, json!("not json"));
    assert!(
        letter.error.contains("not a valid envelope"),
        "{}",
        letter.error
    );
    assert_eq!(r.calls.load(Ordering::SeqCst), 0);
    let _ = conn.close(200, "OK".into()).await;
    r.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rabbitmq_dead_letters_a_message_that_is_never_settled() {
    let Some(url) = rabbitmq_url() else { return };
    // The broker declares the queue (with its DLX and delivery limit) and
    // stops; then a bare client keeps returning the message unsettled, as
    // a consumer that crashes on it would.
    let broker = RabbitBroker::start(&url, CancellationToken::new())
        .await
        .unwrap();
    let queue = format!("test-{}", new_id().replace('-', ""));
    let db = marimo_testkit::context(ServiceName::Shop, Backend::Sqlite.settings(&[]).await)
        .await
        .db()
        .clone();
    Bus::new(broker.clone())
        .subscribe(&db, &queue, &[], |_env: Envelope| async { Ok(()) })
        .await
        .unwrap();
    broker.shutdown().await;

    let conn = Connection::connect(&url, ConnectionProperties::default())
        .await
        .unwrap();
    let channel = conn.create_channel().await.unwrap();
    channel
        .basic_publish(
            "".into(),
            queue.as_str().into(),
            BasicPublishOptions::default(),
            b"{}",
            BasicProperties::default().with_message_id("crasher-1".into()),
        )
        .await
        .unwrap();
    let mut deliveries = 0;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    while deliveries <= rabbit::DELIVERY_LIMIT + 1 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "after {deliveries} deliveries"
        );
        let got = channel
            .basic_get(queue.as_str().into(), BasicGetOptions { no_ack: false })
            .await
            .unwrap();
        let Some(message) = got else {
            // Returned messages come back asynchronously; gone for good
            // once the DLQ has it.
            if !dlq::list(&settings_for(&url).await, &queue)
                .await
                .unwrap()
                .is_empty()
            {
                break;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
            continue;
        };
        deliveries += 1;
        message
            .delivery
            .acker
            .nack(lapin::options::BasicNackOptions {
                multiple: false,
                requeue: true,
            })
            .await
            .unwrap();
    }
    assert_eq!(deliveries, rabbit::DELIVERY_LIMIT + 1);
    let letters = dlq::list(&settings_for(&url).await, &queue).await.unwrap();
    assert_eq!(letters.len(), 1);
    assert_eq!(letters[0].event_id, "crasher-1");
    assert_eq!(letters[0].reason, "delivery_limit");
    assert!(
        letters[0].error.contains("delivery_limit"),
        "{}",
        letters[0].error
    );
    let _ = conn.close(200, "OK".into()).await;
    delete_queues(&url, &queue).await;
}

async fn settings_for(url: &str) -> Settings {
    Backend::Sqlite.settings(&[("RABBITMQ_URL", url)]).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn published_messages_carry_the_envelope_contract() {
    let Some(url) = rabbitmq_url() else { return };
    let broker = RabbitBroker::start(&url, CancellationToken::new())
        .await
        .unwrap();
    let token = new_id().replace('-', "");
    let event_type = format!("shop.t{token}.paid");
    let queue = format!("test-{token}");
    let conn = Connection::connect(&url, ConnectionProperties::default())
        .await
        .unwrap();
    let channel = conn.create_channel().await.unwrap();
    channel
        .queue_declare(
            queue.as_str().into(),
            QueueDeclareOptions {
                exclusive: true,
                ..QueueDeclareOptions::default()
            },
            FieldTable::default(),
        )
        .await
        .unwrap();
    channel
        .queue_bind(
            queue.as_str().into(),
            rabbit::EXCHANGE.into(),
            event_type.as_str().into(),
            QueueBindOptions::default(),
            FieldTable::default(),
        )
        .await
        .unwrap();
    let mut env = Envelope::new("shop", &event_type, json!({"order": 5}));
    env.traceparent = Some("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01".into());
    let outcome = broker.publish(std::slice::from_ref(&env)).await;
    assert_eq!(outcome.confirmed, 1, "{:?}", outcome.error);
    assert!(outcome.error.is_none());

    let got = channel
        .basic_get(queue.as_str().into(), BasicGetOptions { no_ack: true })
        .await
        .unwrap()
        .expect("the event was routed by its type");
    let props = &got.delivery.properties;
    assert_eq!(got.delivery.routing_key.as_str(), event_type);
    assert_eq!(*props.delivery_mode(), Some(2));
    assert_eq!(props.message_id().as_ref().unwrap().as_str(), env.id);
    assert_eq!(props.kind().as_ref().unwrap().as_str(), event_type);
    assert_eq!(
        props.content_type().as_ref().unwrap().as_str(),
        "application/json"
    );
    let headers = props.headers().clone().unwrap_or_default();
    assert_eq!(
        headers.inner().get("traceparent"),
        Some(&AMQPValue::LongString(
            env.traceparent.clone().unwrap().into()
        ))
    );
    let body: Envelope = serde_json::from_slice(&got.delivery.data).unwrap();
    assert_eq!(body, env);

    let _ = conn.close(200, "OK".into()).await;
    broker.shutdown().await;
    // Not connected any more: a publish fails instead of being lost.
    let outcome = broker.publish(std::slice::from_ref(&env)).await;
    assert_eq!(outcome.confirmed, 0);
    assert!(outcome.error.is_some());
}

/// A TCP proxy in front of RabbitMQ that can be cut (open connections are
/// closed, new ones are accepted and dropped at once) and restored.
struct Proxy {
    url: String,
    up: Arc<AtomicBool>,
    /// Cancelled to close the connections opened before a cut.
    epoch: Arc<Mutex<CancellationToken>>,
    stop: CancellationToken,
}

impl Proxy {
    async fn start(url: &str) -> Proxy {
        let upstream = authority(url).to_owned();
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr: SocketAddr = listener.local_addr().unwrap();
        let proxy = Proxy {
            url: url.replacen(&upstream, &addr.to_string(), 1),
            up: Arc::new(AtomicBool::new(true)),
            epoch: Arc::new(Mutex::new(CancellationToken::new())),
            stop: CancellationToken::new(),
        };
        let (up, epoch, stop) = (proxy.up.clone(), proxy.epoch.clone(), proxy.stop.clone());
        tokio::spawn(async move {
            loop {
                let accepted = tokio::select! {
                    () = stop.cancelled() => return,
                    accepted = listener.accept() => accepted,
                };
                let Ok((mut inbound, _)) = accepted else {
                    continue;
                };
                if !up.load(Ordering::SeqCst) {
                    continue; // dropped: the client sees the connection closed
                }
                let cut = epoch.lock().unwrap().clone();
                let upstream = upstream.clone();
                tokio::spawn(async move {
                    let Ok(mut outbound) = TcpStream::connect(&upstream).await else {
                        return;
                    };
                    tokio::select! {
                        _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound) => {}
                        () = cut.cancelled() => {}
                    }
                });
            }
        });
        proxy
    }

    fn cut(&self) {
        self.up.store(false, Ordering::SeqCst);
        let old = std::mem::take(&mut *self.epoch.lock().unwrap());
        old.cancel();
    }

    fn restore(&self) {
        self.up.store(true, Ordering::SeqCst);
    }
}

/// `host:port` of `amqp://user:pass@host:port/vhost`.
fn authority(url: &str) -> &str {
    let rest = url.split_once("://").map_or(url, |(_, r)| r);
    let rest = rest.split('/').next().unwrap_or(rest);
    rest.rsplit_once('@').map_or(rest, |(_, a)| a)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn per_instance_queues_give_every_process_every_event() {
    let Some(url) = rabbitmq_url() else { return };
    let token = new_id().replace('-', "");
    let event_type = format!("shop.t{token}.restocked");
    // Two processes (two connections), each with a per-instance queue.
    let mut seen = Vec::new();
    let mut brokers = Vec::new();
    for _ in 0..2 {
        let broker = RabbitBroker::start(&url, CancellationToken::new())
            .await
            .unwrap();
        let bus = Bus::new(broker.clone());
        let count = Arc::new(AtomicUsize::new(0));
        let c = count.clone();
        bus.subscribe_each_instance("gateway-test", &[event_type.as_str()], move |_env| {
            let c = c.clone();
            async move {
                c.fetch_add(1, Ordering::SeqCst);
                Ok(())
            }
        })
        .await
        .unwrap();
        seen.push(count);
        brokers.push((broker, bus));
    }
    let settings = Backend::Sqlite.settings(&[("RABBITMQ_URL", &url)]).await;
    let publisher = context_on(ServiceName::Shop, settings, brokers[0].1.clone()).await;
    let mut tx = publisher.db().begin().await.unwrap();
    let env = Envelope::new("shop", &event_type, json!({"sku": "A"}));
    publisher.outbox.publish(&mut tx, &env).await.unwrap();
    tx.commit().await.unwrap();
    publisher.outbox.wake();
    eventually_within(PATIENCE, "both instances saw the event", async || {
        seen.iter().all(|c| c.load(Ordering::SeqCst) == 1)
    })
    .await;
    for (broker, _) in brokers {
        broker.shutdown().await;
    }
}

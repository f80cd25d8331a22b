//! Dead-letter tooling: see what a queue gave up on, and send it back —
//! for the CLI (`marimo events dlq`, the free functions [`list`] and
//! [`replay`]) and the worker's API and screen ([`DeadLetters`]).
//!
//! - RabbitMQ (`RABBITMQ_URL` set): dead letters are the messages of
//!   `Q.dlq`. Listing takes each with `basic.get` and puts them all back
//!   (a peek); replaying republishes each chosen one to `Q` through the
//!   default exchange, waits for the confirm, then acks it off `Q.dlq`
//!   (the others are put back). Both work on what is in the DLQ while
//!   they run; a message being dead-lettered at that moment may show up in
//!   the next run only.
//! - Embedded: dead letters are rows of `dead_letters` in the consuming
//!   service's database. Replaying moves each chosen row back into that
//!   service's outbox under the same envelope id, in one transaction with
//!   deleting the row; its relay publishes it again, and consumers that
//!   already applied the event skip it (`processed_events`).
//!
//! Which service consumes a queue (embedded): the seed's queues
//! (`email_queue`, `audit_queue`, `notification_queue`, `events_queue`)
//! belong to the worker; any other queue is named after its service.
//! These tables are the bus's, not the service's business data: the
//! tooling reads them in every consuming service's database, as the CLI
//! always has.

use std::{
    collections::{HashMap, HashSet},
    str::FromStr,
    sync::Arc,
    time::Duration,
};

use lapin::{
    BasicProperties, Channel, Connection,
    message::BasicGetMessage,
    options::{
        BasicAckOptions, BasicGetOptions, BasicNackOptions, BasicPublishOptions,
        ConfirmSelectOptions, QueueDeclareOptions,
    },
    types::{AMQPValue, FieldTable, ShortString},
};
use serde::Serialize;
use serde_json::Value;
use sqlx::Row;

use super::{
    BusError, Envelope,
    rabbit::{self, guard},
};
use crate::{config::Settings, db::Db, service::ServiceName};

/// One event a queue's consumer gave up on.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DeadLetter {
    pub event_id: String,
    pub event_type: String,
    /// Why it was given up on: `permanent` (the handler said it can never
    /// succeed), `deferred` (retries ran out), `unparseable` (not an
    /// envelope), or RabbitMQ's own reason (`delivery_limit`, ...).
    pub reason: String,
    /// The handler's error, e.g. `PERIOD_CLOSED: ...`.
    pub error: String,
    /// Handler attempts made before giving up.
    pub attempts: i64,
    /// When its first attempt failed (RFC 3339), empty when unknown.
    pub failed_at: String,
    /// The envelope as JSON (a string when the message was not JSON).
    pub envelope: Value,
}

/// A queue and the number of dead letters it holds.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct QueueDepth {
    pub queue: String,
    pub depth: u64,
}

/// The shared queues the services consume: one named after each
/// consuming service, and the seed's queues (the worker's).
pub const QUEUES: [&str; 8] = [
    "accounting",
    "factory",
    "shop",
    "users",
    "email_queue",
    "audit_queue",
    "notification_queue",
    "events_queue",
];

/// The dead letters of `queue`, oldest first; nothing is consumed.
pub async fn list(settings: &Settings, queue: &str) -> Result<Vec<DeadLetter>, BusError> {
    let tool = DeadLetters::new(Arc::new(settings.clone()), None);
    let result = tool.list(queue).await;
    tool.close().await;
    result
}

/// Sends every dead letter of `queue` back to be consumed again; returns
/// how many were sent.
pub async fn replay(settings: &Settings, queue: &str) -> Result<usize, BusError> {
    let tool = DeadLetters::new(Arc::new(settings.clone()), None);
    let result = tool.replay(queue, None).await;
    tool.close().await;
    result
}

/// The service whose database holds `queue`'s embedded dead letters.
pub fn owning_service(queue: &str) -> Result<ServiceName, BusError> {
    if rabbit::SEED_QUEUES.contains(&queue) {
        return Ok(ServiceName::Worker);
    }
    match ServiceName::from_str(queue) {
        Ok(name) if name.has_database() => Ok(name),
        _ => Err(BusError::Invalid(format!(
            "no service consumes queue '{queue}': expected a service with a database or one of {}",
            rabbit::SEED_QUEUES.join(", ")
        ))),
    }
}

/// The dead letters of every queue, on whichever broker the settings
/// name: what the worker's `/api/worker/dead-letters` serves. With the
/// embedded broker it opens each consuming service's database once (its
/// own is given) and keeps it; [`DeadLetters::close`] closes them.
pub struct DeadLetters {
    settings: Arc<Settings>,
    /// Service databases by service (the caller's own included).
    dbs: tokio::sync::Mutex<HashMap<ServiceName, Db>>,
    own: Option<ServiceName>,
}

impl DeadLetters {
    /// `own`: the calling service and its database, used rather than a
    /// second pool on it.
    pub fn new(settings: Arc<Settings>, own: Option<(ServiceName, Db)>) -> Self {
        let mut dbs = HashMap::new();
        let own = own.map(|(name, db)| {
            dbs.insert(name, db);
            name
        });
        Self {
            settings,
            dbs: tokio::sync::Mutex::new(dbs),
            own,
        }
    }

    /// Every queue of [`QUEUES`] that exists, with its depth (RabbitMQ:
    /// messages ready in `Q.dlq`).
    pub async fn depths(&self) -> Result<Vec<QueueDepth>, BusError> {
        match &self.settings.rabbitmq_url {
            Some(url) => rabbit_depths(url, &QUEUES).await,
            None => {
                let mut out = Vec::with_capacity(QUEUES.len());
                for queue in QUEUES {
                    let db = self.db_of(queue).await?;
                    let n: i64 =
                        sqlx::query_scalar("SELECT COUNT(*) FROM dead_letters WHERE queue = $1")
                            .bind(queue)
                            .fetch_one(db.pool())
                            .await?;
                    out.push(QueueDepth {
                        queue: queue.to_owned(),
                        depth: u64::try_from(n).unwrap_or(0),
                    });
                }
                Ok(out)
            }
        }
    }

    /// The dead letters of `queue`, oldest first; nothing is consumed.
    pub async fn list(&self, queue: &str) -> Result<Vec<DeadLetter>, BusError> {
        rabbit::validate_queue(queue)?;
        match &self.settings.rabbitmq_url {
            Some(url) => rabbit_list(url, queue).await,
            None => embedded_list(&self.db_of(queue).await?, queue).await,
        }
    }

    /// Sends the dead letters of `queue` back to be consumed again — all
    /// of them, or those whose event id is in `ids`; returns how many were
    /// sent.
    pub async fn replay(&self, queue: &str, ids: Option<&[String]>) -> Result<usize, BusError> {
        rabbit::validate_queue(queue)?;
        let ids: Option<HashSet<&str>> = ids.map(|ids| ids.iter().map(String::as_str).collect());
        match &self.settings.rabbitmq_url {
            Some(url) => rabbit_replay(url, queue, ids.as_ref()).await,
            None => embedded_replay(&self.db_of(queue).await?, queue, ids.as_ref())
                .await
                .map_err(BusError::from),
        }
    }

    /// Closes the databases this opened (not the caller's own).
    pub async fn close(&self) {
        let dbs = std::mem::take(&mut *self.dbs.lock().await);
        for (name, db) in dbs {
            if Some(name) != self.own {
                db.close().await;
            }
        }
    }

    /// The database holding `queue`'s embedded dead letters.
    async fn db_of(&self, queue: &str) -> Result<Db, BusError> {
        let service = owning_service(queue)?;
        let mut dbs = self.dbs.lock().await;
        if let Some(db) = dbs.get(&service) {
            return Ok(db.clone());
        }
        let settings = &self.settings;
        let db = Db::connect(service.as_str(), &settings.database, settings.migrate)
            .await
            .map_err(|e| BusError::Unavailable(e.to_string()))?;
        // A database the service never started on has no bus tables yet.
        super::schema::prepare(&db)
            .await
            .map_err(|e| BusError::Unavailable(e.to_string()))?;
        dbs.insert(service, db.clone());
        Ok(db)
    }
}

async fn embedded_list(db: &Db, queue: &str) -> Result<Vec<DeadLetter>, BusError> {
    let rows = sqlx::query(
        "SELECT event_id, event_type, envelope, error, attempts, failed_at, reason FROM dead_letters
         WHERE queue = $1 ORDER BY failed_at, event_id",
    )
    .bind(queue)
    .fetch_all(db.pool())
    .await?;
    rows.iter()
        .map(|row| {
            let text: String = row.try_get("envelope")?;
            Ok(DeadLetter {
                event_id: row.try_get("event_id")?,
                event_type: row.try_get("event_type")?,
                reason: row.try_get("reason")?,
                error: row.try_get("error")?,
                attempts: row.try_get("attempts")?,
                failed_at: row.try_get("failed_at")?,
                envelope: serde_json::from_str(&text).unwrap_or(Value::String(text)),
            })
        })
        .collect()
}

async fn embedded_replay(
    db: &Db,
    queue: &str,
    ids: Option<&HashSet<&str>>,
) -> Result<usize, sqlx::Error> {
    let mut tx = db.begin().await?;
    let rows = sqlx::query(
        "SELECT event_id, event_type, envelope FROM dead_letters WHERE queue = $1 ORDER BY event_id",
    )
    .bind(queue)
    .fetch_all(&mut *tx)
    .await?;
    let mut replayed = 0;
    for row in &rows {
        let event_id: String = row.try_get("event_id")?;
        if ids.is_some_and(|ids| !ids.contains(event_id.as_str())) {
            continue;
        }
        let event_type: String = row.try_get("event_type")?;
        let envelope: String = row.try_get("envelope")?;
        let created_at = serde_json::from_str::<Envelope>(&envelope)
            .map(|e| e.occurred_at)
            .unwrap_or_else(|_| crate::clock::now_text());
        // Same id as before: if this outbox already relayed it once (an
        // earlier replay), it is simply marked unsent again.
        sqlx::query(
            "INSERT INTO outbox (id, event_type, envelope, created_at, attempts) VALUES ($1, $2, $3, $4, 0)
             ON CONFLICT (id) DO UPDATE SET sent_at = NULL, attempts = 0, last_error = NULL",
        )
        .bind(&event_id)
        .bind(&event_type)
        .bind(&envelope)
        .bind(&created_at)
        .execute(&mut *tx)
        .await?;
        sqlx::query("DELETE FROM dead_letters WHERE queue = $1 AND event_id = $2")
            .bind(queue)
            .bind(&event_id)
            .execute(&mut *tx)
            .await?;
        replayed += 1;
    }
    tx.commit().await?;
    if replayed > 0 {
        tracing::info!(queue, replayed, "dead letters moved back to the outbox");
    }
    Ok(replayed)
}

/// Upper bound of messages one command takes from a DLQ.
const MAX_MESSAGES: usize = 100_000;
/// How long `list` waits for the messages it put back to be ready again.
const REQUEUE_PATIENCE: Duration = Duration::from_secs(5);

/// A channel on a fresh connection to inspect `Q.dlq` (an error when it
/// does not exist).
async fn rabbit_dlq(url: &str, queue: &str) -> Result<(Connection, Channel), BusError> {
    let conn = rabbit::open(url).await?;
    let channel = guard(&conn, conn.create_channel())
        .await
        .map_err(|e| BusError::Unavailable(e.to_string()))?;
    ready_count(&conn, &channel, &rabbit::dlq_name(queue)).await?;
    Ok((conn, channel))
}

/// Messages ready in `queue` (not counting unacked ones).
async fn ready_count(conn: &Connection, channel: &Channel, queue: &str) -> Result<u32, BusError> {
    let passive = QueueDeclareOptions {
        passive: true,
        ..QueueDeclareOptions::default()
    };
    guard(
        conn,
        channel.queue_declare(queue.into(), passive, FieldTable::default()),
    )
    .await
    .map(|q| q.message_count())
    .map_err(|e| BusError::Invalid(format!("queue {queue}: {e}")))
}

/// The depth of each of `queues`' DLQ that exists, on one connection.
async fn rabbit_depths(url: &str, queues: &[&str]) -> Result<Vec<QueueDepth>, BusError> {
    let conn = rabbit::open(url).await?;
    let mut out = Vec::with_capacity(queues.len());
    let mut result = Ok(());
    for queue in queues {
        // A passive declare of a missing queue closes its channel: one
        // channel per queue.
        let channel = match guard(&conn, conn.create_channel()).await {
            Ok(c) => c,
            Err(e) => {
                result = Err(BusError::Unavailable(e.to_string()));
                break;
            }
        };
        if let Ok(n) = ready_count(&conn, &channel, &rabbit::dlq_name(queue)).await {
            out.push(QueueDepth {
                queue: (*queue).to_owned(),
                depth: u64::from(n),
            });
        }
        if channel.status().connected() {
            let _ = guard(&conn, channel.close(200, "OK".into())).await;
        }
        if !conn.status().connected() {
            result = Err(BusError::Unavailable("RabbitMQ connection lost".into()));
            break;
        }
    }
    let _ = guard(&conn, conn.close(200, "OK".into())).await;
    result.map(|()| out)
}

async fn rabbit_list(url: &str, queue: &str) -> Result<Vec<DeadLetter>, BusError> {
    let (conn, channel) = rabbit_dlq(url, queue).await?;
    let dlq = rabbit::dlq_name(queue);
    let mut letters = Vec::new();
    let mut last_tag = None;
    // Until the queue has nothing ready: what we took stays unacked on
    // this channel, so every message is seen once.
    let result = async {
        while letters.len() < MAX_MESSAGES {
            let get = channel.basic_get(dlq.as_str().into(), BasicGetOptions { no_ack: false });
            let got = guard(&conn, get)
                .await
                .map_err(|e| BusError::Unavailable(e.to_string()))?;
            let Some(message) = got else { break };
            last_tag = Some(message.delivery.delivery_tag);
            letters.push(dead_letter_of(&message));
        }
        Ok::<_, BusError>(())
    }
    .await;
    if let Some(tag) = last_tag {
        let nack = channel.basic_nack(
            tag,
            BasicNackOptions {
                multiple: true,
                requeue: true,
            },
        );
        let _ = guard(&conn, nack).await;
        // The queue takes them back asynchronously; a `list` or `replay`
        // right after this one must find them ready, so wait (bounded).
        let deadline = tokio::time::Instant::now() + REQUEUE_PATIENCE;
        while tokio::time::Instant::now() < deadline {
            match ready_count(&conn, &channel, &dlq).await {
                Ok(n) if n as usize >= letters.len() => break,
                Ok(_) => tokio::time::sleep(Duration::from_millis(20)).await,
                Err(_) => break,
            }
        }
    }
    let _ = guard(&conn, channel.close(200, "OK".into())).await;
    let _ = guard(&conn, conn.close(200, "OK".into())).await;
    result.map(|()| letters)
}

async fn rabbit_replay(
    url: &str,
    queue: &str,
    ids: Option<&HashSet<&str>>,
) -> Result<usize, BusError> {
    let (conn, channel) = rabbit_dlq(url, queue).await?;
    let result = async {
        let unavailable = |e: lapin::Error| BusError::Unavailable(e.to_string());
        guard(
            &conn,
            channel.confirm_select(ConfirmSelectOptions::default()),
        )
        .await
        .map_err(unavailable)?;
        // The target must exist: the default exchange drops a message for
        // a missing queue (mandatory below would only report it).
        ready_count(&conn, &channel, queue).await?;
        let dlq = rabbit::dlq_name(queue);
        let mut replayed = 0;
        // A replayed message that fails again comes back to the DLQ while
        // this runs: seeing a body twice means everything was moved once.
        let mut seen = HashSet::new();
        // Messages not chosen stay unacked on this channel (so `basic.get`
        // moves on) and are put back at the end.
        let mut kept = Vec::new();
        let put_back = BasicNackOptions {
            multiple: false,
            requeue: true,
        };
        while replayed + kept.len() < MAX_MESSAGES {
            let get = channel.basic_get(dlq.as_str().into(), BasicGetOptions { no_ack: false });
            let got = guard(&conn, get).await.map_err(unavailable)?;
            let Some(message) = got else { break };
            let delivery = &message.delivery;
            if !seen.insert(delivery.data.clone()) {
                let _ = guard(&conn, delivery.acker.nack(put_back)).await;
                break;
            }
            if let Some(ids) = ids
                && !ids.contains(dead_letter_of(&message).event_id.as_str())
            {
                kept.push(message);
                continue;
            }
            let publish = channel.basic_publish(
                "".into(),
                queue.into(),
                BasicPublishOptions {
                    mandatory: true,
                    ..BasicPublishOptions::default()
                },
                &delivery.data,
                replay_properties(&delivery.properties),
            );
            let confirm = guard(&conn, publish).await.map_err(unavailable)?;
            let confirm = guard(&conn, confirm).await.map_err(unavailable)?;
            let routed = confirm.is_ack() && confirm.take_message().is_none();
            if !routed {
                let _ = guard(&conn, delivery.acker.nack(put_back)).await;
                return Err(BusError::Refused(format!(
                    "RabbitMQ did not take the replayed message for {queue}"
                )));
            }
            guard(&conn, delivery.acker.ack(BasicAckOptions::default()))
                .await
                .map_err(unavailable)?;
            replayed += 1;
        }
        for message in kept {
            let _ = guard(&conn, message.delivery.acker.nack(put_back)).await;
        }
        Ok(replayed)
    }
    .await;
    let _ = guard(&conn, channel.close(200, "OK".into())).await;
    let _ = guard(&conn, conn.close(200, "OK".into())).await;
    if let Ok(n) = result
        && n > 0
    {
        tracing::info!(queue, replayed = n, "dead letters moved back to the queue");
    }
    result
}

/// The original properties without the dead-lettering headers, so the
/// replayed message starts afresh.
fn replay_properties(props: &BasicProperties) -> BasicProperties {
    let headers: FieldTable = props
        .headers()
        .as_ref()
        .map(|h| {
            h.inner()
                .iter()
                .filter(|(k, _)| !k.as_str().starts_with("x-"))
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect::<std::collections::BTreeMap<_, _>>()
                .into()
        })
        .unwrap_or_default();
    props.clone().with_delivery_mode(2).with_headers(headers)
}

fn dead_letter_of(message: &BasicGetMessage) -> DeadLetter {
    let delivery = &message.delivery;
    let props = &delivery.properties;
    let envelope: Value = serde_json::from_slice(&delivery.data)
        .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&delivery.data).into_owned()));
    let headers = props.headers().clone().unwrap_or_default();
    let header = |k: &str| headers.inner().get(k);
    let text = |k: &str| header(k).and_then(amqp_text);
    // Dead-lettered by RabbitMQ itself (delivery limit, or our fallback
    // reject): the reason is in the first x-death entry.
    let death = header("x-death")
        .and_then(|v| v.as_array())
        .and_then(|a| a.as_slice().first())
        .and_then(|v| v.as_field_table())
        .cloned();
    let death_field = |k: &str| death.as_ref().and_then(|d| d.inner().get(k).cloned());
    let short = |s: &Option<ShortString>| s.as_ref().map(|s| s.to_string());
    DeadLetter {
        event_id: envelope["id"]
            .as_str()
            .map(str::to_owned)
            .or_else(|| short(props.message_id()))
            .unwrap_or_default(),
        event_type: envelope["type"]
            .as_str()
            .map(str::to_owned)
            .or_else(|| short(props.kind()))
            .unwrap_or_else(|| delivery.routing_key.to_string()),
        reason: text("x-reason")
            .or_else(|| death_field("reason").and_then(|v| amqp_text(&v)))
            .unwrap_or_else(|| super::retry::reason::PERMANENT.to_owned()),
        error: text("x-error")
            .or_else(|| {
                death_field("reason")
                    .and_then(|v| amqp_text(&v))
                    .map(|r| format!("dead-lettered by RabbitMQ: {r}"))
            })
            .unwrap_or_else(|| "unknown".into()),
        attempts: header("x-attempts")
            .and_then(amqp_int)
            .or_else(|| header("x-delivery-count").and_then(amqp_int))
            .or_else(|| death_field("count").and_then(|v| amqp_int(&v)))
            .unwrap_or(0),
        failed_at: text("x-failed-at")
            .or_else(|| {
                death_field("time")
                    .and_then(|v| v.as_timestamp())
                    .and_then(|t| time::OffsetDateTime::from_unix_timestamp(t as i64).ok())
                    .map(crate::clock::format)
            })
            .unwrap_or_default(),
        envelope,
    }
}

fn amqp_text(v: &AMQPValue) -> Option<String> {
    match v {
        AMQPValue::LongString(s) => Some(s.to_string()),
        AMQPValue::ShortString(s) => Some(s.to_string()),
        _ => None,
    }
}

fn amqp_int(v: &AMQPValue) -> Option<i64> {
    match *v {
        AMQPValue::ShortShortInt(n) => Some(i64::from(n)),
        AMQPValue::ShortShortUInt(n) => Some(i64::from(n)),
        AMQPValue::ShortInt(n) => Some(i64::from(n)),
        AMQPValue::ShortUInt(n) => Some(i64::from(n)),
        AMQPValue::LongInt(n) => Some(i64::from(n)),
        AMQPValue::LongUInt(n) => Some(i64::from(n)),
        AMQPValue::LongLongInt(n) => Some(n),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn queues_map_to_their_consuming_service() {
        assert_eq!(owning_service("email_queue").unwrap(), ServiceName::Worker);
        assert_eq!(owning_service("events_queue").unwrap(), ServiceName::Worker);
        assert_eq!(
            owning_service("accounting").unwrap(),
            ServiceName::Accounting
        );
        assert!(owning_service("gateway").is_err());
        assert!(owning_service("nope").is_err());
    }

    #[test]
    fn replayed_messages_lose_the_dead_letter_headers() {
        let mut h = FieldTable::default();
        h.insert("traceparent".into(), AMQPValue::LongString("00-a".into()));
        h.insert("x-error".into(), AMQPValue::LongString("boom".into()));
        h.insert("x-death".into(), AMQPValue::Void);
        let props = replay_properties(&BasicProperties::default().with_headers(h));
        let kept = props.headers().clone().unwrap_or_default();
        assert!(kept.contains_key("traceparent"));
        assert!(!kept.contains_key("x-error"));
        assert!(!kept.contains_key("x-death"));
        assert_eq!(*props.delivery_mode(), Some(2));
    }
}

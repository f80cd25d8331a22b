//! `webhooks`, `webhook_deliveries`, `webhook_attempts`.

use marimo_platform::{
    db::{Db, Exec},
    tenant::TenantId,
};
use sqlx::{Row, any::AnyRow};

use crate::domain::webhook::NewWebhook;

/// A webhook as shown to admins: never with its secret.
#[derive(Debug, Clone)]
pub struct Webhook {
    pub id: String,
    pub url: String,
    pub event_types: Vec<String>,
    pub created_by: Option<String>,
    pub created_at: String,
}

fn patterns(text: &str) -> Vec<String> {
    // Written by this service from a validated list.
    serde_json::from_str(text).unwrap_or_default()
}

fn webhook(r: &AnyRow) -> Result<Webhook, sqlx::Error> {
    let types: String = r.try_get("event_types")?;
    Ok(Webhook {
        id: r.try_get("id")?,
        url: r.try_get("url")?,
        event_types: patterns(&types),
        created_by: r.try_get("created_by")?,
        created_at: r.try_get("created_at")?,
    })
}

pub async fn insert(
    db: &Db,
    tenant: &TenantId,
    id: &str,
    w: &NewWebhook,
    created_by: &str,
    now: &str,
) -> Result<Webhook, sqlx::Error> {
    let types =
        serde_json::to_string(&w.event_types).map_err(|e| sqlx::Error::Encode(Box::new(e)))?;
    let mut tx = db.tenant(tenant).begin().await?;
    sqlx::query(
        "INSERT INTO webhooks (id, url, event_types, secret, created_by, created_at, tenant_id)
         VALUES ($1, $2, $3, $4, $5, $6, $7)",
    )
    .bind(id)
    .bind(&w.url)
    .bind(&types)
    .bind(&w.secret)
    .bind(created_by)
    .bind(now)
    .bind(tenant.as_str())
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(Webhook {
        id: id.to_owned(),
        url: w.url.clone(),
        event_types: w.event_types.clone(),
        created_by: Some(created_by.to_owned()),
        created_at: now.to_owned(),
    })
}

/// The tenant's live (not deleted) webhooks, oldest first.
pub async fn list(db: &Db, tenant: &TenantId) -> Result<Vec<Webhook>, sqlx::Error> {
    let mut tx = db.tenant(tenant).read().await?;
    let rows = sqlx::query(
        "SELECT id, url, event_types, created_by, created_at FROM webhooks
         WHERE tenant_id = $1 AND deleted_at IS NULL ORDER BY created_at, id",
    )
    .bind(tenant.as_str())
    .fetch_all(&mut *tx)
    .await?;
    rows.iter().map(webhook).collect()
}

/// Deletes a live webhook and cancels its pending deliveries, in one
/// transaction; `false` when there is no such live webhook.
pub async fn delete(db: &Db, tenant: &TenantId, id: &str, now: &str) -> Result<bool, sqlx::Error> {
    let mut tx = db.tenant(tenant).begin().await?;
    let n = sqlx::query(
        "UPDATE webhooks SET deleted_at = $1
         WHERE tenant_id = $3 AND id = $2 AND deleted_at IS NULL",
    )
    .bind(now)
    .bind(id)
    .bind(tenant.as_str())
    .execute(&mut *tx)
    .await?
    .rows_affected();
    if n == 0 {
        tx.rollback().await?;
        return Ok(false);
    }
    sqlx::query(
        "UPDATE webhook_deliveries SET status = 'cancelled', last_error = 'webhook deleted'
         WHERE tenant_id = $2 AND webhook_id = $1 AND status = 'pending'",
    )
    .bind(id)
    .bind(tenant.as_str())
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(true)
}

/// `(id, patterns)` of every live webhook of the tenant, for matching an
/// event of that tenant.
pub async fn live_patterns<'e>(
    ex: impl Exec<'e>,
    tenant: &TenantId,
) -> Result<Vec<(String, Vec<String>)>, sqlx::Error> {
    let rows = sqlx::query(
        "SELECT id, event_types FROM webhooks WHERE tenant_id = $1 AND deleted_at IS NULL",
    )
    .bind(tenant.as_str())
    .fetch_all(ex)
    .await?;
    rows.iter()
        .map(|r| {
            let types: String = r.try_get("event_types")?;
            Ok((r.try_get("id")?, patterns(&types)))
        })
        .collect()
}

pub struct NewDelivery<'a> {
    pub tenant: &'a TenantId,
    pub id: &'a str,
    pub webhook_id: &'a str,
    pub event_id: &'a str,
    pub event_type: &'a str,
    pub payload: &'a str,
    pub now: &'a str,
}

pub async fn insert_delivery<'e>(
    ex: impl Exec<'e>,
    d: &NewDelivery<'_>,
) -> Result<bool, sqlx::Error> {
    let res = sqlx::query(
        "INSERT INTO webhook_deliveries
            (id, webhook_id, event_id, event_type, payload, status, attempts, next_attempt_at, created_at, tenant_id)
         VALUES ($1, $2, $3, $4, $5, 'pending', 0, $6, $6, $7)
         ON CONFLICT (tenant_id, webhook_id, event_id) DO NOTHING",
    )
    .bind(d.id)
    .bind(d.webhook_id)
    .bind(d.event_id)
    .bind(d.event_type)
    .bind(d.payload)
    .bind(d.now)
    .bind(d.tenant.as_str())
    .execute(ex)
    .await?;
    Ok(res.rows_affected() == 1)
}

/// A pending delivery whose time has come, with what sending it needs.
#[derive(Debug, Clone)]
pub struct DueDelivery {
    /// The delivery's tenant: the sender acts on the row in it.
    pub tenant: TenantId,
    pub id: String,
    pub url: String,
    pub secret: String,
    pub event_type: String,
    pub payload: String,
    pub attempts: i64,
    pub next_attempt_at: String,
    pub webhook_deleted: bool,
}

/// Due deliveries of every tenant (the delivery loop is a system job).
pub async fn due(db: &Db, now: &str, limit: i64) -> Result<Vec<DueDelivery>, sqlx::Error> {
    let mut tx = db.all_tenants().read().await?;
    let rows = sqlx::query(
        "SELECT d.tenant_id, d.id, w.url, w.secret, d.event_type, d.payload, d.attempts, d.next_attempt_at,
                w.deleted_at AS webhook_deleted_at
         FROM webhook_deliveries d
         JOIN webhooks w ON w.tenant_id = d.tenant_id AND w.id = d.webhook_id
         WHERE d.status = 'pending' AND d.next_attempt_at <= $1
         ORDER BY d.next_attempt_at, d.id
         LIMIT $2",
    )
    .bind(now)
    .bind(limit)
    .fetch_all(&mut *tx)
    .await?;
    rows.iter()
        .map(|r| {
            let tenant: String = r.try_get("tenant_id")?;
            Ok(DueDelivery {
                tenant: TenantId::parse(&tenant).map_err(|e| sqlx::Error::Decode(e.into()))?,
                id: r.try_get("id")?,
                url: r.try_get("url")?,
                secret: r.try_get("secret")?,
                event_type: r.try_get("event_type")?,
                payload: r.try_get("payload")?,
                attempts: r.try_get("attempts")?,
                next_attempt_at: r.try_get("next_attempt_at")?,
                webhook_deleted: r
                    .try_get::<Option<String>, _>("webhook_deleted_at")?
                    .is_some(),
            })
        })
        .collect()
}

/// Cancels a pending delivery whose webhook was deleted after it was
/// queued (a consumer that matched the webhook just before the delete).
pub async fn cancel(db: &Db, tenant: &TenantId, id: &str) -> Result<(), sqlx::Error> {
    let mut tx = db.tenant(tenant).begin().await?;
    sqlx::query(
        "UPDATE webhook_deliveries SET status = 'cancelled', last_error = 'webhook deleted'
         WHERE tenant_id = $2 AND id = $1 AND status = 'pending'",
    )
    .bind(id)
    .bind(tenant.as_str())
    .execute(&mut *tx)
    .await?;
    tx.commit().await
}

/// See [`super::claim_sql`].
pub async fn claim(
    db: &Db,
    tenant: &TenantId,
    id: &str,
    seen_next_attempt_at: &str,
    lease_until: &str,
) -> Result<bool, sqlx::Error> {
    let mut tx = db.tenant(tenant).begin().await?;
    let res = sqlx::query(super::claim_sql!("webhook_deliveries"))
        .bind(lease_until)
        .bind(id)
        .bind(seen_next_attempt_at)
        .bind(tenant.as_str())
        .execute(&mut *tx)
        .await?;
    tx.commit().await?;
    Ok(res.rows_affected() == 1)
}

/// One attempt and its consequence for the delivery.
pub struct AttemptRecord<'a> {
    pub tenant: &'a TenantId,
    pub id: &'a str,
    pub delivery_id: &'a str,
    pub attempt: i64,
    pub at: &'a str,
    pub status_code: Option<i64>,
    pub error: Option<&'a str>,
    pub duration_ms: i64,
    pub outcome: Outcome<'a>,
}

pub enum Outcome<'a> {
    Delivered,
    Retry { next_attempt_at: &'a str },
    Failed,
}

/// Logs the attempt and updates the delivery, in one transaction.
pub async fn record_attempt(db: &Db, a: &AttemptRecord<'_>) -> Result<(), sqlx::Error> {
    let mut tx = db.tenant(a.tenant).begin().await?;
    sqlx::query(
        "INSERT INTO webhook_attempts
            (id, delivery_id, attempt, at, status_code, error, duration_ms, tenant_id)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
         ON CONFLICT (tenant_id, delivery_id, attempt) DO NOTHING",
    )
    .bind(a.id)
    .bind(a.delivery_id)
    .bind(a.attempt)
    .bind(a.at)
    .bind(a.status_code)
    .bind(a.error)
    .bind(a.duration_ms)
    .bind(a.tenant.as_str())
    .execute(&mut *tx)
    .await?;
    let (status, delivered_at, next_attempt_at) = match &a.outcome {
        Outcome::Delivered => ("delivered", Some(a.at), None),
        Outcome::Retry { next_attempt_at } => ("pending", None, Some(*next_attempt_at)),
        Outcome::Failed => ("failed", None, None),
    };
    sqlx::query(
        "UPDATE webhook_deliveries
         SET status = $1, delivered_at = COALESCE($2, delivered_at),
             next_attempt_at = COALESCE($3, next_attempt_at),
             last_status_code = $4, last_error = $5
         WHERE tenant_id = $7 AND id = $6",
    )
    .bind(status)
    .bind(delivered_at)
    .bind(next_attempt_at)
    .bind(a.status_code)
    .bind(a.error)
    .bind(a.delivery_id)
    .bind(a.tenant.as_str())
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(())
}

#[derive(Debug, Clone)]
pub struct Attempt {
    pub attempt: i64,
    pub at: String,
    pub status_code: Option<i64>,
    pub error: Option<String>,
    pub duration_ms: i64,
}

#[derive(Debug, Clone)]
pub struct Delivery {
    pub id: String,
    pub event_id: String,
    pub event_type: String,
    pub status: String,
    pub attempt_count: i64,
    pub next_attempt_at: Option<String>,
    pub last_status_code: Option<i64>,
    pub last_error: Option<String>,
    pub created_at: String,
    pub delivered_at: Option<String>,
    pub attempts: Vec<Attempt>,
}

/// A page of the deliveries of the tenant's live webhook `webhook_id`,
/// newest first, each with its attempts, and the total number of
/// deliveries; `None` when the tenant has no such live webhook.
pub async fn deliveries(
    db: &Db,
    tenant: &TenantId,
    webhook_id: &str,
    limit: i64,
    offset: i64,
) -> Result<Option<(Vec<Delivery>, i64)>, sqlx::Error> {
    let mut tx = db.tenant(tenant).snapshot().await?;
    let live: i64 = sqlx::query_scalar(
        "SELECT COUNT(*) FROM webhooks WHERE tenant_id = $1 AND id = $2 AND deleted_at IS NULL",
    )
    .bind(tenant.as_str())
    .bind(webhook_id)
    .fetch_one(&mut *tx)
    .await?;
    if live == 0 {
        return Ok(None);
    }
    let total: i64 = sqlx::query_scalar(
        "SELECT COUNT(*) FROM webhook_deliveries WHERE tenant_id = $2 AND webhook_id = $1",
    )
    .bind(webhook_id)
    .bind(tenant.as_str())
    .fetch_one(&mut *tx)
    .await?;
    let rows = sqlx::query(
        "SELECT id, event_id, event_type, status, attempts, next_attempt_at, last_status_code,
                last_error, created_at, delivered_at
         FROM webhook_deliveries WHERE tenant_id = $4 AND webhook_id = $1
         ORDER BY created_at DESC, id DESC LIMIT $2 OFFSET $3",
    )
    .bind(webhook_id)
    .bind(limit)
    .bind(offset)
    .bind(tenant.as_str())
    .fetch_all(&mut *tx)
    .await?;
    let mut out = Vec::with_capacity(rows.len());
    for r in &rows {
        let status: String = r.try_get("status")?;
        let next: String = r.try_get("next_attempt_at")?;
        out.push(Delivery {
            id: r.try_get("id")?,
            event_id: r.try_get("event_id")?,
            event_type: r.try_get("event_type")?,
            // Only a pending delivery has a next attempt.
            next_attempt_at: (status == "pending").then_some(next),
            status,
            attempt_count: r.try_get("attempts")?,
            last_status_code: r.try_get("last_status_code")?,
            last_error: r.try_get("last_error")?,
            created_at: r.try_get("created_at")?,
            delivered_at: r.try_get("delivered_at")?,
            attempts: Vec::new(),
        });
    }
    // The attempts of exactly this page, in one query.
    let attempts = sqlx::query(
        "SELECT a.delivery_id, a.attempt, a.at, a.status_code, a.error, a.duration_ms
         FROM webhook_attempts a
         JOIN (SELECT id FROM webhook_deliveries WHERE tenant_id = $4 AND webhook_id = $1
               ORDER BY created_at DESC, id DESC LIMIT $2 OFFSET $3) p ON p.id = a.delivery_id
         WHERE a.tenant_id = $4
         ORDER BY a.delivery_id, a.attempt",
    )
    .bind(webhook_id)
    .bind(limit)
    .bind(offset)
    .bind(tenant.as_str())
    .fetch_all(&mut *tx)
    .await?;
    for a in &attempts {
        let delivery_id: String = a.try_get("delivery_id")?;
        if let Some(d) = out.iter_mut().find(|d| d.id == delivery_id) {
            d.attempts.push(Attempt {
                attempt: a.try_get("attempt")?,
                at: a.try_get("at")?,
                status_code: a.try_get("status_code")?,
                error: a.try_get("error")?,
                duration_ms: a.try_get("duration_ms")?,
            });
        }
    }
    Ok(Some((out, total)))
}

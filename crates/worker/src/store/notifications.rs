//! `notifications` and `notification_reads`.
//!
//! A caller sees the rows addressed to their user id plus those addressed
//! to their role. Personal rows keep their read time in `read_at`; a role
//! row is shared, so each reader's read time is a `notification_reads` row.

use marimo_platform::{
    db::{Db, Exec},
    tenant::TenantId,
};
use sqlx::{Row, any::AnyRow};

use crate::domain::notify::{NotificationDraft, Recipient};

pub async fn insert<'e>(
    ex: impl Exec<'e>,
    tenant: &TenantId,
    id: &str,
    event_id: &str,
    d: &NotificationDraft,
    now: &str,
) -> Result<bool, sqlx::Error> {
    let (user_id, role) = match &d.recipient {
        Recipient::User(u) => (Some(u.as_str()), None),
        Recipient::Role(r) => (None, Some(r.as_str())),
    };
    // Either unique key ((user_id, event_id) or (audience_role, event_id))
    // makes a second copy a no-op.
    let res = sqlx::query(
        "INSERT INTO notifications (id, user_id, audience_role, event_id, kind, title, body, created_at, tenant_id)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)
         ON CONFLICT DO NOTHING",
    )
    .bind(id)
    .bind(user_id)
    .bind(role)
    .bind(event_id)
    .bind(&d.kind)
    .bind(&d.title)
    .bind(&d.body)
    .bind(now)
    .bind(tenant.as_str())
    .execute(ex)
    .await?;
    Ok(res.rows_affected() == 1)
}

#[derive(Debug, Clone)]
pub struct Notification {
    pub id: String,
    pub kind: String,
    pub title: String,
    pub body: String,
    pub created_at: String,
    /// Set for notifications addressed to a role rather than to the caller.
    pub audience_role: Option<String>,
    pub read: bool,
    pub read_at: Option<String>,
}

fn notification(r: &AnyRow) -> Result<Notification, sqlx::Error> {
    let read_at: Option<String> = r.try_get("read_at")?;
    Ok(Notification {
        id: r.try_get("id")?,
        kind: r.try_get("kind")?,
        title: r.try_get("title")?,
        body: r.try_get("body")?,
        created_at: r.try_get("created_at")?,
        audience_role: r.try_get("audience_role")?,
        read: read_at.is_some(),
        read_at,
    })
}

/// `$1` user id, `$2` role, `$3` tenant; `r` is the caller's read marker
/// of a role row.
macro_rules! visible_sql {
    () => {
        " FROM notifications n
          LEFT JOIN notification_reads r
            ON r.tenant_id = n.tenant_id AND r.notification_id = n.id AND r.user_id = $1
          WHERE n.tenant_id = $3 AND (n.user_id = $1 OR n.audience_role = $2) "
    };
}

#[derive(Debug, Clone)]
pub struct Listing {
    pub items: Vec<Notification>,
    pub total: i64,
    pub unread: i64,
}

pub async fn list(
    db: &Db,
    tenant: &TenantId,
    user_id: &str,
    role: &str,
    unread_only: bool,
    limit: i64,
    offset: i64,
) -> Result<Listing, sqlx::Error> {
    let only = i64::from(unread_only);
    let mut tx = db.tenant(tenant).snapshot().await?;
    let total: i64 = sqlx::query_scalar(concat!("SELECT COUNT(*)", visible_sql!()))
        .bind(user_id)
        .bind(role)
        .bind(tenant.as_str())
        .fetch_one(&mut *tx)
        .await?;
    let unread: i64 = sqlx::query_scalar(concat!(
        "SELECT COUNT(*)",
        visible_sql!(),
        "AND n.read_at IS NULL AND r.read_at IS NULL"
    ))
    .bind(user_id)
    .bind(role)
    .bind(tenant.as_str())
    .fetch_one(&mut *tx)
    .await?;
    let rows = sqlx::query(concat!(
        "SELECT n.id, n.kind, n.title, n.body, n.created_at, n.audience_role,
                COALESCE(n.read_at, r.read_at) AS read_at",
        visible_sql!(),
        "AND ($4 = 0 OR (n.read_at IS NULL AND r.read_at IS NULL))
         ORDER BY n.created_at DESC, n.id DESC
         LIMIT $5 OFFSET $6"
    ))
    .bind(user_id)
    .bind(role)
    .bind(tenant.as_str())
    .bind(only)
    .bind(limit)
    .bind(offset)
    .fetch_all(&mut *tx)
    .await?;
    let items = rows.iter().map(notification).collect::<Result<_, _>>()?;
    Ok(Listing {
        items,
        total: if unread_only { unread } else { total },
        unread,
    })
}

/// Marks one notification read for the caller; `false` when the caller
/// cannot see it (unknown id, someone else's, another role's). Reading
/// twice keeps the first read time.
pub async fn mark_read(
    db: &Db,
    tenant: &TenantId,
    id: &str,
    user_id: &str,
    role: &str,
    now: &str,
) -> Result<bool, sqlx::Error> {
    let mut tx = db.tenant(tenant).begin().await?;
    let row = sqlx::query(
        "SELECT user_id, audience_role FROM notifications WHERE tenant_id = $1 AND id = $2",
    )
    .bind(tenant.as_str())
    .bind(id)
    .fetch_optional(&mut *tx)
    .await?;
    let Some(row) = row else { return Ok(false) };
    let owner: Option<String> = row.try_get("user_id")?;
    let audience: Option<String> = row.try_get("audience_role")?;
    if owner.as_deref() == Some(user_id) {
        sqlx::query(
            "UPDATE notifications SET read_at = $1
             WHERE tenant_id = $2 AND id = $3 AND read_at IS NULL",
        )
        .bind(now)
        .bind(tenant.as_str())
        .bind(id)
        .execute(&mut *tx)
        .await?;
    } else if audience.as_deref() == Some(role) {
        sqlx::query(
            "INSERT INTO notification_reads (notification_id, user_id, read_at, tenant_id)
             VALUES ($1, $2, $3, $4)
             ON CONFLICT (notification_id, user_id) DO NOTHING",
        )
        .bind(id)
        .bind(user_id)
        .bind(now)
        .bind(tenant.as_str())
        .execute(&mut *tx)
        .await?;
    } else {
        return Ok(false);
    }
    tx.commit().await?;
    Ok(true)
}

/// Marks everything the caller sees as read; returns how many were unread.
pub async fn mark_all_read(
    db: &Db,
    tenant: &TenantId,
    user_id: &str,
    role: &str,
    now: &str,
) -> Result<u64, sqlx::Error> {
    let mut tx = db.tenant(tenant).begin().await?;
    let own = sqlx::query(
        "UPDATE notifications SET read_at = $1
         WHERE tenant_id = $3 AND user_id = $2 AND read_at IS NULL",
    )
    .bind(now)
    .bind(user_id)
    .bind(tenant.as_str())
    .execute(&mut *tx)
    .await?
    .rows_affected();
    // The WHERE clause also keeps SQLite from reading ON CONFLICT as part
    // of the SELECT.
    let shared = sqlx::query(
        "INSERT INTO notification_reads (notification_id, user_id, read_at, tenant_id)
         SELECT n.id, $1, $2, n.tenant_id FROM notifications n
         WHERE n.tenant_id = $4 AND n.audience_role = $3
           AND NOT EXISTS (SELECT 1 FROM notification_reads r
                           WHERE r.tenant_id = n.tenant_id
                             AND r.notification_id = n.id AND r.user_id = $1)
         ON CONFLICT (notification_id, user_id) DO NOTHING",
    )
    .bind(user_id)
    .bind(now)
    .bind(role)
    .bind(tenant.as_str())
    .execute(&mut *tx)
    .await?
    .rows_affected();
    tx.commit().await?;
    Ok(own + shared)
}

//! The counts behind `GET /api/worker/summary`.

use marimo_platform::db::DbPool;
use sqlx::Row;

#[derive(Debug, Clone)]
pub struct Summary {
    pub mail: MailCounts,
    pub webhook_deliveries: DeliveryCounts,
    pub audit_entries: i64,
    /// Events a consumer gave up on (see the platform's dead_letters).
    pub dead_letters: i64,
}

#[derive(Debug, Clone)]
pub struct MailCounts {
    pub pending: i64,
    pub failed: i64,
    pub sent: i64,
}

#[derive(Debug, Clone)]
pub struct DeliveryCounts {
    pub pending: i64,
    pub failed: i64,
    pub delivered: i64,
}

pub async fn summary(pool: &DbPool) -> Result<Summary, sqlx::Error> {
    let r = sqlx::query(
        "SELECT
            (SELECT COUNT(*) FROM outgoing_mail WHERE status = 'pending') AS mail_pending,
            (SELECT COUNT(*) FROM outgoing_mail WHERE status = 'failed') AS mail_failed,
            (SELECT COUNT(*) FROM outgoing_mail WHERE status = 'sent') AS mail_sent,
            (SELECT COUNT(*) FROM webhook_deliveries WHERE status = 'pending') AS hook_pending,
            (SELECT COUNT(*) FROM webhook_deliveries WHERE status = 'failed') AS hook_failed,
            (SELECT COUNT(*) FROM webhook_deliveries WHERE status = 'delivered') AS hook_delivered,
            (SELECT COUNT(*) FROM audit_log) AS audit_entries,
            (SELECT COUNT(*) FROM dead_letters) AS dead_letters",
    )
    .fetch_one(pool)
    .await?;
    Ok(Summary {
        mail: MailCounts {
            pending: r.try_get("mail_pending")?,
            failed: r.try_get("mail_failed")?,
            sent: r.try_get("mail_sent")?,
        },
        webhook_deliveries: DeliveryCounts {
            pending: r.try_get("hook_pending")?,
            failed: r.try_get("hook_failed")?,
            delivered: r.try_get("hook_delivered")?,
        },
        audit_entries: r.try_get("audit_entries")?,
        dead_letters: r.try_get("dead_letters")?,
    })
}

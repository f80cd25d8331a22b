//! The counts behind `GET /api/worker/summary`.

use marimo_platform::{db::Db, tenant::TenantId};
use sqlx::Row;

#[derive(Debug, Clone)]
pub struct Summary {
    pub mail: MailCounts,
    pub webhook_deliveries: DeliveryCounts,
    pub audit_entries: i64,
    /// Events a consumer gave up on (see the platform's dead_letters), of
    /// every tenant: operator-level, so counted for the default tenant
    /// only (0 for any other).
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

/// The tenant's counts (`$1`); `$2` is 1 when the dead letters (a system
/// table of every tenant) are counted.
pub async fn summary(db: &Db, tenant: &TenantId) -> Result<Summary, sqlx::Error> {
    let mut tx = db.tenant(tenant).snapshot().await?;
    let r = sqlx::query(
        "SELECT
            (SELECT COUNT(*) FROM outgoing_mail WHERE tenant_id = $1 AND status = 'pending') AS mail_pending,
            (SELECT COUNT(*) FROM outgoing_mail WHERE tenant_id = $1 AND status = 'failed') AS mail_failed,
            (SELECT COUNT(*) FROM outgoing_mail WHERE tenant_id = $1 AND status = 'sent') AS mail_sent,
            (SELECT COUNT(*) FROM webhook_deliveries WHERE tenant_id = $1 AND status = 'pending') AS hook_pending,
            (SELECT COUNT(*) FROM webhook_deliveries WHERE tenant_id = $1 AND status = 'failed') AS hook_failed,
            (SELECT COUNT(*) FROM webhook_deliveries WHERE tenant_id = $1 AND status = 'delivered') AS hook_delivered,
            (SELECT COUNT(*) FROM audit_log WHERE tenant_id = $1) AS audit_entries,
            (SELECT COUNT(*) FROM dead_letters WHERE $2 = 1) AS dead_letters",
    )
    .bind(tenant.as_str())
    .bind(i64::from(tenant.is_default()))
    .fetch_one(&mut *tx)
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

//! Consuming exactly once: the processed-event record is written in the
//! same transaction as the consumer's effect.

use crate::db::{Db, TenantScope, Tx};

/// Begins the transaction that applies `event_id` for `consumer`, or
/// returns `None` when that consumer already applied it. The caller does
/// its effect in the transaction and commits; a crash before the commit
/// leaves neither the effect nor the record, so a redelivery applies it.
pub async fn begin(db: &Db, consumer: &str, event_id: &str) -> Result<Option<Tx>, sqlx::Error> {
    claim(db.begin().await?, consumer, event_id).await
}

/// [`begin`] in a tenant's transaction (`db.tenant(&env.tenant)`), for a
/// consumer that acts in the event's tenant: on PostgreSQL the row
/// policies then admit that tenant's rows, and events it publishes carry
/// the tenant.
pub async fn begin_in(
    scope: &TenantScope<'_>,
    consumer: &str,
    event_id: &str,
) -> Result<Option<Tx>, sqlx::Error> {
    claim(scope.begin().await?, consumer, event_id).await
}

/// Records `event_id` as applied by `consumer` in `tx`, or rolls `tx`
/// back and returns `None` when it was already.
async fn claim(mut tx: Tx, consumer: &str, event_id: &str) -> Result<Option<Tx>, sqlx::Error> {
    let inserted = sqlx::query(
        "INSERT INTO processed_events (consumer, event_id, processed_at) VALUES ($1, $2, $3)
         ON CONFLICT (consumer, event_id) DO NOTHING",
    )
    .bind(consumer)
    .bind(event_id)
    .bind(crate::clock::now_text())
    .execute(&mut *tx)
    .await?
    .rows_affected();
    if inserted == 0 {
        tx.rollback().await?;
        return Ok(None);
    }
    Ok(Some(tx))
}

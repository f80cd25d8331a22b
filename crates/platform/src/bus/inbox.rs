//! Consuming exactly once: the processed-event record is written in the
//! same transaction as the consumer's effect.

use crate::db::{Db, TenantScope, Tx};

/// Begins the transaction that applies `event_id` for `consumer`, or
/// returns `None` when that consumer already applied it. The caller does
/// its effect in the transaction and commits; a crash before the commit
/// leaves neither the effect nor the record, so a redelivery applies it.
pub async fn begin(db: &Db, consumer: &str, event_id: &str) -> Result<Option<Tx>, sqlx::Error> {
    record(db.begin().await?, consumer, event_id).await
}

/// [`begin`] in a tenant (`db.tenant(&env.tenant)`): the consumer's effect
/// runs under that tenant's row policies, and events it publishes carry
/// the tenant. The processed-event record itself is a system row.
pub async fn begin_in(
    scope: TenantScope<'_>,
    consumer: &str,
    event_id: &str,
) -> Result<Option<Tx>, sqlx::Error> {
    record(scope.begin().await?, consumer, event_id).await
}

async fn record(mut tx: Tx, consumer: &str, event_id: &str) -> Result<Option<Tx>, sqlx::Error> {
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

//! The `shop_settings` table: the shop's own copy of the settings it uses,
//! shared by every replica (a `config.setting.changed` event is consumed by
//! one replica; all of them read the table). One set per tenant.

use marimo_platform::db::Exec;
use marimo_platform::db::TxConn;
use marimo_platform::tenant::TenantId;
use sqlx::Row;

use crate::domain::settings::{Change, ShopSettings};

/// The tenant's current settings (defaults for keys never set).
pub async fn load<'e>(ex: impl Exec<'e>, t: &TenantId) -> Result<ShopSettings, sqlx::Error> {
    let rows = sqlx::query("SELECT key, value FROM shop_settings WHERE tenant_id = $1")
        .bind(t.as_str())
        .fetch_all(ex)
        .await?;
    let pairs = rows
        .iter()
        .map(|r| {
            Ok((
                r.try_get::<String, _>("key")?,
                r.try_get::<String, _>("value")?,
            ))
        })
        .collect::<Result<Vec<_>, sqlx::Error>>()?;
    ShopSettings::from_rows(pairs.iter().map(|(k, v)| (k.as_str(), v.as_str())))
        .map_err(|e| sqlx::Error::Decode(format!("shop_settings: {e}").into()))
}

/// Applies a change unless the stored value is newer (a higher version
/// than the change's). `false` when it was stale and ignored.
pub async fn apply(
    conn: &mut TxConn,
    t: &TenantId,
    change: &Change,
    now: &str,
) -> Result<bool, sqlx::Error> {
    let stored: Option<i64> =
        sqlx::query_scalar("SELECT version FROM shop_settings WHERE tenant_id = $2 AND key = $1")
            .bind(change.key)
            .bind(t.as_str())
            .fetch_optional(&mut *conn)
            .await?;
    if let (Some(stored), Some(new)) = (stored, change.version)
        && new < stored
    {
        return Ok(false);
    }
    match &change.value {
        Some(value) => {
            sqlx::query(
                "INSERT INTO shop_settings (tenant_id, key, value, version, updated_at)
                 VALUES ($5, $1, $2, $3, $4)
                 ON CONFLICT (tenant_id, key) DO UPDATE SET value = excluded.value, version = excluded.version,
                                                 updated_at = excluded.updated_at",
            )
            .bind(change.key)
            .bind(value)
            .bind(change.version.unwrap_or(0))
            .bind(now)
            .bind(t.as_str())
            .execute(&mut *conn)
            .await?;
        }
        // Deleted in the config service: back to the default.
        None => {
            sqlx::query("DELETE FROM shop_settings WHERE tenant_id = $2 AND key = $1")
                .bind(change.key)
                .bind(t.as_str())
                .execute(&mut *conn)
                .await?;
        }
    }
    Ok(true)
}

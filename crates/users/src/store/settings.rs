//! `users_settings`: the token lifetimes the config service set, shared by
//! every replica. A row holds the config version it came from, so a change
//! arriving late never overwrites a newer one.

use marimo_platform::db::Exec;
use sqlx::Row;

/// Every stored `(key, value)`.
pub async fn settings<'e>(ex: impl Exec<'e>) -> Result<Vec<(String, String)>, sqlx::Error> {
    let rows = sqlx::query("SELECT key, value FROM users_settings")
        .fetch_all(ex)
        .await?;
    rows.iter()
        .map(|row| Ok((row.try_get("key")?, row.try_get("value")?)))
        .collect()
}

/// Stores `value` for `key` unless a newer version is stored already.
pub async fn put_setting<'e>(
    ex: impl Exec<'e>,
    key: &str,
    value: &str,
    version: i64,
    now: &str,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO users_settings (key, value, version, updated_at) VALUES ($1, $2, $3, $4)
         ON CONFLICT (key) DO UPDATE SET value = excluded.value, version = excluded.version,
           updated_at = excluded.updated_at
         WHERE users_settings.version < excluded.version",
    )
    .bind(key)
    .bind(value)
    .bind(version)
    .bind(now)
    .execute(ex)
    .await?;
    Ok(())
}

/// Removes `key` unless it was stored by a newer version than `version`.
pub async fn delete_setting<'e>(
    ex: impl Exec<'e>,
    key: &str,
    version: i64,
) -> Result<(), sqlx::Error> {
    sqlx::query("DELETE FROM users_settings WHERE key = $1 AND version < $2")
        .bind(key)
        .bind(version)
        .execute(ex)
        .await?;
    Ok(())
}

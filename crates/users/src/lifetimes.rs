//! Token lifetimes, set centrally in the config service: the keys
//! `access_token_ttl_minutes` and `refresh_token_ttl_days` reach the users
//! service as `config.setting.changed` events and are kept in its own
//! `users_settings` table (shared by every replica), so a change applies to
//! the next sign-in without a restart. Unset, or deleted, means the
//! defaults (15 minutes, 7 days).

use std::time::Duration;

use marimo_contracts::config::SETTING_CHANGED;
use marimo_platform::{
    bus::{BusError, Envelope, HandlerError, inbox},
    clock,
    db::Db,
    service::ServiceContext,
};
use sqlx::Row;

pub const ACCESS_KEY: &str = "access_token_ttl_minutes";
pub const REFRESH_KEY: &str = "refresh_token_ttl_days";
const QUEUE: &str = "users";

/// How long the tokens a sign-in issues are valid.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Lifetimes {
    pub access: Duration,
    pub refresh: Duration,
}

impl Default for Lifetimes {
    fn default() -> Self {
        Self {
            access: marimo_platform::auth::jwt::ACCESS_TOKEN_TTL,
            refresh: crate::domain::REFRESH_TOKEN_TTL,
        }
    }
}

/// The lifetime `value` sets for `key`, if the key is one of ours and the
/// value is in range (access: 1 minute to 24 hours; refresh: 1 to 90 days).
pub fn parse(key: &str, value: &str) -> Result<Option<Duration>, String> {
    let (range, unit) = match key {
        ACCESS_KEY => (1..=1440, 60),
        REFRESH_KEY => (1..=90, 24 * 3600),
        _ => return Ok(None),
    };
    let n: u64 = value
        .trim()
        .parse()
        .map_err(|_| format!("{key} must be a whole number, not '{value}'"))?;
    if !range.contains(&n) {
        return Err(format!(
            "{key} must be between {} and {}",
            range.start(),
            range.end()
        ));
    }
    Ok(Some(Duration::from_secs(n * unit)))
}

/// The lifetimes in force now.
pub async fn current(db: &Db) -> Result<Lifetimes, sqlx::Error> {
    let rows = sqlx::query("SELECT key, value FROM users_settings")
        .fetch_all(db.pool())
        .await?;
    let mut lifetimes = Lifetimes::default();
    for row in rows {
        let (key, value): (String, String) = (row.try_get("key")?, row.try_get("value")?);
        match (key.as_str(), parse(&key, &value)) {
            (ACCESS_KEY, Ok(Some(d))) => lifetimes.access = d,
            (REFRESH_KEY, Ok(Some(d))) => lifetimes.refresh = d,
            _ => {}
        }
    }
    Ok(lifetimes)
}

/// Subscribes the users service's queue to setting changes.
pub async fn subscribe(ctx: &ServiceContext, db: Db) -> Result<(), BusError> {
    let bus_db = db.clone();
    ctx.bus
        .subscribe(&bus_db, QUEUE, &[SETTING_CHANGED.name()], move |env| {
            let db = db.clone();
            async move { apply(&db, &env).await }
        })
        .await
}

/// Applies one setting change exactly once; an older version arriving
/// late never overwrites a newer one.
pub async fn apply(db: &Db, env: &Envelope) -> Result<(), HandlerError> {
    let change = env.decode(SETTING_CHANGED)?;
    let key = change.key.as_str();
    if key != ACCESS_KEY && key != REFRESH_KEY {
        return Ok(());
    }
    let version = change
        .version
        .ok_or_else(|| HandlerError::Permanent("a setting change without a version".into()))?;
    let value = change.value;
    if let Some(v) = &value
        && let Err(why) = parse(key, v)
    {
        // The config service typed it; a value out of our range is kept
        // out and the previous lifetime stays.
        tracing::warn!(key, value = %v, %why, "token lifetime ignored");
        return Ok(());
    }
    let Some(mut tx) = inbox::begin(db, QUEUE, &env.id).await? else {
        return Ok(());
    };
    match value {
        Some(v) => {
            sqlx::query(
                "INSERT INTO users_settings (key, value, version, updated_at) VALUES ($1, $2, $3, $4)
                 ON CONFLICT (key) DO UPDATE SET value = excluded.value, version = excluded.version,
                   updated_at = excluded.updated_at
                 WHERE users_settings.version < excluded.version",
            )
            .bind(key)
            .bind(v)
            .bind(version)
            .bind(clock::now_text())
            .execute(&mut *tx)
            .await?;
        }
        None => {
            sqlx::query("DELETE FROM users_settings WHERE key = $1 AND version < $2")
                .bind(key)
                .bind(version)
                .execute(&mut *tx)
                .await?;
        }
    }
    tx.commit().await?;
    tracing::info!(key, version, "token lifetime changed");
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lifetimes_in_range_only() {
        assert_eq!(parse(ACCESS_KEY, "30"), Ok(Some(Duration::from_secs(1800))));
        assert_eq!(
            parse(REFRESH_KEY, " 14 "),
            Ok(Some(Duration::from_secs(14 * 86400)))
        );
        assert_eq!(parse("app_name", "x"), Ok(None));
        assert!(parse(ACCESS_KEY, "0").is_err());
        assert!(parse(ACCESS_KEY, "1441").is_err());
        assert!(parse(REFRESH_KEY, "91").is_err());
        assert!(parse(REFRESH_KEY, "1.5").is_err());
    }
}

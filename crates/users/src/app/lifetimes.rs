//! Token lifetimes as the config service sets them: `config.setting.changed`
//! events for the two keys (see `domain::lifetimes`) are kept in the users
//! service's own `users_settings` table, shared by every replica, so a
//! change applies to the next sign-in without a restart.

use marimo_contracts::config::SETTING_CHANGED;
use marimo_platform::{
    bus::{Envelope, HandlerError, inbox},
    clock,
    db::Db,
};

use crate::{
    domain::lifetimes::{self, ACCESS_KEY, Lifetimes, REFRESH_KEY},
    events, store,
};

/// The lifetimes in force now.
pub async fn current(db: &Db) -> Result<Lifetimes, sqlx::Error> {
    let rows = store::settings(db.pool()).await?;
    Ok(Lifetimes::from_settings(
        rows.iter().map(|(k, v)| (k.as_str(), v.as_str())),
    ))
}

/// Applies one setting change exactly once; an older version arriving
/// late never overwrites a newer one.
pub async fn apply(db: &Db, env: &Envelope) -> Result<(), HandlerError> {
    let change = env.decode(SETTING_CHANGED)?;
    let key = change.key.as_str();
    // Token lifetimes are installation-wide: only the default tenant's
    // (the operator's) setting counts, so no other tenant's admin changes
    // every tenant's sessions.
    if (key != ACCESS_KEY && key != REFRESH_KEY) || !env.tenant.is_default() {
        return Ok(());
    }
    let version = change
        .version
        .ok_or_else(|| HandlerError::Permanent("a setting change without a version".into()))?;
    let value = change.value;
    if let Some(v) = &value
        && let Err(why) = lifetimes::parse(key, v)
    {
        // The config service typed it; a value out of our range is kept
        // out and the previous lifetime stays.
        tracing::warn!(key, value = %v, %why, "token lifetime ignored");
        return Ok(());
    }
    let Some(mut tx) = inbox::begin(db, events::QUEUE, &env.id).await? else {
        return Ok(());
    };
    match value {
        Some(v) => store::put_setting(&mut *tx, key, &v, version, &clock::now_text()).await?,
        None => store::delete_setting(&mut *tx, key, version).await?,
    }
    tx.commit().await?;
    tracing::info!(key, version, "token lifetime changed");
    Ok(())
}

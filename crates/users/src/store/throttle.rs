//! The brute-force state of sign-in per [`ThrottleKey`] (`login_throttle`).

use marimo_platform::clock;
use marimo_platform::db::DbPool;
use marimo_platform::db::Exec;
use sqlx::Row;
use time::OffsetDateTime;

use super::parse_time;
use crate::domain::{self, Admission, ThrottleKey, ThrottleState};

async fn throttle_state(pool: &DbPool, key: &str) -> Result<Option<ThrottleState>, sqlx::Error> {
    let row = sqlx::query(
        "SELECT failures, blocked_until, last_attempt_at FROM login_throttle
         WHERE throttle_key = $1",
    )
    .bind(key)
    .fetch_optional(pool)
    .await?;
    let Some(row) = row else { return Ok(None) };
    Ok(Some(ThrottleState {
        failures: row.try_get("failures")?,
        blocked_until: row
            .try_get::<Option<String>, _>("blocked_until")?
            .as_deref()
            .map(parse_time)
            .transpose()?,
        last_attempt_at: parse_time(&row.try_get::<String, _>("last_attempt_at")?)?,
    }))
}

/// Decides on a sign-in attempt and, when admitted, counts it as a failure
/// up front with a compare-and-swap on the row, so replicas and concurrent
/// requests agree: once the delay applies, one attempt per window gets
/// through. Rows of addresses untried for a day are pruned on the way.
pub async fn throttle_admit(
    pool: &DbPool,
    key: &ThrottleKey,
    now: OffsetDateTime,
) -> Result<Admission, sqlx::Error> {
    let (free, key) = (key.free_failures(), key.stored());
    let key = key.as_str();
    let now_text = clock::format(now);
    // Each lost race means another attempt was just counted; a few rounds
    // settle it, and endless contention is itself a reason to slow down.
    for _ in 0..8 {
        let state = throttle_state(pool, key).await?;
        let admission = domain::admit(state.as_ref(), now, free);
        let Admission::Admit {
            failures,
            blocked_until,
        } = &admission
        else {
            return Ok(admission);
        };
        let blocked_until = blocked_until.map(clock::format);
        let won = match &state {
            None => {
                let res = sqlx::query(
                    "INSERT INTO login_throttle
                       (throttle_key, failures, blocked_until, last_attempt_at)
                     VALUES ($1, $2, $3, $4)
                     ON CONFLICT (throttle_key) DO NOTHING",
                )
                .bind(key)
                .bind(*failures)
                .bind(&blocked_until)
                .bind(&now_text)
                .execute(pool)
                .await?;
                if res.rows_affected() == 1 {
                    let cutoff = clock::format(now - domain::FORGET_AFTER);
                    sqlx::query("DELETE FROM login_throttle WHERE last_attempt_at < $1")
                        .bind(cutoff)
                        .execute(pool)
                        .await?;
                }
                res.rows_affected() == 1
            }
            Some(seen) => {
                let res = sqlx::query(
                    "UPDATE login_throttle
                        SET failures = $2, blocked_until = $3, last_attempt_at = $4
                      WHERE throttle_key = $1 AND failures = $5 AND last_attempt_at = $6",
                )
                .bind(key)
                .bind(*failures)
                .bind(&blocked_until)
                .bind(&now_text)
                .bind(seen.failures)
                .bind(clock::format(seen.last_attempt_at))
                .execute(pool)
                .await?;
                res.rows_affected() == 1
            }
        };
        if won {
            return Ok(admission);
        }
    }
    Ok(Admission::Blocked {
        retry_after_secs: 1,
    })
}

/// After a failed check: the delay runs from the failure, not from the
/// start of the attempt (which may have waited for a hashing slot). Only
/// while the row still holds this attempt's count.
pub async fn throttle_failed<'e>(
    ex: impl Exec<'e>,
    key: &ThrottleKey,
    failures: i64,
    at: OffsetDateTime,
) -> Result<(), sqlx::Error> {
    if let Some(until) = domain::blocked_until(failures, at, key.free_failures()) {
        sqlx::query(
            "UPDATE login_throttle SET blocked_until = $3
              WHERE throttle_key = $1 AND failures = $2",
        )
        .bind(key.stored())
        .bind(failures)
        .bind(clock::format(until))
        .execute(ex)
        .await?;
    }
    Ok(())
}

/// A successful sign-in resets the count.
pub async fn throttle_clear(pool: &DbPool, key: &ThrottleKey) -> Result<(), sqlx::Error> {
    sqlx::query("DELETE FROM login_throttle WHERE throttle_key = $1")
        .bind(key.stored())
        .execute(pool)
        .await?;
    Ok(())
}

/// Gives back an attempt that was counted up front but did not fail (a
/// success, or one stopped by another key's delay): the count goes back
/// by one, while the row still holds this attempt's count. The rest of
/// the budget stays spent.
pub async fn throttle_refund(
    pool: &DbPool,
    key: &ThrottleKey,
    failures: i64,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "UPDATE login_throttle SET failures = failures - 1, blocked_until = NULL
          WHERE throttle_key = $1 AND failures = $2",
    )
    .bind(key.stored())
    .bind(failures)
    .execute(pool)
    .await?;
    Ok(())
}

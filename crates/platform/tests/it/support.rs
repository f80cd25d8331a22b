//! What the bus suites share: a count in a service's database, and waiting
//! for it (through `testkit::eventually_within`).

use std::time::Duration;

use marimo_platform::service::ServiceContext;

/// How long the bus suites wait: a broker's redelivery after a cut takes
/// longer than `testkit::EVENTUALLY`.
pub const PATIENCE: Duration = Duration::from_secs(40);

pub async fn scalar(ctx: &ServiceContext, sql: &'static str) -> i64 {
    sqlx::query_scalar::<_, i64>(sql)
        .fetch_one(ctx.db().pool())
        .await
        .unwrap()
}

/// Waits until `sql` counts `want` in `ctx`'s database.
pub async fn count_reaches(ctx: &ServiceContext, sql: &'static str, want: i64) {
    marimo_testkit::eventually_within(PATIENCE, sql, async || {
        let got = scalar(ctx, sql).await;
        if got == want {
            Ok(())
        } else {
            Err(format!("got {got}, want {want}"))
        }
    })
    .await;
}

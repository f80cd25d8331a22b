//! `Db::retry_conflicts` on PostgreSQL: transactions that really conflict
//! (a serialization failure, a deadlock) both commit once retried; one
//! that keeps conflicting gives up after `CONFLICT_ATTEMPTS` runs and is a
//! 503 with `Retry-After`, never a 500.

use std::sync::{
    Arc,
    atomic::{AtomicBool, AtomicU32, Ordering},
};

use axum::response::IntoResponse;
use marimo_platform::{
    ApiError,
    db::{CONFLICT_ATTEMPTS, Db},
    service::{ServiceContext, ServiceName},
};
use marimo_testkit::{Backend, backends, context, scrape};
use tokio::sync::Barrier;

/// A service context on PostgreSQL, or `None` when it is not configured
/// (a failure under `CI=true`, through `backends`).
async fn postgres() -> Option<ServiceContext> {
    let backend = backends()
        .into_iter()
        .find(|b| matches!(b, Backend::Postgres { .. }))?;
    Some(context(ServiceName::Shop, backend.settings(&[]).await).await)
}

async fn retries(ctx: &ServiceContext) -> f64 {
    scrape::sample(
        &ctx.metrics.scrape().await,
        "db_transaction_retries_total",
        &[("service", "shop")],
    )
    .unwrap_or(0.0)
}

async fn value(db: &Db, id: &str) -> i64 {
    sqlx::query_scalar("SELECT v FROM counters WHERE id = $1")
        .bind(id)
        .fetch_one(db.pool())
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_serializable_transactions_that_conflict_both_commit_once_retried() {
    let Some(ctx) = postgres().await else { return };
    let db = ctx.db().clone();
    sqlx::query("CREATE TABLE counters (id TEXT PRIMARY KEY, v BIGINT NOT NULL)")
        .execute(db.pool())
        .await
        .unwrap();
    sqlx::query("INSERT INTO counters (id, v) VALUES ('a', 0)")
        .execute(db.pool())
        .await
        .unwrap();
    // Both read before either writes (on their first run only), so one of
    // them must fail with 40001 at its update or commit.
    let barrier = Arc::new(Barrier::new(2));
    let runs = Arc::new(AtomicU32::new(0));
    let increments = (0..2).map(|_| {
        let (db, barrier, runs) = (db.clone(), barrier.clone(), runs.clone());
        tokio::spawn(async move {
            let first = AtomicBool::new(true);
            let (db, barrier, first, runs) = (&db, &barrier, &first, &runs);
            db.retry_conflicts(|| async move {
                runs.fetch_add(1, Ordering::SeqCst);
                let mut tx = db.begin().await?;
                sqlx::query("SET TRANSACTION ISOLATION LEVEL SERIALIZABLE")
                    .execute(&mut *tx)
                    .await?;
                let v: i64 = sqlx::query_scalar("SELECT v FROM counters WHERE id = 'a'")
                    .fetch_one(&mut *tx)
                    .await?;
                if first.swap(false, Ordering::SeqCst) {
                    barrier.wait().await;
                }
                sqlx::query("UPDATE counters SET v = $1 WHERE id = 'a'")
                    .bind(v + 1)
                    .execute(&mut *tx)
                    .await?;
                tx.commit().await
            })
            .await
        })
    });
    for done in futures_util::future::join_all(increments).await {
        done.unwrap().expect("both transactions commit");
    }
    assert_eq!(value(&db, "a").await, 2, "no lost update");
    assert!(runs.load(Ordering::SeqCst) >= 3, "one of them ran again");
    assert!(retries(&ctx).await >= 1.0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_deadlock_is_retried_and_both_transactions_commit() {
    let Some(ctx) = postgres().await else { return };
    let db = ctx.db().clone();
    sqlx::query("CREATE TABLE counters (id TEXT PRIMARY KEY, v BIGINT NOT NULL)")
        .execute(db.pool())
        .await
        .unwrap();
    sqlx::query("INSERT INTO counters (id, v) VALUES ('a', 0), ('b', 0)")
        .execute(db.pool())
        .await
        .unwrap();
    // Opposite lock orders, meeting in the middle on the first run: the
    // server picks a victim (40P01), which runs again after the other.
    let barrier = Arc::new(Barrier::new(2));
    let moves = [("a", "b"), ("b", "a")].map(|(first_row, second_row)| {
        let (db, barrier) = (db.clone(), barrier.clone());
        tokio::spawn(async move {
            let first = AtomicBool::new(true);
            let (db, barrier, first) = (&db, &barrier, &first);
            db.retry_conflicts(|| async move {
                let mut tx = db.begin().await?;
                for (i, row) in [first_row, second_row].into_iter().enumerate() {
                    sqlx::query("UPDATE counters SET v = v + 1 WHERE id = $1")
                        .bind(row)
                        .execute(&mut *tx)
                        .await?;
                    if i == 0 && first.swap(false, Ordering::SeqCst) {
                        barrier.wait().await;
                    }
                }
                tx.commit().await
            })
            .await
        })
    });
    for done in futures_util::future::join_all(moves).await {
        done.unwrap().expect("both transactions commit");
    }
    assert_eq!((value(&db, "a").await, value(&db, "b").await), (2, 2));
    assert!(retries(&ctx).await >= 1.0);
}

#[tokio::test]
async fn a_conflict_that_persists_gives_up_and_answers_503() {
    let Some(ctx) = postgres().await else { return };
    let db = ctx.db().clone();
    let runs = AtomicU32::new(0);
    let (db, runs) = (&db, &runs);
    let result = db
        .retry_conflicts(|| async move {
            runs.fetch_add(1, Ordering::SeqCst);
            let mut tx = db.begin().await?;
            // The server's own serialization failure, every time.
            sqlx::raw_sql(
                "DO $$ BEGIN RAISE EXCEPTION 'could not serialize access' \
                 USING ERRCODE = 'serialization_failure'; END $$",
            )
            .execute(&mut *tx)
            .await?;
            tx.commit().await
        })
        .await;
    let err = result.expect_err("it keeps failing");
    assert_eq!(runs.load(Ordering::SeqCst), CONFLICT_ATTEMPTS);
    let res = ApiError::from(err).into_response();
    assert_eq!(res.status(), 503);
    assert_eq!(res.headers()["retry-after"], "1");
}

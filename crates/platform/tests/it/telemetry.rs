//! Telemetry on real databases: every query counted by operation and
//! status, consumer outcomes and dead letters in the consumer's
//! `/metrics`, JSON log lines that carry the request's trace context.

use std::sync::Arc;

use axum::{Router, routing::get};
use marimo_platform::{
    auth::{Caller, Role, jwt::Identity},
    bus::{Bus, Envelope, HandlerError, inbox},
    config::LogFormat,
    http::ServiceApp,
    service::{ServiceContext, ServiceName},
    telemetry::log,
};
use marimo_testkit::{backends, context, context_on, eventually, scrape::sample, spawn};
use serde_json::json;

use crate::support::Capture;

/// The current value of a sample in `ctx`'s `/metrics` (0 when absent).
async fn value(ctx: &ServiceContext, name: &str, labels: &[(&str, &str)]) -> f64 {
    sample(&ctx.metrics.scrape().await, name, labels).unwrap_or(0.0)
}

/// Waits until a sample equals `want`; a failure shows the last exposition.
async fn until_value(ctx: &ServiceContext, name: &str, labels: &[(&str, &str)], want: f64) {
    let what = format!("{name}{labels:?} = {want}");
    eventually(&what, async || {
        let got = value(ctx, name, labels).await;
        if got == want {
            Ok(())
        } else {
            Err(format!("{got}\n{}", ctx.metrics.scrape().await))
        }
    })
    .await;
}

#[tokio::test]
async fn queries_are_counted_by_operation_and_status() {
    for backend in backends() {
        let ctx = context(ServiceName::Shop, backend.settings(&[]).await).await;
        let db = ctx.db();
        let shop = [("service", "shop")];
        let count = |op: &'static str, status: &'static str| {
            let ctx = ctx.clone();
            async move {
                value(
                    &ctx,
                    "db_queries_total",
                    &[("service", "shop"), ("operation", op), ("status", status)],
                )
                .await
            }
        };
        let (inserts, constraints, errors) = (
            count("insert", "ok").await,
            count("insert", "constraint").await,
            count("select", "error").await,
        );
        sqlx::query("CREATE TABLE t (id TEXT PRIMARY KEY)")
            .execute(db.pool())
            .await
            .unwrap();
        let mut tx = db.begin().await.unwrap();
        sqlx::query("INSERT INTO t (id) VALUES ($1)")
            .bind("a")
            .execute(&mut *tx)
            .await
            .unwrap();
        tx.commit().await.unwrap();
        let duplicate = sqlx::query("INSERT INTO t (id) VALUES ($1)")
            .bind("a")
            .execute(db.pool())
            .await;
        assert!(duplicate.is_err());
        let nonsense = sqlx::query("SELECT nothing FROM nowhere")
            .fetch_all(db.pool())
            .await;
        assert!(nonsense.is_err());
        let n: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM t")
            .fetch_one(db.pool())
            .await
            .unwrap();
        assert_eq!(n, 1);

        // The relay polls meanwhile (its inserts count too), but it never
        // violates a constraint or sends bad SQL.
        assert!(count("insert", "ok").await > inserts, "{}", backend.name());
        assert_eq!(count("insert", "constraint").await, constraints + 1.0);
        assert_eq!(count("select", "error").await, errors + 1.0);
        assert!(count("other", "ok").await >= 3.0, "CREATE, BEGIN, COMMIT");
        let text = ctx.metrics.scrape().await;
        assert!(
            sample(
                &text,
                "db_query_duration_seconds_count",
                &[("service", "shop"), ("operation", "select")]
            )
            .unwrap_or(0.0)
                >= 2.0,
            "{text}"
        );
        assert!(
            sample(
                &text,
                "db_query_duration_seconds_bucket",
                &[("operation", "insert"), ("le", "10")]
            )
            .is_some()
        );
        assert!(sample(&text, "outbox_backlog", &shop).is_some(), "{text}");
    }
}

#[tokio::test]
async fn consumer_outcomes_and_dead_letters_show_in_the_consumers_metrics() {
    for backend in backends() {
        let bus = Bus::embedded();
        let settings = backend.settings(&[]).await;
        let shop = context_on(ServiceName::Shop, settings.clone(), bus.clone()).await;
        let accounting = context_on(ServiceName::Accounting, settings, bus.clone()).await;
        let db = accounting.db().clone();
        let handler_db = db.clone();
        bus.subscribe(
            &db,
            "accounting",
            &["shop.order.*"],
            move |env: Envelope| {
                let db = handler_db.clone();
                async move {
                    if env.payload["poison"] == true {
                        return Err(HandlerError::Permanent("poison payload".into()));
                    }
                    if let Some(tx) = inbox::begin(&db, "accounting", &env.id).await? {
                        tx.commit().await?;
                    }
                    Ok(())
                }
            },
        )
        .await
        .unwrap();
        let labels = [
            ("service", "accounting"),
            ("queue", "accounting"),
            ("type", "shop.order.paid"),
        ];
        until_value(&accounting, "dlq_depth", &labels[..2], 0.0).await;

        for payload in [json!({"order": 1}), json!({"poison": true})] {
            let mut tx = shop.db().begin().await.unwrap();
            let env = Envelope::new("shop", "shop.order.paid", payload);
            shop.outbox.publish(&mut tx, &env).await.unwrap();
            tx.commit().await.unwrap();
        }
        shop.outbox.wake();

        until_value(&accounting, "events_consumed_total", &labels, 1.0).await;
        until_value(&accounting, "events_failed_total", &labels, 1.0).await;
        until_value(&accounting, "dlq_depth", &labels[..2], 1.0).await;
        until_value(
            &shop,
            "events_published_total",
            &[("service", "shop"), ("type", "shop.order.paid")],
            2.0,
        )
        .await;
        until_value(&shop, "outbox_backlog", &[("service", "shop")], 0.0).await;
    }
}

#[tokio::test]
async fn a_stopped_service_leaves_its_pool_unreferenced() {
    // Collectors live in the metrics, which the database and the bus's
    // subscriptions hold: a collector that held them strongly would keep
    // every pool (and its connections) alive for ever.
    for backend in backends() {
        let settings = Arc::new(backend.settings(&[]).await);
        let shutdown = tokio_util::sync::CancellationToken::new();
        let tasks = tokio_util::task::TaskTracker::new();
        let bus = Bus::embedded();
        let ctx = ServiceContext::new(
            ServiceName::Accounting,
            settings,
            bus.clone(),
            shutdown.clone(),
            tasks.clone(),
        )
        .await
        .unwrap();
        let db = ctx.db().clone();
        bus.subscribe(
            &db,
            "accounting",
            &["shop.order.*"],
            |_env: Envelope| async { Ok::<(), HandlerError>(()) },
        )
        .await
        .unwrap();
        let text = ctx.metrics.scrape().await;
        assert!(
            sample(&text, "dlq_depth", &[("queue", "accounting")]).is_some(),
            "{text}"
        );
        let weak = db.downgrade();
        drop((db, ctx, bus));
        shutdown.cancel();
        tasks.close();
        tasks.wait().await;
        assert!(weak.upgrade().is_none(), "{}", backend.name());
    }
}

/// Log lines written to memory.
async fn whoami(caller: Caller) -> &'static str {
    tracing::info!(answer = 42, "who am i");
    let _ = caller;
    "ok"
}

// A current-thread runtime: the server, its client and the log
// subscriber set below all live on this one thread.
#[tokio::test]
async fn a_json_log_line_of_a_request_carries_its_context() {
    let capture = Capture::default();
    let _guard =
        tracing::subscriber::set_default(log::subscriber("info", LogFormat::Json, capture.clone()));
    let ctx = context(
        ServiceName::Users,
        marimo_testkit::Backend::Sqlite.settings(&[]).await,
    )
    .await;
    let api = Router::new().route("/api/users/whoami", get(whoami));
    let server = spawn(ServiceApp::new(&ctx).router(api)).await;
    let (token, _) = ctx.jwt.issue(&Identity {
        user_id: "0192f000-0000-7000-8000-000000000001".into(),
        email: "ann@example.com".into(),
        role: Role::User,
        tenant: Default::default(),
    });
    let parent = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
    server
        .http
        .get("/api/users/whoami")
        .bearer(&token)
        .header("traceparent", parent)
        .header("x-request-id", "req-42")
        .send()
        .await
        .expect(200);

    let lines = capture.lines();
    let line = lines
        .iter()
        .find(|l| l["message"] == "who am i")
        .unwrap_or_else(|| panic!("no log line of the request in {lines:?}"));
    assert_eq!(line["level"], "INFO");
    assert_eq!(line["service"], "users");
    assert_eq!(line["request_id"], "req-42");
    assert_eq!(line["trace_id"], "4bf92f3577b34da6a3ce929d0e0e4736");
    let span_id = line["span_id"].as_str().unwrap();
    assert_eq!(span_id.len(), 16);
    assert_ne!(span_id, "00f067aa0ba902b7", "the server span is a child");
    assert_eq!(line["user_id"], "0192f000-0000-7000-8000-000000000001");
    assert_eq!(line["answer"], 42);
    assert_eq!(line["method"], "GET", "fields of the request span");
    let ts = line["timestamp"].as_str().unwrap();
    assert!(
        marimo_platform::clock::parse(ts).is_some(),
        "RFC 3339: {ts}"
    );
}

//! The `Idempotency-Key` layer on a real server and database (each
//! backend): one effect per key, the first answer replayed, a different
//! request refused, a repeat in flight waited for, answers that mean "not
//! done" released, claims of a dead process taken over, and the routes
//! that claim in their own transaction left alone.

use std::{
    sync::{
        Arc,
        atomic::{AtomicUsize, Ordering},
    },
    time::Duration,
};

use axum::{
    Json, Router,
    extract::{Path, State},
    http::{HeaderMap, Method, StatusCode},
    response::{IntoResponse, Response},
    routing::{delete, post},
};
use marimo_platform::{
    auth::Role,
    clock,
    db::Db,
    http::ServiceApp,
    idempotency::{
        Layer,
        layer::{STALE_AFTER, fingerprint},
    },
    ids::new_id,
    service::ServiceName,
};
use marimo_testkit::{
    Backend, Http, TestServer, backends, context, eventually, scrape::sample, spawn, token_for_user,
};
use serde_json::{Value, json};
use tokio::sync::Notify;

struct App {
    db: Db,
    /// Answers of `/flaky` before it works: 503s.
    failures_left: AtomicUsize,
    entered: Notify,
    gate: Notify,
}

async fn create(State(app): State<Arc<App>>, Json(body): Json<Value>) -> Response {
    let id = new_id();
    sqlx::query("INSERT INTO things (id, name) VALUES ($1, $2)")
        .bind(&id)
        .bind(body["name"].as_str().unwrap_or(""))
        .execute(app.db.pool())
        .await
        .unwrap();
    (
        StatusCode::CREATED,
        Json(json!({"success": true, "id": id})),
    )
        .into_response()
}

async fn flaky(state: State<Arc<App>>, body: Json<Value>) -> Response {
    let left = state.failures_left.load(Ordering::SeqCst);
    if left > 0 {
        state.failures_left.store(left - 1, Ordering::SeqCst);
        return (StatusCode::SERVICE_UNAVAILABLE, "try again").into_response();
    }
    create(state, body).await
}

async fn slow(state: State<Arc<App>>, body: Json<Value>) -> Response {
    state.entered.notify_one();
    state.gate.notified().await;
    create(state, body).await
}

async fn boom() -> Response {
    panic!("a bug")
}

async fn remove(State(app): State<Arc<App>>, Path(id): Path<String>) -> StatusCode {
    sqlx::query("DELETE FROM things WHERE id = $1")
        .bind(&id)
        .execute(app.db.pool())
        .await
        .unwrap();
    StatusCode::NO_CONTENT
}

/// Claims its key itself (in the real services: in its transaction).
async fn own(headers: HeaderMap) -> Json<Value> {
    Json(json!({"saw_key": headers.contains_key("idempotency-key")}))
}

struct Running {
    app: Arc<App>,
    http: Http,
    server: TestServer,
}

async fn start(backend: &Backend) -> Running {
    let ctx = context(ServiceName::Worker, backend.settings(&[]).await).await;
    let db = ctx.db().clone();
    sqlx::query("CREATE TABLE things (id TEXT PRIMARY KEY, name TEXT NOT NULL)")
        .execute(db.pool())
        .await
        .unwrap();
    let app = Arc::new(App {
        db,
        failures_left: AtomicUsize::new(0),
        entered: Notify::new(),
        gate: Notify::new(),
    });
    let api = Router::new()
        .route("/things", post(create))
        .route("/things/{id}", delete(remove))
        .route("/flaky", post(flaky))
        .route("/slow", post(slow))
        .route("/boom", post(boom))
        .route("/own", post(own))
        .with_state(app.clone());
    let layer = Layer::prepare(&ctx)
        .await
        .unwrap()
        .in_transaction(&[(Method::POST, "/own")]);
    let server = spawn(ServiceApp::new(&ctx).idempotency(layer).router(api)).await;
    Running {
        app,
        http: server.http.clone(),
        server,
    }
}

async fn count(db: &Db, sql: &'static str) -> i64 {
    sqlx::query_scalar::<_, i64>(sql)
        .fetch_one(db.pool())
        .await
        .unwrap()
}

#[tokio::test]
async fn a_repeat_is_answered_from_the_first_and_a_different_request_is_refused() {
    for backend in backends() {
        eprintln!("--- backend: {}", backend.name());
        let sys = start(&backend).await;
        let alice = token_for_user("alice", Role::User);
        let post = |token: &str, key: &str, body: Value| {
            sys.http
                .post("/things")
                .bearer(token)
                .header("idempotency-key", key)
                .json(body)
                .send()
        };
        let first = post(&alice, "k-1", json!({"name": "a"})).await.expect(201);
        assert!(first.header("idempotent-replayed").is_none());
        let again = post(&alice, "k-1", json!({"name": "a"})).await.expect(201);
        assert_eq!(again.header("idempotent-replayed"), Some("true"));
        assert_eq!(again.text, first.text, "the very same answer");
        assert_eq!(again.header("content-type"), Some("application/json"));
        assert_eq!(count(&sys.app.db, "SELECT COUNT(*) FROM things").await, 1);

        // The same key with another body: refused, nothing created.
        let other = post(&alice, "k-1", json!({"name": "b"})).await;
        assert_eq!(other.status, 422, "{}", other.text);
        assert_eq!(other.code(), "IDEMPOTENCY_KEY_REUSED");
        // Or another path.
        let elsewhere = sys
            .http
            .post("/flaky")
            .bearer(&alice)
            .header("idempotency-key", "k-1")
            .json(json!({"name": "a"}))
            .send()
            .await;
        assert_eq!(elsewhere.status, 422, "{}", elsewhere.text);
        // Keys are per caller: bob's k-1 is his own.
        let bob = token_for_user("bob", Role::User);
        post(&bob, "k-1", json!({"name": "a"})).await.expect(201);
        assert_eq!(count(&sys.app.db, "SELECT COUNT(*) FROM things").await, 2);
        // Without a key nothing is remembered.
        for _ in 0..2 {
            sys.http
                .post("/things")
                .bearer(&alice)
                .json(json!({"name": "a"}))
                .send()
                .await
                .expect(201);
        }
        assert_eq!(count(&sys.app.db, "SELECT COUNT(*) FROM things").await, 4);
        // A DELETE's empty answer replays as empty.
        let id = first.json["id"].as_str().unwrap();
        for replayed in [None, Some("true")] {
            let res = sys
                .http
                .delete(&format!("/things/{id}"))
                .bearer(&alice)
                .header("idempotency-key", "del-1")
                .send()
                .await
                .expect(204);
            assert_eq!(res.header("idempotent-replayed"), replayed);
            assert_eq!(res.text, "");
        }
        // A malformed key is a 400, before anything runs.
        let bad = post(&alice, "has space", json!({"name": "a"})).await;
        assert_eq!(bad.status, 400, "{}", bad.text);
        assert_eq!(count(&sys.app.db, "SELECT COUNT(*) FROM things").await, 3);
        drop(sys.server);
    }
}

#[tokio::test]
async fn anonymous_and_in_transaction_requests_are_left_to_the_handler() {
    for backend in backends() {
        eprintln!("--- backend: {}", backend.name());
        let sys = start(&backend).await;
        // No caller to scope the key to: passed through, not remembered.
        for _ in 0..2 {
            sys.http
                .post("/things")
                .header("idempotency-key", "anon")
                .json(json!({"name": "a"}))
                .send()
                .await
                .expect(201);
        }
        // A route that claims in its own transaction sees the header.
        let t = token_for_user("alice", Role::User);
        let res = sys
            .http
            .post("/own")
            .bearer(&t)
            .header("idempotency-key", "mine")
            .json(json!({}))
            .send()
            .await
            .expect(200);
        assert_eq!(res.json["saw_key"], true);
        assert_eq!(
            count(&sys.app.db, "SELECT COUNT(*) FROM idempotency_keys").await,
            0
        );
        drop(sys.server);
    }
}

#[tokio::test]
async fn answers_that_mean_not_done_release_the_key() {
    for backend in backends() {
        eprintln!("--- backend: {}", backend.name());
        let sys = start(&backend).await;
        let t = token_for_user("alice", Role::User);
        sys.app.failures_left.store(1, Ordering::SeqCst);
        let send = || {
            sys.http
                .post("/flaky")
                .bearer(&t)
                .header("idempotency-key", "f-1")
                .json(json!({"name": "a"}))
                .send()
        };
        send().await.expect(503);
        assert_eq!(
            count(&sys.app.db, "SELECT COUNT(*) FROM idempotency_keys").await,
            0,
            "released"
        );
        let res = send().await.expect(201);
        assert!(res.header("idempotent-replayed").is_none(), "ran again");
        send().await.expect(201);
        assert_eq!(count(&sys.app.db, "SELECT COUNT(*) FROM things").await, 1);

        // A panic is a 500 in the error shape, and releases the key too.
        let res = sys
            .http
            .post("/boom")
            .bearer(&t)
            .header("idempotency-key", "b-1")
            .json(json!({}))
            .send()
            .await;
        assert_eq!(res.status, 500, "{}", res.text);
        assert_eq!(res.json["success"], false);
        assert_eq!(
            count(
                &sys.app.db,
                "SELECT COUNT(*) FROM idempotency_keys WHERE idem_key = 'b-1'"
            )
            .await,
            0
        );
        drop(sys.server);
    }
}

#[tokio::test]
async fn a_repeat_in_flight_waits_for_the_first_answer() {
    for backend in backends() {
        eprintln!("--- backend: {}", backend.name());
        let sys = start(&backend).await;
        let t = token_for_user("alice", Role::User);
        let send = |http: Http, t: String| async move {
            http.post("/slow")
                .bearer(&t)
                .header("idempotency-key", "s-1")
                .json(json!({"name": "a"}))
                .send()
                .await
        };
        let first = tokio::spawn(send(sys.http.clone(), t.clone()));
        sys.app.entered.notified().await;
        // The first holds the key and is inside its handler.
        let second = tokio::spawn(send(sys.http.clone(), t.clone()));
        eventually("the repeat to wait on the claim", async || {
            let metrics = sys.http.get("/metrics").send().await.text;
            sample(
                &metrics,
                "idempotency_requests_total",
                &[("outcome", "waited")],
            ) == Some(1.0)
        })
        .await;
        assert!(!second.is_finished(), "no answer while the first runs");
        sys.app.gate.notify_one();
        let first = first.await.unwrap().expect(201);
        let second = second.await.unwrap().expect(201);
        assert_eq!(second.header("idempotent-replayed"), Some("true"));
        assert_eq!(second.text, first.text);
        assert_eq!(count(&sys.app.db, "SELECT COUNT(*) FROM things").await, 1);
        drop(sys.server);
    }
}

#[tokio::test]
async fn a_client_that_hangs_up_does_not_cancel_the_request() {
    for backend in backends() {
        eprintln!("--- backend: {}", backend.name());
        let sys = start(&backend).await;
        let t = token_for_user("alice", Role::User);
        let impatient = reqwest::Client::builder()
            .timeout(Duration::from_millis(300))
            .build()
            .unwrap();
        let url = format!("{}/slow", sys.server.url);
        let gone = tokio::spawn({
            let t = t.clone();
            async move {
                impatient
                    .post(url)
                    .bearer_auth(t)
                    .header("idempotency-key", "h-1")
                    .json(&json!({"name": "a"}))
                    .send()
                    .await
            }
        });
        sys.app.entered.notified().await;
        assert!(gone.await.unwrap().is_err(), "the client gave up");
        sys.app.gate.notify_one();
        // The handler finished and its answer was stored for the retry.
        eventually("the answer stored", async || {
            count(
                &sys.app.db,
                "SELECT COUNT(*) FROM idempotency_keys WHERE idem_key = 'h-1' AND status = 201",
            )
            .await
                == 1
        })
        .await;
        let retry = sys
            .http
            .post("/slow")
            .bearer(&t)
            .header("idempotency-key", "h-1")
            .json(json!({"name": "a"}))
            .send()
            .await
            .expect(201);
        assert_eq!(retry.header("idempotent-replayed"), Some("true"));
        assert_eq!(count(&sys.app.db, "SELECT COUNT(*) FROM things").await, 1);
        drop(sys.server);
    }
}

/// A claim row as a process that died would leave it: in flight, last
/// renewed `age` ago.
async fn orphan_claim(db: &Db, key: &str, body: &str, age: Duration) {
    let renewed = clock::format(clock::now() - age);
    sqlx::query(
        "INSERT INTO idempotency_keys (caller, idem_key, request_hash, status, body, created_at)
         VALUES ('alice', $1, $2, 0, 'dead-holder', $3)",
    )
    .bind(key)
    .bind(fingerprint("POST", "/things", body.as_bytes()))
    .bind(renewed)
    .execute(db.pool())
    .await
    .unwrap();
}

#[tokio::test]
async fn a_claim_left_by_a_dead_process_is_taken_over_once_stale() {
    for backend in backends() {
        eprintln!("--- backend: {}", backend.name());
        let sys = start(&backend).await;
        let t = token_for_user("alice", Role::User);
        let body = r#"{"name":"a"}"#;
        let send = |key: &'static str| {
            sys.http
                .post("/things")
                .bearer(&t)
                .header("idempotency-key", key)
                .header("content-type", "application/json")
                .body(body)
                .send()
        };
        // Renewed recently: its holder may still be running it.
        orphan_claim(&sys.app.db, "live", body, Duration::ZERO).await;
        let res = send("live").await;
        assert_eq!(res.status, 409, "{}", res.text);
        assert_eq!(res.code(), "IDEMPOTENCY_KEY_IN_FLIGHT");
        assert!(res.header("retry-after").is_some());
        assert_eq!(count(&sys.app.db, "SELECT COUNT(*) FROM things").await, 0);

        // Not renewed for longer than the lease: the retry runs it.
        orphan_claim(
            &sys.app.db,
            "dead",
            body,
            STALE_AFTER + Duration::from_secs(1),
        )
        .await;
        let res = send("dead").await.expect(201);
        assert!(res.header("idempotent-replayed").is_none());
        send("dead").await.expect(201);
        assert_eq!(count(&sys.app.db, "SELECT COUNT(*) FROM things").await, 1);
        drop(sys.server);
    }
}

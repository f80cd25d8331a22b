//! Delivering webhooks: the HTTP client and the delivery loop.
//!
//! Each pending delivery is POSTed with the stored envelope JSON as body
//! and `X-Marimo-Event`, `X-Marimo-Delivery` (the delivery id, stable
//! across retries: receivers dedupe on it) and `X-Marimo-Signature:
//! sha256=<hex HMAC-SHA256(secret, body)>`. A 2xx answer delivers it;
//! anything else (another status, a timeout, a refused connection) is
//! retried with exponential backoff until the attempt limit, then the
//! delivery fails. Every attempt is logged in `webhook_attempts`.
//!
//! The client is hyper with rustls (ring provider, the system's trusted
//! roots) rather than reqwest: reqwest's rustls feature would be unified
//! into every crate of the workspace and make their clients panic without
//! a process-wide crypto provider. Redirects are not followed.

use std::{sync::Arc, time::Duration};

use bytes::Bytes;
use http_body_util::Full;
use hyper_rustls::{ConfigBuilderExt, HttpsConnector, HttpsConnectorBuilder};
use hyper_util::{
    client::legacy::{Client, connect::HttpConnector},
    rt::TokioExecutor,
};
use marimo_platform::{clock, db::Db, ids, telemetry::Metrics};
use tokio::{sync::Notify, task::JoinSet};
use tokio_util::sync::CancellationToken;

use crate::{
    WorkerTuning,
    app::mail::error_chain,
    domain::{Retry, webhook},
    store::{
        self,
        webhooks::{AttemptRecord, DueDelivery, Outcome},
    },
};

/// Deliveries read per round; they are sent concurrently.
const BATCH: i64 = 16;

type HttpClient = Client<HttpsConnector<HttpConnector>, Full<Bytes>>;

/// The webhook HTTP client.
#[derive(Clone)]
pub struct Sender {
    client: HttpClient,
    timeout: Duration,
    /// Why https cannot work on this machine (no trusted roots), if so.
    tls_problem: Option<String>,
}

impl Sender {
    pub fn new(timeout: Duration) -> Result<Self, String> {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let builder = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(|e| format!("cannot configure TLS for webhooks: {e}"))?;
        // No trusted roots (a bare container) must not stop the service:
        // http webhooks still work, https ones fail with this reason.
        let (tls, tls_problem) = match builder.clone().with_native_roots() {
            Ok(b) => (b.with_no_client_auth(), None),
            Err(e) => {
                let problem = format!(
                    "https webhooks are unavailable: no trusted root certificates could be loaded ({e})"
                );
                tracing::warn!("{problem}");
                (
                    builder
                        .with_root_certificates(rustls::RootCertStore::empty())
                        .with_no_client_auth(),
                    Some(problem),
                )
            }
        };
        let mut http = HttpConnector::new();
        http.enforce_http(false);
        http.set_connect_timeout(Some(timeout));
        let connector = HttpsConnectorBuilder::new()
            .with_tls_config(tls)
            .https_or_http()
            .enable_http1()
            .wrap_connector(http);
        let client = Client::builder(TokioExecutor::new())
            .pool_idle_timeout(Duration::from_secs(30))
            .build(connector);
        Ok(Self {
            client,
            timeout,
            tls_problem,
        })
    }

    /// One POST: the status code if the receiver answered, and an error
    /// unless it answered 2xx.
    pub async fn post(&self, d: &DueDelivery) -> (Option<u16>, Option<String>) {
        if d.url.starts_with("https://")
            && let Some(problem) = &self.tls_problem
        {
            return (None, Some(problem.clone()));
        }
        let request = http::Request::builder()
            .method(http::Method::POST)
            .uri(&d.url)
            .header(http::header::CONTENT_TYPE, "application/json")
            .header(
                http::header::USER_AGENT,
                concat!("marimo-worker/", env!("CARGO_PKG_VERSION")),
            )
            .header("X-Marimo-Event", &d.event_type)
            .header("X-Marimo-Delivery", &d.id)
            .header(
                "X-Marimo-Signature",
                webhook::signature(&d.secret, d.payload.as_bytes()),
            )
            .body(Full::new(Bytes::from(d.payload.clone())));
        let request = match request {
            Ok(r) => r,
            Err(e) => return (None, Some(format!("cannot build the request: {e}"))),
        };
        match tokio::time::timeout(self.timeout, self.client.request(request)).await {
            Err(_) => (
                None,
                Some(format!("no answer within {} ms", self.timeout.as_millis())),
            ),
            Ok(Err(e)) => (None, Some(error_chain(&e))),
            Ok(Ok(response)) => {
                // The body is not needed; dropping it closes the stream.
                let status = response.status();
                if status.is_success() {
                    (Some(status.as_u16()), None)
                } else {
                    (
                        Some(status.as_u16()),
                        Some(format!("the receiver answered {status}")),
                    )
                }
            }
        }
    }
}

/// The loop that delivers pending webhooks.
pub struct WebhookSender {
    pub db: Db,
    pub sender: Sender,
    pub tuning: WorkerTuning,
    pub metrics: Metrics,
    pub wake: Arc<Notify>,
}

impl WebhookSender {
    pub async fn run(self, shutdown: CancellationToken) {
        let this = Arc::new(self);
        loop {
            if let Err(e) = this.drain(&shutdown).await {
                tracing::warn!(error = %e, "webhook sender: database error, retrying at the next poll");
            }
            tokio::select! {
                () = shutdown.cancelled() => return,
                () = this.wake.notified() => {}
                () = tokio::time::sleep(this.tuning.poll_interval) => {}
            }
        }
    }

    async fn drain(self: &Arc<Self>, shutdown: &CancellationToken) -> Result<(), sqlx::Error> {
        loop {
            if shutdown.is_cancelled() {
                return Ok(());
            }
            let due = store::webhooks::due(self.db.pool(), &clock::now_text(), BATCH).await?;
            let full = due.len() as i64 == BATCH;
            // One slow receiver must not hold up the others' deliveries.
            let mut running = JoinSet::new();
            for d in due {
                let this = Arc::clone(self);
                running.spawn(async move { this.attempt(d).await });
            }
            while let Some(joined) = running.join_next().await {
                match joined {
                    Ok(Ok(())) => {}
                    Ok(Err(e)) => return Err(e),
                    Err(e) => tracing::error!(error = %e, "webhook attempt task failed"),
                }
            }
            if !full {
                return Ok(());
            }
        }
    }

    async fn attempt(&self, d: DueDelivery) -> Result<(), sqlx::Error> {
        if d.webhook_deleted {
            return store::webhooks::cancel(self.db.pool(), &d.id).await;
        }
        let lease_until = super::time_after(self.tuning.webhook_lease);
        if !store::webhooks::claim(self.db.pool(), &d.id, &d.next_attempt_at, &lease_until).await? {
            return Ok(()); // another replica has it
        }
        let attempt = d.attempts + 1;
        let at = clock::now_text();
        let started = std::time::Instant::now();
        let (code, error) = self.sender.post(&d).await;
        let duration_ms = i64::try_from(started.elapsed().as_millis()).unwrap_or(i64::MAX);
        let next;
        let (outcome, status) = match error {
            None => (Outcome::Delivered, "delivered"),
            Some(_) => match self
                .tuning
                .webhook_retry
                .after_failure(u32::try_from(attempt).unwrap_or(u32::MAX))
            {
                Retry::After(delay) => {
                    next = super::time_after(delay);
                    (
                        Outcome::Retry {
                            next_attempt_at: &next,
                        },
                        "retry",
                    )
                }
                Retry::GiveUp => (Outcome::Failed, "failed"),
            },
        };
        store::webhooks::record_attempt(
            &self.db,
            &AttemptRecord {
                id: &ids::new_id(),
                delivery_id: &d.id,
                attempt,
                at: &at,
                status_code: code.map(i64::from),
                error: error.as_deref(),
                duration_ms,
                outcome,
            },
        )
        .await?;
        match (&error, status) {
            (None, _) => tracing::info!(delivery = %d.id, attempt, "webhook delivered"),
            (Some(e), "failed") => {
                tracing::error!(delivery = %d.id, attempt, error = %e, "webhook delivery failed for good")
            }
            (Some(e), _) => {
                tracing::warn!(delivery = %d.id, attempt, error = %e, "webhook delivery failed, will retry")
            }
        }
        self.metrics.record(|| {
            metrics::counter!("webhook_deliveries_total", "status" => status).increment(1)
        });
        Ok(())
    }
}

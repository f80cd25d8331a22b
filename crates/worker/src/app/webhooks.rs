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
//! a process-wide crypto provider. Redirects are not followed (a 3xx is a
//! failed attempt), so a receiver cannot bounce the worker elsewhere.
//!
//! Destinations (see [`crate::domain::destination`]): an address in the
//! URL, in any numeric spelling, is checked before connecting; a name is
//! resolved by [`GuardedResolver`], which refuses it when *any* of its
//! addresses is not public, and the connection goes to exactly the
//! addresses it checked (no second lookup a rebinding DNS could answer
//! differently).
//!
//! What the attempt log (shown to admins) says about a failure is one of a
//! few fixed sentences; the connection error itself, which would tell
//! which internal ports are open or what a TLS library thought, goes only
//! to the worker's own log.

use std::{
    future::Future,
    net::SocketAddr,
    pin::Pin,
    sync::Arc,
    task::{Context, Poll},
    time::Duration,
};

use bytes::Bytes;
use http_body_util::Full;
use hyper_rustls::{ConfigBuilderExt, HttpsConnector, HttpsConnectorBuilder};
use hyper_util::{
    client::legacy::{
        Client,
        connect::{HttpConnector, dns::Name},
    },
    rt::TokioExecutor,
};
use marimo_platform::{clock, db::Db, ids, telemetry::Metrics};
use tokio::{sync::Notify, task::JoinSet};
use tokio_util::sync::CancellationToken;

use crate::{
    WorkerTuning,
    app::mail::error_chain,
    domain::{
        Retry,
        destination::{self, Allowlist},
        webhook,
    },
    store::{
        self,
        webhooks::{AttemptRecord, DueDelivery, Outcome},
    },
};

/// Deliveries read per round; they are sent concurrently.
const BATCH: i64 = 16;

type HttpClient = Client<HttpsConnector<HttpConnector<GuardedResolver>>, Full<Bytes>>;

/// A destination refused because of where it points.
#[derive(Debug)]
pub struct Refused(&'static str);

impl std::fmt::Display for Refused {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "the destination resolves to {}; webhooks go to public addresses only",
            self.0
        )
    }
}

impl std::error::Error for Refused {}

/// Resolves webhook host names and refuses those with any address that
/// is not public (or allowed). Numeric spellings of an address that the
/// connector did not take as one (`2130706433`, `0x7f.1`) are read here
/// as the address, not handed to the system resolver.
#[derive(Clone)]
pub struct GuardedResolver {
    allow: Arc<Allowlist>,
}

impl tower::Service<Name> for GuardedResolver {
    type Response = std::vec::IntoIter<SocketAddr>;
    type Error = std::io::Error;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, Self::Error>> + Send>>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, name: Name) -> Self::Future {
        let allow = Arc::clone(&self.allow);
        let host = name.as_str().to_owned();
        Box::pin(async move {
            let addrs: Vec<SocketAddr> = match destination::literal_ip(&host) {
                Some(ip) => vec![SocketAddr::new(ip, 0)],
                None if destination::is_local_name(&host) => {
                    return Err(std::io::Error::other(Refused("a loopback address")));
                }
                // Port 0: the connector puts the URL's port in.
                None => tokio::net::lookup_host((host.as_str(), 0)).await?.collect(),
            };
            if let Some(why) = addrs
                .iter()
                .find_map(|a| destination::refusal(a.ip(), &allow))
            {
                return Err(std::io::Error::other(Refused(why)));
            }
            Ok(addrs.into_iter())
        })
    }
}

/// The [`Refused`] somewhere in an error's chain (hyper wraps the
/// resolver's error in its own).
fn refused_in<'a>(e: &'a (dyn std::error::Error + 'static)) -> Option<&'a Refused> {
    let mut cur: Option<&(dyn std::error::Error + 'static)> = Some(e);
    while let Some(err) = cur {
        if let Some(r) = err.downcast_ref::<Refused>() {
            return Some(r);
        }
        if let Some(io) = err.downcast_ref::<std::io::Error>()
            && let Some(r) = io.get_ref().and_then(|i| i.downcast_ref::<Refused>())
        {
            return Some(r);
        }
        cur = err.source();
    }
    None
}

/// The webhook HTTP client.
#[derive(Clone)]
pub struct Sender {
    client: HttpClient,
    timeout: Duration,
    allow: Arc<Allowlist>,
    /// Why https cannot work on this machine (no trusted roots), if so.
    tls_problem: Option<String>,
}

impl Sender {
    pub fn new(timeout: Duration, allow: Allowlist) -> Result<Self, String> {
        let allow = Arc::new(allow);
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
        let mut http = HttpConnector::new_with_resolver(GuardedResolver {
            allow: Arc::clone(&allow),
        });
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
            allow,
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
        // An address written in the URL never reaches the resolver: the
        // connector dials it directly, so it is checked here.
        let host = d
            .url
            .parse::<http::Uri>()
            .ok()
            .and_then(|u| u.host().map(str::to_owned));
        if let Some(ip) = host.as_deref().and_then(destination::literal_ip)
            && let Some(why) = destination::refusal(ip, &self.allow)
        {
            return (None, Some(Refused(why).to_string()));
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
            Ok(Err(e)) => {
                if let Some(refused) = refused_in(&e) {
                    return (None, Some(refused.to_string()));
                }
                // The details stay in our log; the attempt log gets a
                // fixed sentence (no ports, addresses or library text).
                tracing::info!(delivery = %d.id, error = %error_chain(&e), "webhook request failed");
                let what = if e.is_connect() {
                    "could not connect to the receiver (connection or TLS handshake failed)"
                } else {
                    "the request to the receiver failed before an answer"
                };
                (None, Some(what.to_owned()))
            }
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
            let due = store::webhooks::due(&self.db, &clock::now_text(), BATCH).await?;
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
            return store::webhooks::cancel(&self.db, &d.tenant, &d.id).await;
        }
        let lease_until = super::time_after(self.tuning.webhook_lease);
        if !store::webhooks::claim(&self.db, &d.tenant, &d.id, &d.next_attempt_at, &lease_until)
            .await?
        {
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
                tenant: &d.tenant,
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

#[cfg(test)]
mod tests {
    use tower::Service;

    use super::*;

    fn delivery(url: &str) -> DueDelivery {
        DueDelivery {
            tenant: Default::default(),
            id: "d-1".into(),
            url: url.into(),
            secret: "0123456789abcdef".into(),
            event_type: "users.user.registered".into(),
            payload: "{}".into(),
            attempts: 0,
            next_attempt_at: String::new(),
            webhook_deleted: false,
        }
    }

    async fn resolve(allow: Allowlist, host: &str) -> Result<Vec<SocketAddr>, std::io::Error> {
        let mut r = GuardedResolver {
            allow: Arc::new(allow),
        };
        let name: Name = host.parse().expect("a host name");
        r.call(name).await.map(Iterator::collect)
    }

    #[tokio::test]
    async fn names_and_numeric_hosts_that_reach_this_machine_are_refused() {
        for host in ["localhost", "2130706433", "0x7f.1", "0177.0.0.1"] {
            let err = resolve(Allowlist::default(), host).await.unwrap_err();
            assert!(refused_in(&err).is_some(), "{host}: {err}");
        }
        // A name the system resolves (the machine's own name: /etc/hosts
        // maps it to loopback or the machine's private address) is judged
        // by what it resolves to.
        let own = std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap_or_default();
        let own = own.trim();
        if let Ok(addrs) = tokio::net::lookup_host((own, 0)).await {
            let addrs: Vec<SocketAddr> = addrs.collect();
            if addrs
                .iter()
                .any(|a| destination::refusal(a.ip(), &Allowlist::default()).is_some())
            {
                let err = resolve(Allowlist::default(), own).await.unwrap_err();
                assert!(refused_in(&err).is_some(), "{own}: {err}");
            }
        }
        // Allowed, the numeric form is the address it spells (no lookup).
        let allow = Allowlist::parse(&["127.0.0.1/32".to_owned()]).unwrap();
        let addrs = resolve(allow, "2130706433").await.unwrap();
        assert_eq!(addrs, vec!["127.0.0.1:0".parse().unwrap()]);
    }

    #[tokio::test]
    async fn a_literal_address_is_checked_before_connecting() {
        let sender = Sender::new(Duration::from_secs(2), Allowlist::default()).unwrap();
        for url in [
            "http://127.0.0.1:9/hook",
            "http://[::1]:9/hook",
            "http://169.254.169.254/latest",
        ] {
            let (code, error) = sender.post(&delivery(url)).await;
            assert_eq!(code, None);
            let error = error.unwrap();
            assert!(error.contains("public addresses only"), "{url}: {error}");
        }
    }

    #[tokio::test]
    async fn the_attempt_log_gets_a_fixed_sentence_not_the_connection_error() {
        // A loopback port nothing listens on (allowed for the test).
        let port = {
            let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            l.local_addr().unwrap().port()
        };
        let allow = Allowlist::parse(&["127.0.0.1/32".to_owned()]).unwrap();
        let sender = Sender::new(Duration::from_secs(2), allow).unwrap();
        let (code, error) = sender
            .post(&delivery(&format!("http://127.0.0.1:{port}/hook")))
            .await;
        assert_eq!(code, None);
        let error = error.unwrap();
        assert_eq!(
            error,
            "could not connect to the receiver (connection or TLS handshake failed)"
        );
    }
}

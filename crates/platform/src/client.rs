//! A client for calling another Marimo service from inside a service (the
//! gateway has its own, richer pipeline). It finds instances through
//! [`Discovery`], takes them in turn, skips instances whose circuit
//! breaker is open, bounds every call with a timeout, and forwards the
//! request id and the trace context (a client span per call). An outage of the callee turns into a fast
//! [`CallError::Unavailable`] instead of a pile of waiting requests.

use std::{
    collections::HashMap,
    sync::{
        Arc, Mutex,
        atomic::{AtomicUsize, Ordering},
    },
    time::Duration,
};

use crate::{
    discovery::{Discovery, Instance},
    http::request_id,
    resilience::{Breaker, BreakerConfig},
    service::ServiceName,
    telemetry::http::{ClientSpan, TRACEPARENT},
};

/// Why a call produced no response worth reading.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CallError {
    /// No instance could take the call: none known, every breaker open,
    /// or the instance tried was unreachable, timed out or answered 5xx.
    #[error("{service} is unavailable: {reason}")]
    Unavailable {
        service: ServiceName,
        reason: String,
    },
}

/// Calls one service's instances with a breaker per instance.
pub struct ServiceClient {
    service: ServiceName,
    discovery: Arc<dyn Discovery>,
    http: reqwest::Client,
    breaker: BreakerConfig,
    breakers: Mutex<HashMap<Arc<str>, Arc<Breaker>>>,
    next: AtomicUsize,
    /// Signs calls as the edge does (`MARIMO_EDGE_SECRET`), so services
    /// that require it answer this one.
    edge: Option<crate::http::edge::EdgeKey>,
}

impl ServiceClient {
    /// `timeout` bounds connecting and the whole call.
    pub fn new(
        service: ServiceName,
        discovery: Arc<dyn Discovery>,
        timeout: Duration,
        breaker: BreakerConfig,
    ) -> Result<Self, reqwest::Error> {
        let http = reqwest::Client::builder()
            .timeout(timeout)
            .connect_timeout(timeout)
            .pool_idle_timeout(crate::http::serve::CLIENT_POOL_IDLE)
            .redirect(reqwest::redirect::Policy::none())
            .build()?;
        Ok(Self {
            service,
            discovery,
            http,
            breaker,
            breakers: Mutex::new(HashMap::new()),
            next: AtomicUsize::new(0),
            edge: None,
        })
    }

    /// Signs every call with the edge key, when there is one.
    pub fn with_edge(mut self, edge: Option<crate::http::edge::EdgeKey>) -> Self {
        self.edge = edge;
        self
    }

    pub fn service(&self) -> ServiceName {
        self.service
    }

    /// `GET path` on the next instance whose breaker lets the call
    /// through, with `bearer` as the caller's token. Any response below
    /// 500 is returned for the caller to judge (401 and 404 are answers,
    /// not outages); 5xx, timeouts and connection errors count against
    /// the instance's breaker and come back as [`CallError::Unavailable`].
    pub async fn get(
        &self,
        path: &str,
        bearer: Option<&str>,
    ) -> Result<reqwest::Response, CallError> {
        self.call(reqwest::Method::GET, path, bearer, None).await
    }

    /// `POST path` with a JSON `body`, judged like [`Self::get`]. Not
    /// retried here: only the caller knows whether the endpoint makes a
    /// repeat harmless (an idempotent hold, an `Idempotency-Key`), and so
    /// whether to call again after [`CallError::Unavailable`].
    pub async fn post_json(
        &self,
        path: &str,
        bearer: Option<&str>,
        body: &serde_json::Value,
    ) -> Result<reqwest::Response, CallError> {
        self.call(reqwest::Method::POST, path, bearer, Some(body))
            .await
    }

    async fn call(
        &self,
        method: reqwest::Method,
        path: &str,
        bearer: Option<&str>,
        body: Option<&serde_json::Value>,
    ) -> Result<reqwest::Response, CallError> {
        let (instance, breaker) = self.pick()?;
        let url = format!("{}{path}", instance.base_url);
        let span = ClientSpan::start(method.as_str(), &url);
        let mut req = self.http.request(method.clone(), &url);
        if let Some(token) = bearer {
            req = req.bearer_auth(token);
        }
        if let Some(body) = body {
            req = req.json(body);
        }
        if let Some(edge) = &self.edge {
            let path_only = path.split('?').next().unwrap_or(path);
            req = req.header(
                crate::http::edge::HEADER,
                edge.sign_now(method.as_str(), path_only),
            );
        }
        if let Some(id) = request_id::current() {
            req = req.header(request_id::HEADER.as_str(), id);
        }
        if let Some(traceparent) = span.traceparent() {
            req = req.header(TRACEPARENT.as_str(), traceparent);
        }
        let sent = req.send().await;
        match &sent {
            Ok(res) => span.end(Ok(res.status().as_u16())),
            Err(e) => span.end(Err(&e.to_string())),
        }
        match sent {
            Ok(res) if res.status().is_server_error() => {
                breaker.record_failure();
                Err(self.unavailable(format!("answered {}", res.status())))
            }
            Ok(res) => {
                breaker.record_success();
                Ok(res)
            }
            Err(e) => {
                breaker.record_failure();
                let why = if e.is_timeout() {
                    "timed out"
                } else {
                    "unreachable"
                };
                tracing::warn!(service = %self.service, instance = %instance.base_url, error = %e, "call {why}");
                Err(self.unavailable(why.into()))
            }
        }
    }

    /// The next instance in turn whose breaker admits a call.
    fn pick(&self) -> Result<(Instance, Arc<Breaker>), CallError> {
        let instances = self.discovery.instances(self.service);
        if instances.is_empty() {
            return Err(self.unavailable("no instances known".into()));
        }
        let start = self.next.fetch_add(1, Ordering::Relaxed);
        for i in 0..instances.len() {
            let instance = &instances[(start + i) % instances.len()];
            let breaker = self.breaker_of(instance);
            if breaker.try_acquire() {
                return Ok((instance.clone(), breaker));
            }
        }
        Err(self.unavailable("circuit open on every instance".into()))
    }

    fn breaker_of(&self, instance: &Instance) -> Arc<Breaker> {
        let mut map = self.breakers.lock().unwrap_or_else(|p| p.into_inner());
        map.entry(instance.base_url.clone())
            .or_insert_with(|| Arc::new(Breaker::new(self.breaker)))
            .clone()
    }

    fn unavailable(&self, reason: String) -> CallError {
        CallError::Unavailable {
            service: self.service,
            reason,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::discovery::StaticDiscovery;

    struct Fixed(Vec<Instance>);
    impl Discovery for Fixed {
        fn instances(&self, _: ServiceName) -> Vec<Instance> {
            self.0.clone()
        }
    }

    fn client(urls: &[&str], breaker: BreakerConfig) -> ServiceClient {
        let list = urls
            .iter()
            .map(|u| Instance {
                base_url: (*u).into(),
            })
            .collect();
        ServiceClient::new(
            ServiceName::Shop,
            Arc::new(Fixed(list)),
            Duration::from_millis(200),
            breaker,
        )
        .unwrap()
    }

    #[test]
    fn takes_instances_in_turn() {
        let c = client(&["http://a", "http://b"], BreakerConfig::default());
        let picks: Vec<_> = (0..4).map(|_| c.pick().unwrap().0.base_url).collect();
        assert_eq!(&*picks[0], "http://a");
        assert_eq!(&*picks[1], "http://b");
        assert_eq!(picks[0], picks[2]);
        assert_eq!(picks[1], picks[3]);
    }

    #[test]
    fn skips_an_instance_whose_breaker_is_open_and_fails_fast_when_all_are() {
        // Open long enough that no trial is due while the test runs.
        let cfg = BreakerConfig {
            min_requests: 1,
            failure_rate: 50,
            open_for: Duration::from_secs(600),
            ..BreakerConfig::default()
        };
        let c = client(&["http://a", "http://b"], cfg);
        let (a, breaker) = c.pick().unwrap();
        assert_eq!(&*a.base_url, "http://a");
        breaker.record_failure();
        for _ in 0..3 {
            assert_eq!(&*c.pick().unwrap().0.base_url, "http://b");
        }
        c.breaker_of(&Instance {
            base_url: "http://b".into(),
        })
        .record_failure();
        let err = c.pick().unwrap_err();
        assert!(err.to_string().contains("circuit open"), "{err}");
    }

    #[test]
    fn no_instances_is_unavailable() {
        let c = ServiceClient::new(
            ServiceName::Shop,
            Arc::new(StaticDiscovery::default()),
            Duration::from_millis(200),
            BreakerConfig::default(),
        )
        .unwrap();
        assert!(matches!(c.pick(), Err(CallError::Unavailable { .. })));
    }

    #[tokio::test]
    async fn a_refused_connection_counts_against_the_breaker() {
        // A port nobody listens on: bind, take the port, drop the socket.
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let cfg = BreakerConfig {
            min_requests: 2,
            failure_rate: 50,
            open_for: Duration::from_secs(600),
            ..BreakerConfig::default()
        };
        let c = client(&[&format!("http://127.0.0.1:{port}")], cfg);
        for _ in 0..2 {
            let err = c.get("/api/shop/summary", None).await.unwrap_err();
            assert!(err.to_string().contains("unreachable"), "{err}");
        }
        let err = c.get("/api/shop/summary", None).await.unwrap_err();
        assert!(err.to_string().contains("circuit open"), "{err}");
    }
}

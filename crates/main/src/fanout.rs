//! The one place where the main service talks to other services: their
//! `/summary` endpoints, called in parallel with the caller's bearer
//! token, each with a short timeout, behind a short cache keyed by
//! service and role. Swapping this for the platform's breaker/discovery
//! client later is a change to this module only.

use std::{
    collections::HashMap,
    sync::{
        Arc,
        atomic::{AtomicUsize, Ordering},
    },
    time::Duration,
};

use marimo_platform::{
    auth::Role,
    config::Settings,
    http::request_id,
    service::ServiceName,
    telemetry::http::{ClientSpan, TRACEPARENT},
};
use serde_json::Value;

/// The services whose summaries the dashboard is composed of, in the
/// order `degraded` lists them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Upstream {
    Users,
    Accounting,
    Shop,
    Factory,
}

impl Upstream {
    pub const ALL: [Upstream; 4] = [Self::Users, Self::Accounting, Self::Shop, Self::Factory];

    pub fn service(self) -> ServiceName {
        match self {
            Self::Users => ServiceName::Users,
            Self::Accounting => ServiceName::Accounting,
            Self::Shop => ServiceName::Shop,
            Self::Factory => ServiceName::Factory,
        }
    }

    pub fn as_str(self) -> &'static str {
        self.service().as_str()
    }

    fn path(self) -> &'static str {
        match self {
            Self::Users => "/api/users/summary",
            Self::Accounting => "/api/accounting/summary",
            Self::Shop => "/api/shop/summary",
            Self::Factory => "/api/factory/summary",
        }
    }
}

/// What one service said.
#[derive(Debug, Clone)]
pub enum Answer {
    /// Its summary (a 2xx JSON body).
    Figures(Arc<Value>),
    /// 401/403: the caller may not read it. Not an outage: the figures
    /// are simply not shown.
    Denied,
    /// Down, slow, 5xx or an unreadable answer: the dashboard is degraded.
    Unavailable(String),
}

/// The instances of one service, taken in turn.
struct Instances {
    urls: Vec<String>,
    next: AtomicUsize,
}

impl Instances {
    fn pick(&self) -> Option<&str> {
        if self.urls.is_empty() {
            return None;
        }
        let n = self.next.fetch_add(1, Ordering::Relaxed);
        self.urls.get(n % self.urls.len()).map(String::as_str)
    }
}

pub struct Fanout {
    client: reqwest::Client,
    instances: HashMap<Upstream, Instances>,
    /// Summaries depend on the caller only through their role, so they
    /// are shared per (service, role) for a few seconds; concurrent misses
    /// of one key wait for a single upstream call.
    cache: moka::future::Cache<(Upstream, Role), Answer>,
}

impl Fanout {
    /// A client for the services' base URLs in `settings`; `timeout`
    /// bounds each call, `ttl` how long an answer is reused.
    pub fn new(
        settings: &Settings,
        timeout: Duration,
        ttl: Duration,
    ) -> Result<Self, reqwest::Error> {
        let client = reqwest::Client::builder()
            .timeout(timeout)
            .connect_timeout(timeout)
            .redirect(reqwest::redirect::Policy::none())
            .build()?;
        let instances = Upstream::ALL
            .into_iter()
            .map(|u| {
                let urls = settings
                    .urls_of(u.service())
                    .into_iter()
                    .map(|s| s.trim_end_matches('/').to_owned())
                    .collect();
                (
                    u,
                    Instances {
                        urls,
                        next: AtomicUsize::new(0),
                    },
                )
            })
            .collect();
        let cache = moka::future::Cache::builder()
            .max_capacity(64)
            .time_to_live(ttl)
            .build();
        Ok(Self {
            client,
            instances,
            cache,
        })
    }

    /// Every upstream's answer, fetched in parallel.
    pub async fn summaries(&self, role: Role, token: &str) -> HashMap<Upstream, Answer> {
        let calls = Upstream::ALL.map(|u| async move { (u, self.summary(u, role, token).await) });
        futures_util::future::join_all(calls)
            .await
            .into_iter()
            .collect()
    }

    async fn summary(&self, upstream: Upstream, role: Role, token: &str) -> Answer {
        let fetch = async {
            match self.call(upstream, token).await {
                // A 401 concerns this caller's token, not their role: never
                // let it hide figures from others of the same role.
                Call::Unauthorized => Err(Answer::Denied),
                Call::Answer(a) => Ok(a),
            }
        };
        match self.cache.try_get_with((upstream, role), fetch).await {
            Ok(answer) => answer,
            Err(uncached) => (*uncached).clone(),
        }
    }

    async fn call(&self, upstream: Upstream, token: &str) -> Call {
        let Some(base) = self.instances.get(&upstream).and_then(Instances::pick) else {
            return Call::Answer(Answer::Unavailable("no instances configured".into()));
        };
        let url = format!("{base}{}", upstream.path());
        let span = ClientSpan::start("GET", &url);
        let mut req = self.client.get(&url).bearer_auth(token);
        if let Some(id) = request_id::current() {
            req = req.header(request_id::HEADER.as_str(), id);
        }
        if let Some(traceparent) = span.traceparent() {
            req = req.header(TRACEPARENT.as_str(), traceparent);
        }
        let res = match req.send().await {
            Ok(res) => {
                span.end(Ok(res.status().as_u16()));
                res
            }
            Err(e) => {
                span.end(Err(&e.to_string()));
                let why = if e.is_timeout() {
                    "timed out"
                } else {
                    "unreachable"
                };
                tracing::warn!(upstream = upstream.as_str(), error = %e, "summary {why}");
                return Call::Answer(Answer::Unavailable(why.into()));
            }
        };
        let status = res.status();
        if status == reqwest::StatusCode::UNAUTHORIZED {
            return Call::Unauthorized;
        }
        if status == reqwest::StatusCode::FORBIDDEN {
            return Call::Answer(Answer::Denied);
        }
        if !status.is_success() {
            tracing::warn!(upstream = upstream.as_str(), %status, "summary failed");
            return Call::Answer(Answer::Unavailable(format!("answered {status}")));
        }
        match res.json::<Value>().await {
            Ok(body) if body.is_object() => Call::Answer(Answer::Figures(Arc::new(body))),
            Ok(_) => Call::Answer(Answer::Unavailable("not a JSON object".into())),
            Err(e) => {
                tracing::warn!(upstream = upstream.as_str(), error = %e, "summary unreadable");
                Call::Answer(Answer::Unavailable("unreadable answer".into()))
            }
        }
    }
}

enum Call {
    Answer(Answer),
    Unauthorized,
}

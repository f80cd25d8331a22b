//! The one place where the main service talks to other services: their
//! `/summary` endpoints, called in parallel with the caller's bearer
//! token through the platform's [`ServiceClient`] (discovery, round-robin,
//! a breaker per instance, a per-call timeout), behind a short cache keyed
//! by service, tenant and role. The caller's token carries their tenant,
//! so each service answers the caller's tenant's figures.

use std::{collections::HashMap, sync::Arc, time::Duration};

use marimo_platform::{
    auth::Role,
    client::{CallError, ServiceClient},
    discovery::Discovery,
    http::edge::EdgeKey,
    resilience::BreakerConfig,
    tenant::TenantId,
};
use serde_json::Value;

use crate::domain::{Answer, Known, Upstream};

/// Where a service answers its summary.
fn summary_path(u: Upstream) -> &'static str {
    match u {
        Upstream::Users => "/api/users/summary",
        Upstream::Accounting => "/api/accounting/summary",
        Upstream::Shop => "/api/shop/summary",
        Upstream::Factory => "/api/factory/summary",
    }
}

pub struct Fanout {
    clients: HashMap<Upstream, ServiceClient>,
    /// Summaries depend on the caller only through their tenant and role,
    /// so they are shared per (service, tenant, role) for a few seconds;
    /// concurrent misses of one key wait for a single upstream call. The
    /// tenant is in the key so one business never sees another's figures.
    cache: moka::future::Cache<(Upstream, TenantId, Role), Answer>,
}

impl Fanout {
    /// Clients for the services found through `discovery`; `timeout`
    /// bounds each call, `breaker` judges each instance, `ttl` is how long
    /// an answer is reused; `edge` signs the calls for services that
    /// answer the gateway only (`MARIMO_EDGE_SECRET`).
    pub fn new(
        discovery: Arc<dyn Discovery>,
        timeout: Duration,
        breaker: BreakerConfig,
        ttl: Duration,
        edge: Option<EdgeKey>,
    ) -> Result<Self, reqwest::Error> {
        let mut clients = HashMap::new();
        for u in Upstream::ALL {
            let client = ServiceClient::new(u.service(), discovery.clone(), timeout, breaker)?
                .with_edge(edge.clone());
            clients.insert(u, client);
        }
        let cache = moka::future::Cache::builder()
            .max_capacity(4096)
            .time_to_live(ttl)
            .build();
        Ok(Self { clients, cache })
    }

    /// What the services' summaries say for a caller of `role` in
    /// `tenant`: every upstream asked in parallel with the caller's `token`
    /// (which names the same tenant).
    pub async fn figures(&self, tenant: &TenantId, role: Role, token: &str) -> Known {
        Known::from_answers(&self.summaries(tenant, role, token).await)
    }

    /// Every upstream's answer, fetched in parallel.
    pub async fn summaries(
        &self,
        tenant: &TenantId,
        role: Role,
        token: &str,
    ) -> HashMap<Upstream, Answer> {
        let calls =
            Upstream::ALL.map(|u| async move { (u, self.summary(u, tenant, role, token).await) });
        futures_util::future::join_all(calls)
            .await
            .into_iter()
            .collect()
    }

    async fn summary(
        &self,
        upstream: Upstream,
        tenant: &TenantId,
        role: Role,
        token: &str,
    ) -> Answer {
        let fetch = async {
            match self.call(upstream, token).await {
                // A 401 concerns this caller's token, not their role: never
                // let it hide figures from others of the same role.
                Call::Unauthorized => Err(Answer::Denied),
                Call::Answer(a) => Ok(a),
            }
        };
        match self
            .cache
            .try_get_with((upstream, tenant.clone(), role), fetch)
            .await
        {
            Ok(answer) => answer,
            Err(uncached) => (*uncached).clone(),
        }
    }

    async fn call(&self, upstream: Upstream, token: &str) -> Call {
        let Some(client) = self.clients.get(&upstream) else {
            return Call::Answer(Answer::Unavailable("no client".into()));
        };
        let res = match client.get(summary_path(upstream), Some(token)).await {
            Ok(res) => res,
            Err(CallError::Unavailable { reason, .. }) => {
                return Call::Answer(Answer::Unavailable(reason));
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

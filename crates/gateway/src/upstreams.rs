//! Upstream instances: for each service, the base URLs of its instances
//! and a round-robin picker.
//!
//! Instances come from `<SERVICE>_URLS` at start ([`Upstreams::from_settings`]);
//! service discovery (a later issue) feeds the same registry through
//! [`Upstreams::replace`], and circuit breakers will filter what
//! [`Upstreams::pick`] offers. Everything else reads instances only
//! through this module.

use std::{
    collections::HashMap,
    sync::{
        Arc, RwLock,
        atomic::{AtomicUsize, Ordering},
    },
};

use marimo_platform::{config::Settings, service::ServiceName};

/// One instance of a service: its base URL without a trailing slash.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Instance {
    pub base: Arc<str>,
}

impl Instance {
    /// The URL of `path_and_query` on this instance.
    pub fn url(&self, path_and_query: &str) -> String {
        format!("{}{}", self.base, path_and_query)
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{var}: '{url}' is not an http:// or https:// base URL")]
pub struct UpstreamError {
    pub var: String,
    pub url: String,
}

/// Checks and normalises a base URL (`http://host:port[/prefix]`).
pub fn parse_base(url: &str) -> Option<Instance> {
    let parsed = reqwest::Url::parse(url.trim()).ok()?;
    let ok = matches!(parsed.scheme(), "http" | "https")
        && parsed.host_str().is_some()
        && parsed.query().is_none()
        && parsed.fragment().is_none()
        && parsed.username().is_empty()
        && parsed.password().is_none();
    ok.then(|| Instance {
        base: parsed.as_str().trim_end_matches('/').into(),
    })
}

#[derive(Debug, Default)]
struct Pool {
    instances: RwLock<Arc<[Instance]>>,
    next: AtomicUsize,
}

/// The instances of every upstream service.
#[derive(Debug, Clone, Default)]
pub struct Upstreams {
    pools: Arc<HashMap<ServiceName, Pool>>,
}

impl Upstreams {
    /// From `<SERVICE>_URLS` (or each service's local default port).
    pub fn from_settings(settings: &Settings) -> Result<Self, UpstreamError> {
        let mut lists = Vec::new();
        for name in ServiceName::UPSTREAMS {
            let urls = settings.urls_of(name);
            let instances = urls
                .iter()
                .map(|u| {
                    parse_base(u).ok_or_else(|| UpstreamError {
                        var: name.urls_var(),
                        url: u.clone(),
                    })
                })
                .collect::<Result<Vec<_>, _>>()?;
            lists.push((name, instances));
        }
        Ok(Self::new(lists))
    }

    pub fn new(lists: impl IntoIterator<Item = (ServiceName, Vec<Instance>)>) -> Self {
        let mut pools = HashMap::new();
        for name in ServiceName::UPSTREAMS {
            pools.insert(name, Pool::default());
        }
        for (name, instances) in lists {
            pools.insert(
                name,
                Pool {
                    instances: RwLock::new(instances.into()),
                    next: AtomicUsize::new(0),
                },
            );
        }
        Self {
            pools: Arc::new(pools),
        }
    }

    /// The current instances of a service.
    pub fn instances(&self, service: ServiceName) -> Arc<[Instance]> {
        self.pools
            .get(&service)
            .map(|p| read(&p.instances))
            .unwrap_or_else(|| Arc::from(Vec::new()))
    }

    /// The next instance of a service, round-robin; `None` when it has none.
    pub fn pick(&self, service: ServiceName) -> Option<Instance> {
        let pool = self.pools.get(&service)?;
        let list = read(&pool.instances);
        if list.is_empty() {
            return None;
        }
        let i = pool.next.fetch_add(1, Ordering::Relaxed) % list.len();
        list.get(i).cloned()
    }

    /// Replaces a service's instances (the hook for service discovery).
    pub fn replace(&self, service: ServiceName, instances: Vec<Instance>) {
        if let Some(pool) = self.pools.get(&service) {
            let mut guard = pool
                .instances
                .write()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            *guard = instances.into();
        }
    }
}

fn read(lock: &RwLock<Arc<[Instance]>>) -> Arc<[Instance]> {
    lock.read()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .clone()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn inst(s: &str) -> Instance {
        parse_base(s).unwrap()
    }

    #[test]
    fn base_urls_are_checked_and_normalised() {
        assert_eq!(
            &*inst("http://127.0.0.1:8081/").base,
            "http://127.0.0.1:8081"
        );
        assert_eq!(
            &*inst(" https://users.svc/prefix/ ").base,
            "https://users.svc/prefix"
        );
        assert_eq!(
            inst("http://a:1").url("/api/users/login?x=1"),
            "http://a:1/api/users/login?x=1"
        );
        for bad in [
            "",
            "a:1",
            "ftp://a",
            "http://",
            "http://u:p@a",
            "http://a/?q=1",
        ] {
            assert!(parse_base(bad).is_none(), "{bad}");
        }
    }

    #[test]
    fn round_robin_over_instances() {
        let u = Upstreams::new([(
            ServiceName::Users,
            vec![inst("http://a:1"), inst("http://b:2"), inst("http://c:3")],
        )]);
        let picked: Vec<_> = (0..6)
            .map(|_| u.pick(ServiceName::Users).unwrap().base.to_string())
            .collect();
        assert_eq!(
            picked,
            [
                "http://a:1",
                "http://b:2",
                "http://c:3",
                "http://a:1",
                "http://b:2",
                "http://c:3"
            ]
        );
        assert_eq!(u.pick(ServiceName::Shop), None);
        u.replace(ServiceName::Shop, vec![inst("http://s:1")]);
        assert_eq!(&*u.pick(ServiceName::Shop).unwrap().base, "http://s:1");
        assert_eq!(u.instances(ServiceName::Shop).len(), 1);
    }
}

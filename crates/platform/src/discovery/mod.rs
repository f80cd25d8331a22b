//! Service discovery behind one interface, [`Discovery`]: where the
//! instances of a service are. Lookups read a local list and never make a
//! network round trip per request; an implementation that watches a
//! registry refreshes that list in the background.
//!
//! - [`StaticDiscovery`] (default): `<SERVICE>_URLS`, else the local port
//!   ([`Settings::urls_of`]).
//! - [`consul::ConsulDiscovery`] (when `CONSUL_ADDR` is set): services
//!   register on start and deregister on shutdown ([`consul::register`]);
//!   blocking-query watches of `/v1/health/service/<name>?passing` feed
//!   the local cache. [`consul::ConsulClient`] also has the KV API.

pub mod consul;

use std::{collections::HashMap, sync::Arc};

use crate::{config::Settings, service::ServiceName};

/// One instance of a service: its base URL (`http://host:port`).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Instance {
    pub base_url: Arc<str>,
}

pub trait Discovery: Send + Sync {
    /// The instances of `service` known now (from the local cache).
    fn instances(&self, service: ServiceName) -> Vec<Instance>;

    /// A receiver that changes whenever some list changes; `None` for
    /// lists that never change.
    fn changes(&self) -> Option<tokio::sync::watch::Receiver<u64>> {
        None
    }
}

/// Fixed lists from the settings.
#[derive(Debug, Clone, Default)]
pub struct StaticDiscovery {
    lists: HashMap<ServiceName, Vec<Instance>>,
}

impl StaticDiscovery {
    pub fn from_settings(settings: &Settings) -> Self {
        let lists = ServiceName::ALL
            .into_iter()
            .map(|name| {
                let list = settings
                    .urls_of(name)
                    .into_iter()
                    .map(|u| Instance {
                        base_url: u.trim().trim_end_matches('/').into(),
                    })
                    .collect();
                (name, list)
            })
            .collect();
        Self { lists }
    }
}

impl Discovery for StaticDiscovery {
    fn instances(&self, service: ServiceName) -> Vec<Instance> {
        self.lists.get(&service).cloned().unwrap_or_default()
    }
}

/// The discovery the settings ask for: Consul when `CONSUL_ADDR` is set
/// (watching `services` until `shutdown`), the static lists otherwise.
pub fn from_settings(
    settings: &Settings,
    services: &[ServiceName],
    shutdown: tokio_util::sync::CancellationToken,
) -> Result<Arc<dyn Discovery>, consul::ConsulError> {
    let fixed = StaticDiscovery::from_settings(settings);
    match consul::ConsulClient::from_settings(settings) {
        Some(client) => {
            let client = client?;
            Ok(Arc::new(consul::ConsulDiscovery::start(
                client,
                services,
                fixed,
                shutdown,
                consul::WAIT,
            )))
        }
        None => Ok(Arc::new(fixed)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn static_lists_come_from_urls_or_the_port() {
        let vars: HashMap<&str, &str> = HashMap::from([
            ("JWT_SECRET", "k-k-k-k-k-k-k-k-k-k-k-k-k-k-k-k-k-k"),
            ("SHOP_URLS", "http://a:1/, http://b:2"),
        ]);
        let s = Settings::from_source(|k| vars.get(k).map(|v| (*v).to_owned())).unwrap();
        let d = StaticDiscovery::from_settings(&s);
        let shop: Vec<_> = d
            .instances(ServiceName::Shop)
            .into_iter()
            .map(|i| i.base_url.to_string())
            .collect();
        assert_eq!(shop, ["http://a:1", "http://b:2"]);
        assert_eq!(
            &*d.instances(ServiceName::Users)[0].base_url,
            "http://127.0.0.1:8081"
        );
    }
}

//! Upstream instances: for each service, its instances, each with a
//! circuit breaker, an in-flight limit and an ejection mark, and the
//! balancer that picks one.
//!
//! **Ejection** is passive and immediate: the first connection to an
//! instance that is refused, or that breaks before an answer came back,
//! takes the instance out of rotation ([`Member::eject`]) — a dead process
//! costs one failed attempt (retried elsewhere), not the handful a breaker
//! needs to judge a window. Ejected instances are probed on `/ready` by the
//! gateway's health checks ([`crate::health::readmit`]) and come back on
//! the first good answer. The breaker is the other, slower judgement:
//! it counts 5xx answers and timeouts of instances that are up.
//!
//! **Panic mode** (Envoy's panic threshold, at zero): when *every*
//! instance of a service is ejected, the balancer ignores ejection and
//! picks among all of them, round robin. Ejection is a guess from one
//! failed connection; refusing a whole service on that guess would turn one
//! broken connection to a single-instance service into 503s until the next
//! probe. An instance that is really dead still fails fast (its connection
//! is refused again, and the request goes to the next one or is answered
//! 503), and one that answers is readmitted by that answer.
//!
//! **Balancing** is round-robin over the instances that can take a request
//! now: not ejected (unless all are), a closed (or half-open with a free
//! trial slot) breaker and a free in-flight slot. Round-robin was chosen over least-outstanding-requests
//! because it needs no shared counters on the hot path and the in-flight
//! limit already keeps a slow instance from piling up work; a retry passes
//! the instances it already tried as `avoid`, so it prefers another one.
//!
//! Instances come from discovery at start ([`Upstreams::from_discovery`]);
//! [`Upstreams::replace`] swaps a service's list and keeps the breaker of
//! every instance that stays.

use std::{
    collections::HashMap,
    sync::{
        Arc, RwLock,
        atomic::{AtomicBool, AtomicUsize, Ordering},
    },
    time::{Duration, Instant},
};

use marimo_platform::{
    discovery::Discovery,
    resilience::{Breaker, BreakerConfig},
    service::ServiceName,
};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

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

/// One instance with its breaker, in-flight slots and ejection mark.
#[derive(Debug)]
pub struct Member {
    pub instance: Instance,
    pub breaker: Breaker,
    slots: Arc<Semaphore>,
    /// Out of rotation until a health probe finds it ready again.
    ejected: AtomicBool,
}

impl Member {
    fn new(instance: Instance, cfg: BreakerConfig, max_inflight: usize) -> Self {
        Self {
            instance,
            breaker: Breaker::new(cfg),
            slots: Arc::new(Semaphore::new(max_inflight)),
            ejected: AtomicBool::new(false),
        }
    }

    /// Takes the instance out of rotation; `true` when it was in.
    pub fn eject(&self) -> bool {
        !self.ejected.swap(true, Ordering::SeqCst)
    }

    /// Puts the instance back into rotation; `true` when it was out.
    pub fn readmit(&self) -> bool {
        self.ejected.swap(false, Ordering::SeqCst)
    }

    pub fn is_ejected(&self) -> bool {
        self.ejected.load(Ordering::SeqCst)
    }
}

/// A picked instance and its in-flight slot (freed on drop).
#[derive(Debug)]
pub struct Lease {
    pub member: Arc<Member>,
    /// Picked in panic mode: every instance of the service was ejected.
    pub panic: bool,
    _slot: OwnedSemaphorePermit,
}

/// Why no instance was picked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unavailable {
    NoInstance,
    /// Every breaker open; the soonest one half-opens after this.
    Open {
        retry_in: Duration,
    },
    /// Every instance at its in-flight limit.
    Busy,
}

#[derive(Debug, Default)]
struct Pool {
    members: RwLock<Arc<[Arc<Member>]>>,
    next: AtomicUsize,
}

/// Default in-flight limit per instance.
pub const DEFAULT_MAX_INFLIGHT: usize = 256;

/// The instances of every upstream service.
#[derive(Debug, Clone)]
pub struct Upstreams {
    pools: Arc<HashMap<ServiceName, Pool>>,
    breaker: BreakerConfig,
    max_inflight: usize,
}

impl Default for Upstreams {
    fn default() -> Self {
        Self::new(Vec::new())
    }
}

impl Upstreams {
    /// From discovery's current lists (`<SERVICE>_URLS`, or each
    /// service's local port, or Consul).
    pub fn from_discovery(
        discovery: &dyn Discovery,
        breaker: BreakerConfig,
        max_inflight: usize,
    ) -> Result<Self, UpstreamError> {
        let mut lists = Vec::new();
        for name in ServiceName::UPSTREAMS {
            let instances = discovery
                .instances(name)
                .iter()
                .map(|u| {
                    parse_base(&u.base_url).ok_or_else(|| UpstreamError {
                        var: name.urls_var(),
                        url: u.base_url.to_string(),
                    })
                })
                .collect::<Result<Vec<_>, _>>()?;
            lists.push((name, instances));
        }
        Ok(Self::with_limits(lists, breaker, max_inflight))
    }

    /// Takes discovery's current lists; a bad URL there is skipped.
    pub fn sync(&self, discovery: &dyn Discovery) {
        for name in ServiceName::UPSTREAMS {
            let list = discovery
                .instances(name)
                .iter()
                .filter_map(|u| {
                    let parsed = parse_base(&u.base_url);
                    if parsed.is_none() {
                        tracing::warn!(service = name.as_str(), url = %u.base_url, "discovery returned a bad URL");
                    }
                    parsed
                })
                .collect::<Vec<_>>();
            if *self.instances(name) != *list {
                tracing::info!(
                    service = name.as_str(),
                    instances = list.len(),
                    "upstream instances changed"
                );
                self.replace(name, list);
            }
        }
    }

    pub fn new(lists: impl IntoIterator<Item = (ServiceName, Vec<Instance>)>) -> Self {
        Self::with_limits(lists, BreakerConfig::default(), DEFAULT_MAX_INFLIGHT)
    }

    pub fn with_limits(
        lists: impl IntoIterator<Item = (ServiceName, Vec<Instance>)>,
        breaker: BreakerConfig,
        max_inflight: usize,
    ) -> Self {
        let max_inflight = max_inflight.clamp(1, Semaphore::MAX_PERMITS);
        let mut pools = HashMap::new();
        for name in ServiceName::UPSTREAMS {
            pools.insert(name, Pool::default());
        }
        for (name, instances) in lists {
            let members: Vec<Arc<Member>> = instances
                .into_iter()
                .map(|i| Arc::new(Member::new(i, breaker, max_inflight)))
                .collect();
            pools.insert(
                name,
                Pool {
                    members: RwLock::new(members.into()),
                    next: AtomicUsize::new(0),
                },
            );
        }
        Self {
            pools: Arc::new(pools),
            breaker,
            max_inflight,
        }
    }

    pub fn breaker_config(&self) -> BreakerConfig {
        self.breaker
    }

    /// The current instances of a service, with their breakers.
    pub fn members(&self, service: ServiceName) -> Arc<[Arc<Member>]> {
        self.pools
            .get(&service)
            .map(|p| read(&p.members))
            .unwrap_or_else(|| Arc::from(Vec::new()))
    }

    /// The current instances of a service.
    pub fn instances(&self, service: ServiceName) -> Arc<[Instance]> {
        self.members(service)
            .iter()
            .map(|m| m.instance.clone())
            .collect::<Vec<_>>()
            .into()
    }

    /// The next instance of a service, round-robin, ignoring breakers and
    /// limits; `None` when it has none.
    pub fn pick(&self, service: ServiceName) -> Option<Instance> {
        let pool = self.pools.get(&service)?;
        let list = read(&pool.members);
        if list.is_empty() {
            return None;
        }
        let i = pool.next.fetch_add(1, Ordering::Relaxed) % list.len();
        list.get(i).map(|m| m.instance.clone())
    }

    /// The next instance that can take a request now, round-robin,
    /// preferring instances not in `avoid` (those already tried). Ejected
    /// instances are picked only when every instance is ejected (panic
    /// mode, see the module docs). Takes an in-flight slot and, for a
    /// half-open breaker, a trial slot.
    pub fn choose(&self, service: ServiceName, avoid: &[Arc<str>]) -> Result<Lease, Unavailable> {
        self.choose_at(service, avoid, Instant::now())
    }

    /// [`Self::choose`] with the breakers judged at `now`.
    pub fn choose_at(
        &self,
        service: ServiceName,
        avoid: &[Arc<str>],
        now: Instant,
    ) -> Result<Lease, Unavailable> {
        let pool = self.pools.get(&service).ok_or(Unavailable::NoInstance)?;
        let list = read(&pool.members);
        let n = list.len();
        if n == 0 {
            return Err(Unavailable::NoInstance);
        }
        let start = pool.next.fetch_add(1, Ordering::Relaxed);
        let panic = list.iter().all(|m| m.is_ejected());
        let mut busy = false;
        let mut retry_in: Option<Duration> = None;
        for pass in 0..2 {
            for k in 0..n {
                let Some(m) = list.get((start + k) % n) else {
                    continue;
                };
                let avoided = avoid.contains(&m.instance.base);
                if (pass == 0) == avoided {
                    continue;
                }
                if m.is_ejected() && !panic {
                    continue;
                }
                let Ok(slot) = m.slots.clone().try_acquire_owned() else {
                    busy = true;
                    continue;
                };
                if !m.breaker.try_acquire_at(now) {
                    let wait = m.breaker.retry_in_at(now);
                    retry_in = Some(retry_in.map_or(wait, |r| r.min(wait)));
                    continue;
                }
                return Ok(Lease {
                    member: m.clone(),
                    panic,
                    _slot: slot,
                });
            }
        }
        // Nothing picked: every candidate was full or behind an open
        // breaker (in panic mode every instance is a candidate).
        Err(match retry_in {
            Some(retry_in) if !busy => Unavailable::Open { retry_in },
            _ => Unavailable::Busy,
        })
    }

    /// The ejected instances of every service (for the health probes).
    pub fn ejected(&self) -> Vec<(ServiceName, Arc<Member>)> {
        ServiceName::UPSTREAMS
            .into_iter()
            .flat_map(|service| {
                self.members(service)
                    .iter()
                    .filter(|m| m.is_ejected())
                    .map(|m| (service, m.clone()))
                    .collect::<Vec<_>>()
            })
            .collect()
    }

    /// Replaces a service's instances (the hook for service discovery);
    /// instances that stay keep their breaker and slots.
    pub fn replace(&self, service: ServiceName, instances: Vec<Instance>) {
        if let Some(pool) = self.pools.get(&service) {
            let old = read(&pool.members);
            let members: Vec<Arc<Member>> = instances
                .into_iter()
                .map(|i| {
                    old.iter()
                        .find(|m| m.instance == i)
                        .cloned()
                        .unwrap_or_else(|| {
                            Arc::new(Member::new(i, self.breaker, self.max_inflight))
                        })
                })
                .collect();
            let mut guard = pool
                .members
                .write()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            *guard = members.into();
        }
    }
}

fn read(lock: &RwLock<Arc<[Arc<Member>]>>) -> Arc<[Arc<Member>]> {
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

    #[test]
    fn choose_skips_open_breakers_busy_and_avoided_instances() {
        let cfg = BreakerConfig {
            min_requests: 1,
            ..BreakerConfig::default()
        };
        let u = Upstreams::with_limits(
            [(
                ServiceName::Users,
                vec![inst("http://a:1"), inst("http://b:2")],
            )],
            cfg,
            1,
        );
        let a: Arc<str> = "http://a:1".into();
        // Avoiding a: b, then (b busy) a after all.
        let first = u
            .choose(ServiceName::Users, std::slice::from_ref(&a))
            .unwrap();
        assert_eq!(&*first.member.instance.base, "http://b:2");
        let second = u
            .choose(ServiceName::Users, std::slice::from_ref(&a))
            .unwrap();
        assert_eq!(&*second.member.instance.base, "http://a:1");
        assert_eq!(
            u.choose(ServiceName::Users, &[]).unwrap_err(),
            Unavailable::Busy
        );
        first.member.breaker.record_failure();
        second.member.breaker.record_failure();
        drop((first, second));
        assert!(matches!(
            u.choose(ServiceName::Users, &[]),
            Err(Unavailable::Open { .. })
        ));
        assert_eq!(
            u.choose(ServiceName::Shop, &[]).unwrap_err(),
            Unavailable::NoInstance
        );
        // Replacing keeps the breakers of instances that stay.
        u.replace(
            ServiceName::Users,
            vec![inst("http://a:1"), inst("http://c:3")],
        );
        let c = u.choose(ServiceName::Users, &[]).unwrap();
        assert_eq!(&*c.member.instance.base, "http://c:3");
    }
    #[test]
    fn an_ejected_instance_is_picked_only_when_all_are_panic_mode() {
        let u = Upstreams::new([(
            ServiceName::Shop,
            vec![inst("http://a:1"), inst("http://b:2")],
        )]);
        let a = u.members(ServiceName::Shop)[0].clone();
        assert!(a.eject(), "first ejection counts");
        assert!(!a.eject(), "a second one does not");
        for _ in 0..6 {
            let lease = u.choose(ServiceName::Shop, &[]).unwrap();
            assert_eq!(&*lease.member.instance.base, "http://b:2");
        }
        // Also when it is the only instance not yet tried.
        let b: Arc<str> = "http://b:2".into();
        let lease = u.choose(ServiceName::Shop, &[b]).unwrap();
        assert_eq!(&*lease.member.instance.base, "http://b:2");
        drop(lease);
        assert_eq!(u.ejected().len(), 1);

        // Both out: panic mode, both are tried again in turn rather than
        // none, and the lease says so.
        u.members(ServiceName::Shop)[1].eject();
        let picked: Vec<_> = (0..4)
            .map(|_| {
                let lease = u.choose(ServiceName::Shop, &[]).unwrap();
                assert!(lease.panic);
                lease.member.instance.base.to_string()
            })
            .collect();
        let mut sorted = picked.clone();
        sorted.sort();
        assert_eq!(
            sorted,
            ["http://a:1", "http://a:1", "http://b:2", "http://b:2"],
            "round robin over both: {picked:?}"
        );
        assert_ne!(picked[0], picked[1], "{picked:?}");
        // A retry still prefers the one not yet tried.
        let a_base: Arc<str> = "http://a:1".into();
        for _ in 0..3 {
            let lease = u
                .choose(ServiceName::Shop, std::slice::from_ref(&a_base))
                .unwrap();
            assert_eq!(&*lease.member.instance.base, "http://b:2");
        }
        // Re-admitted, it takes traffic again, out of panic mode; the
        // breaker was untouched.
        assert!(a.readmit());
        assert!(!a.readmit());
        let lease = u.choose(ServiceName::Shop, &[]).unwrap();
        assert_eq!(&*lease.member.instance.base, "http://a:1");
        assert!(!lease.panic);
        // Ejection survives a discovery update that keeps the instance.
        u.replace(
            ServiceName::Shop,
            vec![inst("http://a:1"), inst("http://b:2")],
        );
        assert!(u.members(ServiceName::Shop)[1].is_ejected());
    }

    #[test]
    fn the_default_breaker_lets_a_trial_through_within_two_seconds() {
        // The gateway's defaults, judged at given instants (no wall time).
        let u = Upstreams::new([(ServiceName::Shop, vec![inst("http://a:1")])]);
        let t = Instant::now();
        let cfg = u.breaker_config();
        for _ in 0..cfg.min_requests {
            let lease = u.choose_at(ServiceName::Shop, &[], t).unwrap();
            lease.member.breaker.record_at(t, false);
        }
        let Err(Unavailable::Open { retry_in }) = u.choose_at(ServiceName::Shop, &[], t) else {
            panic!("the breaker opened");
        };
        assert!(retry_in <= Duration::from_secs(2), "{retry_in:?}");
        let almost = t + cfg.open_for - Duration::from_millis(1);
        assert!(matches!(
            u.choose_at(ServiceName::Shop, &[], almost),
            Err(Unavailable::Open { .. })
        ));
        let due = t + cfg.open_for;
        assert!(due <= t + Duration::from_secs(2));
        let trial = u.choose_at(ServiceName::Shop, &[], due).unwrap();
        trial.member.breaker.record_at(due, true);
        drop(trial);
        // Closed on that first success: every request passes again.
        for _ in 0..10 {
            let lease = u.choose_at(ServiceName::Shop, &[], due).unwrap();
            lease.member.breaker.record_at(due, true);
        }
    }
}

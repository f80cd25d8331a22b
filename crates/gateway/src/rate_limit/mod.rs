//! Rate limits at the edge: GCRA keyed limiters.
//!
//! Without Redis each gateway counts on its own (governor). With
//! `REDIS_ADDR` set the state lives in Redis ([`shared`]), so every
//! replica enforces one limit; when Redis cannot answer, the local limiter
//! decides for that request. Either way a rejection is the same 429 with
//! `Retry-After`.
//!
//! - Anonymous, abuse-prone routes are limited per client address:
//!   `login`, `register`, `refresh` (see [`crate::policy::anonymous_limit`]).
//!   Sign-up counts against `register`. These stay keyed by address
//!   alone: a tenant named in a header is unverified, and keying by it
//!   would give a client one budget per made-up tenant.
//! - Signed-in traffic is limited per user id in the token's tenant
//!   (`TenantId::scope`): `user`; and per tenant, all its users together:
//!   `tenant`, so one busy business cannot take every replica's capacity
//!   (the noisy neighbour). Only signed-in traffic counts against a
//!   tenant's bucket: the token, which users signed, names the tenant, so
//!   nobody can spend another tenant's budget by naming it in a header.
//!
//! `MARIMO_RATE_LIMITS` overrides the defaults, e.g.
//! `login=10/m:3,register=5/m:2,refresh=30/m:5,user=300/m:50,tenant=3000/m:500`: `<key>=<count>/<unit>[:<burst>]`
//! with units `s`, `m`, `h`; the burst defaults to the count (governor's own
//! meaning of a quota); `<key>=off` disables one limit and `off` all of them.
//! Keys not named keep their defaults.
//!
//! Keyed limiters forget idle keys: [`RateLimits::spawn_sweeper`] runs
//! governor's `retain_recent` on an interval, so their memory follows the
//! number of recently active clients, not every client ever seen. Redis
//! keys expire when their state is back to fresh.

pub mod shared;

use std::{hash::Hash, net::IpAddr, num::NonZeroU32, sync::Arc, time::Duration};

use governor::{DefaultKeyedRateLimiter, Quota, clock::Clock};
use marimo_platform::{
    ApiError, redis::Redis, service::ServiceContext, telemetry::Metrics, tenant::TenantId,
};

use self::shared::SharedLimits;

/// What a limit is counted against and which limiter applies.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LimitKind {
    Login,
    Register,
    Refresh,
    User,
    Tenant,
}

impl LimitKind {
    pub const ALL: [LimitKind; 5] = [
        Self::Login,
        Self::Register,
        Self::Refresh,
        Self::User,
        Self::Tenant,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Login => "login",
            Self::Register => "register",
            Self::Refresh => "refresh",
            Self::User => "user",
            Self::Tenant => "tenant",
        }
    }

    fn default_rate(self) -> Rate {
        let (count, burst) = match self {
            Self::Login => (10, 3),
            Self::Register => (5, 2),
            Self::Refresh => (30, 5),
            Self::User => (300, 50),
            Self::Tenant => (3000, 500),
        };
        Rate {
            count: nz(count),
            per: Duration::from_secs(60),
            burst: nz(burst),
        }
    }
}

fn nz(n: u32) -> NonZeroU32 {
    NonZeroU32::new(n).unwrap_or(NonZeroU32::MIN)
}

/// `count` requests per `per`, with up to `burst` at once.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rate {
    pub count: NonZeroU32,
    pub per: Duration,
    pub burst: NonZeroU32,
}

impl Rate {
    fn quota(self) -> Option<Quota> {
        let interval = self.per / self.count.get();
        Quota::with_period(interval).map(|q| q.allow_burst(self.burst))
    }
}

/// The parsed limits: `None` means that limit is off.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LimitSpec {
    pub login: Option<Rate>,
    pub register: Option<Rate>,
    pub refresh: Option<Rate>,
    pub user: Option<Rate>,
    pub tenant: Option<Rate>,
}

impl Default for LimitSpec {
    fn default() -> Self {
        Self {
            login: Some(LimitKind::Login.default_rate()),
            register: Some(LimitKind::Register.default_rate()),
            refresh: Some(LimitKind::Refresh.default_rate()),
            user: Some(LimitKind::User.default_rate()),
            tenant: Some(LimitKind::Tenant.default_rate()),
        }
    }
}

impl LimitSpec {
    fn slot(&mut self, kind: LimitKind) -> &mut Option<Rate> {
        match kind {
            LimitKind::Login => &mut self.login,
            LimitKind::Register => &mut self.register,
            LimitKind::Refresh => &mut self.refresh,
            LimitKind::User => &mut self.user,
            LimitKind::Tenant => &mut self.tenant,
        }
    }

    pub fn get(&self, kind: LimitKind) -> Option<Rate> {
        match kind {
            LimitKind::Login => self.login,
            LimitKind::Register => self.register,
            LimitKind::Refresh => self.refresh,
            LimitKind::User => self.user,
            LimitKind::Tenant => self.tenant,
        }
    }

    fn off() -> Self {
        Self {
            login: None,
            register: None,
            refresh: None,
            user: None,
            tenant: None,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("MARIMO_RATE_LIMITS: {0}")]
pub struct SpecError(String);

fn spec_err(msg: impl Into<String>) -> SpecError {
    SpecError(format!(
        "{}; expected e.g. 'login=10/m:3,register=5/m:2,refresh=30/m:5,user=300/m:50,tenant=3000/m:500' or 'off'",
        msg.into()
    ))
}

/// Parses `MARIMO_RATE_LIMITS`; `None` (unset) gives the defaults.
pub fn parse_spec(spec: Option<&str>) -> Result<LimitSpec, SpecError> {
    let Some(spec) = spec.map(str::trim).filter(|s| !s.is_empty()) else {
        return Ok(LimitSpec::default());
    };
    if spec.eq_ignore_ascii_case("off") {
        return Ok(LimitSpec::off());
    }
    let mut out = LimitSpec::default();
    let mut seen = Vec::new();
    for item in spec.split(',').map(str::trim).filter(|s| !s.is_empty()) {
        let (key, value) = item
            .split_once('=')
            .ok_or_else(|| spec_err(format!("'{item}' has no '='")))?;
        let key = key.trim();
        let kind = LimitKind::ALL
            .into_iter()
            .find(|k| k.as_str() == key)
            .ok_or_else(|| {
                spec_err(format!(
                    "unknown limit '{key}' (known: login, register, refresh, user, tenant)"
                ))
            })?;
        if seen.contains(&kind) {
            return Err(spec_err(format!("'{key}' is given twice")));
        }
        seen.push(kind);
        *out.slot(kind) = parse_rate(key, value.trim())?;
    }
    Ok(out)
}

/// `10/m:3` → a rate; `off` → `None`.
fn parse_rate(key: &str, value: &str) -> Result<Option<Rate>, SpecError> {
    if value.eq_ignore_ascii_case("off") {
        return Ok(None);
    }
    let bad = |why: &str| spec_err(format!("{key}='{value}': {why}"));
    let (rate, burst) = match value.split_once(':') {
        Some((r, b)) => (r.trim(), Some(b.trim())),
        None => (value, None),
    };
    let (count, unit) = rate
        .split_once('/')
        .ok_or_else(|| bad("expected <count>/<unit>[:<burst>]"))?;
    let count =
        parse_positive(count.trim()).ok_or_else(|| bad("count must be a whole number ≥ 1"))?;
    let per = match unit.trim() {
        "s" => Duration::from_secs(1),
        "m" => Duration::from_secs(60),
        "h" => Duration::from_secs(3600),
        _ => return Err(bad("unit must be s, m or h")),
    };
    let burst = match burst {
        Some(b) => parse_positive(b).ok_or_else(|| bad("burst must be a whole number ≥ 1"))?,
        None => count,
    };
    let parsed = Rate { count, per, burst };
    if parsed.quota().is_none() {
        return Err(bad("rate is too high"));
    }
    Ok(Some(parsed))
}

fn parse_positive(s: &str) -> Option<NonZeroU32> {
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    s.parse::<NonZeroU32>().ok()
}

type Limiter<K> = Arc<DefaultKeyedRateLimiter<K>>;

fn limiter<K: Clone + Hash + Eq>(rate: Option<Rate>) -> Option<Limiter<K>> {
    rate.and_then(Rate::quota)
        .map(|q| Arc::new(DefaultKeyedRateLimiter::keyed(q)))
}

/// The local limiters of one spec.
struct Local {
    spec: LimitSpec,
    login: Option<Limiter<IpAddr>>,
    register: Option<Limiter<IpAddr>>,
    refresh: Option<Limiter<IpAddr>>,
    user: Option<Limiter<String>>,
    tenant: Option<Limiter<String>>,
}

impl Local {
    fn new(spec: &LimitSpec) -> Self {
        Self {
            spec: spec.clone(),
            login: limiter(spec.login),
            register: limiter(spec.register),
            refresh: limiter(spec.refresh),
            user: limiter(spec.user),
            tenant: limiter(spec.tenant),
        }
    }
}

/// The gateway's limiters. The spec can be replaced while running (the
/// config service's `rate_limits` setting): requests in flight finish
/// under the limiters they started with.
#[derive(Clone)]
pub struct RateLimits {
    local: Arc<std::sync::RwLock<Arc<Local>>>,
    shared: Option<Arc<SharedLimits>>,
}

/// How often idle keys are forgotten.
const SWEEP_INTERVAL: Duration = Duration::from_secs(60);

impl RateLimits {
    /// Limits counted in this process only.
    pub fn new(spec: &LimitSpec) -> Self {
        Self {
            local: Arc::new(std::sync::RwLock::new(Arc::new(Local::new(spec)))),
            shared: None,
        }
    }

    /// Replaces the limits (counts start afresh locally; Redis state is
    /// keyed by limit and carries over).
    pub fn replace(&self, spec: &LimitSpec) {
        let fresh = Arc::new(Local::new(spec));
        *self.local.write().unwrap_or_else(|p| p.into_inner()) = fresh;
    }

    /// The limits in force.
    pub fn spec(&self) -> LimitSpec {
        self.current().spec.clone()
    }

    fn current(&self) -> Arc<Local> {
        self.local.read().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// Limits counted in Redis, shared with every replica; the local
    /// limiters stay as the fallback.
    pub fn shared(mut self, redis: Redis, metrics: Metrics) -> Self {
        self.shared = Some(Arc::new(SharedLimits::new(redis, metrics)));
        self
    }

    /// Counts one request of a client address against an anonymous limit.
    pub async fn check_ip(&self, kind: LimitKind, ip: IpAddr) -> Result<(), ApiError> {
        let local = self.current();
        let limiter = match kind {
            LimitKind::Login => &local.login,
            LimitKind::Register => &local.register,
            LimitKind::Refresh => &local.refresh,
            LimitKind::User | LimitKind::Tenant => return Ok(()),
        };
        if let Some(decided) = self.check_shared(&local.spec, kind, &ip.to_string()).await {
            return decided;
        }
        check(kind, limiter.as_deref(), &ip)
    }

    /// Counts one request of a signed-in user in `tenant`: against the
    /// user's bucket there (`tenant.scope(user_id)`: the default tenant's
    /// keys keep their old form) and the tenant's own bucket.
    pub async fn check_user(&self, tenant: &TenantId, user_id: &str) -> Result<(), ApiError> {
        let local = self.current();
        let user_key = tenant.scope(user_id);
        let user = match self
            .check_shared(&local.spec, LimitKind::User, &user_key)
            .await
        {
            Some(decided) => decided,
            None => check(LimitKind::User, local.user.as_deref(), &user_key),
        };
        user?;
        let tenant_key = tenant.as_str().to_owned();
        match self
            .check_shared(&local.spec, LimitKind::Tenant, &tenant_key)
            .await
        {
            Some(decided) => decided,
            None => check(LimitKind::Tenant, local.tenant.as_deref(), &tenant_key),
        }
    }

    /// Redis's decision, `None` without Redis or when it cannot answer.
    async fn check_shared(
        &self,
        spec: &LimitSpec,
        kind: LimitKind,
        id: &str,
    ) -> Option<Result<(), ApiError>> {
        let (shared, rate) = (self.shared.as_ref()?, spec.get(kind)?);
        match shared.check(kind, id, rate).await? {
            Ok(()) => Some(Ok(())),
            Err(wait) => Some(Err(limited(kind, wait))),
        }
    }

    /// Forgets keys whose state is back to fresh.
    pub fn sweep(&self) {
        fn sweep_one<K: Clone + Hash + Eq>(l: &Option<Limiter<K>>) {
            if let Some(l) = l {
                l.retain_recent();
                l.shrink_to_fit();
            }
        }
        let local = self.current();
        sweep_one(&local.login);
        sweep_one(&local.register);
        sweep_one(&local.refresh);
        sweep_one(&local.user);
        sweep_one(&local.tenant);
    }

    /// Number of keys held (all limiters).
    pub fn keys_held(&self) -> usize {
        fn len<K: Clone + Hash + Eq>(l: &Option<Limiter<K>>) -> usize {
            l.as_ref().map_or(0, |l| l.len())
        }
        let l = self.current();
        len(&l.login) + len(&l.register) + len(&l.refresh) + len(&l.user) + len(&l.tenant)
    }

    /// Sweeps on an interval until the service shuts down.
    pub fn spawn_sweeper(&self, ctx: &ServiceContext) {
        let limits = self.clone();
        let shutdown = ctx.shutdown.clone();
        ctx.tasks.spawn(async move {
            let mut tick = tokio::time::interval(SWEEP_INTERVAL);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tokio::select! {
                    () = shutdown.cancelled() => break,
                    _ = tick.tick() => limits.sweep(),
                }
            }
        });
    }
}

fn check<K: Clone + Hash + Eq>(
    kind: LimitKind,
    limiter: Option<&DefaultKeyedRateLimiter<K>>,
    key: &K,
) -> Result<(), ApiError> {
    let Some(limiter) = limiter else {
        return Ok(());
    };
    match limiter.check_key(key) {
        Ok(()) => Ok(()),
        Err(not_until) => Err(limited(
            kind,
            not_until.wait_time_from(limiter.clock().now()),
        )),
    }
}

/// The 429 for a request that may be retried after `wait`.
fn limited(kind: LimitKind, wait: Duration) -> ApiError {
    tracing::info!(
        limit = kind.as_str(),
        wait_ms = wait.as_millis() as u64,
        "rate limited"
    );
    ApiError::rate_limited(retry_after_secs(wait))
}

/// Whole seconds to wait, rounded up, at least 1.
fn retry_after_secs(wait: Duration) -> u64 {
    let secs = wait.as_secs() + u64::from(wait.subsec_nanos() > 0);
    secs.max(1)
}

#[cfg(test)]
mod tests {
    use std::net::Ipv4Addr;

    use super::*;

    fn rate(count: u32, per: u64, burst: u32) -> Option<Rate> {
        Some(Rate {
            count: nz(count),
            per: Duration::from_secs(per),
            burst: nz(burst),
        })
    }

    #[test]
    fn unset_gives_the_defaults() {
        let d = parse_spec(None).unwrap();
        assert_eq!(d.login, rate(10, 60, 3));
        assert_eq!(d.register, rate(5, 60, 2));
        assert_eq!(d.refresh, rate(30, 60, 5));
        assert_eq!(d.user, rate(300, 60, 50));
        assert_eq!(parse_spec(Some("  ")).unwrap(), d);
    }

    #[test]
    fn full_spec_parses() {
        let s = parse_spec(Some(
            "login=20/s:4, register=1/h:1,refresh=7/m:2,user=100/m",
        ))
        .unwrap();
        assert_eq!(s.login, rate(20, 1, 4));
        assert_eq!(s.register, rate(1, 3600, 1));
        assert_eq!(s.refresh, rate(7, 60, 2));
        // Burst defaults to the count.
        assert_eq!(s.user, rate(100, 60, 100));
    }

    #[test]
    fn partial_spec_keeps_other_defaults_and_off_disables() {
        let s = parse_spec(Some("user=off,login=1/m:1")).unwrap();
        assert_eq!(s.user, None);
        assert_eq!(s.login, rate(1, 60, 1));
        assert_eq!(s.register, LimitSpec::default().register);
        let off = parse_spec(Some("OFF")).unwrap();
        assert!(LimitKind::ALL.iter().all(|k| off.get(*k).is_none()));
    }

    #[test]
    fn bad_specs_are_refused_with_a_clear_message() {
        for bad in [
            "logins=10/m:3",
            "login=10/d:3",
            "login=10m:3",
            "login=0/m:3",
            "login=10/m:0",
            "login=-1/m",
            "login=10/m:x",
            "login",
            "login=10/m,login=5/m",
            "user=4294967295/s",
        ] {
            let err = parse_spec(Some(bad)).expect_err(bad).to_string();
            assert!(err.starts_with("MARIMO_RATE_LIMITS: "), "{err}");
        }
        let err = parse_spec(Some("logins=1/m")).unwrap_err().to_string();
        assert!(err.contains("unknown limit 'logins'"), "{err}");
    }

    #[tokio::test]
    async fn burst_then_rejection_with_retry_after() {
        let limits = RateLimits::new(&parse_spec(Some("login=10/m:3")).unwrap());
        let ip = IpAddr::V4(Ipv4Addr::new(192, 0, 2, 1));
        for _ in 0..3 {
            limits.check_ip(LimitKind::Login, ip).await.unwrap();
        }
        let err = limits.check_ip(LimitKind::Login, ip).await.unwrap_err();
        assert_eq!(err.status.as_u16(), 429);
        let secs = err.retry_after.unwrap();
        assert!((1..=6).contains(&secs), "{secs}");
        // Another address has its own budget.
        limits
            .check_ip(LimitKind::Login, IpAddr::V4(Ipv4Addr::new(192, 0, 2, 2)))
            .await
            .unwrap();
        // Register is a separate limiter.
        limits.check_ip(LimitKind::Register, ip).await.unwrap();
    }

    #[tokio::test]
    async fn disabled_limits_never_reject() {
        let limits = RateLimits::new(&parse_spec(Some("off")).unwrap());
        for _ in 0..100 {
            limits.check_user(&d(), "u1").await.unwrap();
            limits
                .check_ip(LimitKind::Login, IpAddr::V4(Ipv4Addr::LOCALHOST))
                .await
                .unwrap();
        }
        assert_eq!(limits.keys_held(), 0);
    }

    #[tokio::test]
    async fn sweep_forgets_fresh_keys() {
        // 1000/s: a key is back to fresh a few milliseconds after its use.
        let limits = RateLimits::new(&parse_spec(Some("user=1000/s:1,tenant=off")).unwrap());
        for i in 0..50 {
            limits.check_user(&d(), &format!("u{i}")).await.unwrap();
        }
        assert_eq!(limits.keys_held(), 50);
        std::thread::sleep(Duration::from_millis(20));
        limits.sweep();
        assert_eq!(limits.keys_held(), 0);
    }

    fn d() -> TenantId {
        TenantId::default_tenant()
    }

    #[tokio::test]
    async fn users_count_per_tenant_and_each_tenant_has_its_own_bucket() {
        let (a, b) = (
            TenantId::parse("acme").unwrap(),
            TenantId::parse("bolt").unwrap(),
        );
        // One request per user per minute, tenants unlimited: the same
        // person has a budget in each of their tenants.
        let limits = RateLimits::new(&parse_spec(Some("user=1/m:1,tenant=off")).unwrap());
        limits.check_user(&a, "u1").await.unwrap();
        assert_eq!(limits.check_user(&a, "u1").await.unwrap_err().status, 429);
        limits.check_user(&b, "u1").await.unwrap();

        // Two requests per tenant at once, users unlimited: acme's third
        // request is refused whoever sends it; bolt is untouched.
        let limits = RateLimits::new(&parse_spec(Some("user=off,tenant=1/m:2")).unwrap());
        limits.check_user(&a, "u1").await.unwrap();
        limits.check_user(&a, "u2").await.unwrap();
        let err = limits.check_user(&a, "u3").await.unwrap_err();
        assert_eq!(err.status, 429);
        limits.check_user(&b, "u1").await.unwrap();
    }

    #[test]
    fn retry_after_rounds_up() {
        assert_eq!(retry_after_secs(Duration::ZERO), 1);
        assert_eq!(retry_after_secs(Duration::from_millis(1)), 1);
        assert_eq!(retry_after_secs(Duration::from_millis(5_001)), 6);
        assert_eq!(retry_after_secs(Duration::from_secs(6)), 6);
    }
}

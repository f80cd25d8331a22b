//! Rate limits set centrally: the config service's `rate_limits` setting
//! (same syntax as `MARIMO_RATE_LIMITS`) replaces the limits of every
//! gateway replica while it runs. Each replica follows the setting on a
//! queue of its own (`config.setting.changed`), and reads its current
//! value once at start, so a replica started after a change enforces it
//! too. Deleting the setting goes back to `MARIMO_RATE_LIMITS`. A value
//! that does not parse is logged and ignored: the limits in force stay.

use std::{
    sync::{
        Arc,
        atomic::{AtomicI64, Ordering},
    },
    time::Duration,
};

use marimo_contracts::{
    Success,
    config::{SETTING_CHANGED, Setting},
};
use marimo_platform::{
    auth::{Role, jwt::Identity},
    bus::{BusError, Envelope},
    client::ServiceClient,
    discovery::Discovery,
    resilience::BreakerConfig,
    service::{ServiceContext, ServiceName},
};

use crate::rate_limit::{RateLimits, parse_spec};

/// The setting's key in the config service.
pub const KEY: &str = "rate_limits";

/// The limits of a replica and the version of the setting they follow.
#[derive(Clone)]
struct Follower {
    limits: RateLimits,
    /// `MARIMO_RATE_LIMITS`: what a deleted setting falls back to.
    env_spec: Option<String>,
    /// The config version applied (0: none yet, the environment's).
    applied: Arc<AtomicI64>,
}

impl Follower {
    /// Applies `value` (None: deleted) at `version` unless a newer version
    /// was applied already.
    fn apply(&self, version: i64, value: Option<&str>) {
        if version <= self.applied.load(Ordering::SeqCst) {
            return;
        }
        let spec = match value {
            Some(v) => parse_spec(Some(v)),
            None => parse_spec(self.env_spec.as_deref()),
        };
        match spec {
            Ok(spec) => {
                self.limits.replace(&spec);
                self.applied.store(version, Ordering::SeqCst);
                tracing::info!(version, limits = ?spec, "rate limits changed");
            }
            Err(e) => tracing::warn!(version, error = %e, "rate_limits setting ignored"),
        }
    }
}

/// Follows the setting: the subscription now, the initial read in the
/// background (the config service may start after the gateway).
/// `discovery` is the gateway's own (it resolves the config service too).
pub async fn follow(
    ctx: &ServiceContext,
    discovery: Arc<dyn Discovery>,
    limits: RateLimits,
    env_spec: Option<String>,
) -> Result<(), BusError> {
    let follower = Follower {
        limits,
        env_spec,
        applied: Arc::new(AtomicI64::new(0)),
    };
    let on_event = follower.clone();
    ctx.bus
        .subscribe_each_instance(
            "gateway.limits",
            &[SETTING_CHANGED.name()],
            move |env: Envelope| {
                let follower = on_event.clone();
                async move {
                    // A change this replica cannot read leaves its limits
                    // as they are, like a value that does not parse.
                    if let Ok(change) = env.decode(SETTING_CHANGED)
                        && change.key == KEY
                        && let Some(version) = change.version
                    {
                        follower.apply(version, change.value.as_deref());
                    }
                    Ok(())
                }
            },
        )
        .await?;
    let client = ServiceClient::new(
        ServiceName::Config,
        discovery,
        Duration::from_secs(2),
        BreakerConfig::default(),
    );
    let Ok(client) = client else { return Ok(()) };
    // The config service may answer the gateway only (MARIMO_EDGE_SECRET).
    let client = client.with_edge(marimo_platform::http::edge::EdgeKey::from_settings(
        &ctx.settings,
    ));
    // The gateway signs tokens' keys anyway; it reads settings as a
    // signed-in service, with the least role.
    let (token, _) = ctx.jwt.issue(&Identity {
        user_id: "service:gateway".into(),
        email: "gateway@marimo.internal".into(),
        role: Role::User,
        tenant: Default::default(),
    });
    let shutdown = ctx.shutdown.clone();
    ctx.tasks.spawn(async move {
        let mut delay = Duration::from_millis(100);
        for _ in 0..12 {
            match client
                .get(&format!("/api/config/{KEY}"), Some(&token))
                .await
            {
                Ok(res) if res.status().is_success() => {
                    if let Ok(Success { body: setting, .. }) = res.json::<Success<Setting>>().await
                    {
                        follower.apply(setting.version, Some(&setting.value));
                    }
                    return;
                }
                // Not set: the environment's limits stay.
                Ok(res) if res.status() == reqwest::StatusCode::NOT_FOUND => return,
                Ok(res) => tracing::debug!(status = %res.status(), "rate_limits not readable yet"),
                Err(e) => tracing::debug!(error = %e, "config service not reachable yet"),
            }
            tokio::select! {
                () = shutdown.cancelled() => return,
                () = tokio::time::sleep(delay) => {}
            }
            delay = (delay * 2).min(Duration::from_secs(10));
        }
        tracing::warn!(
            "could not read the rate_limits setting; MARIMO_RATE_LIMITS applies until it changes"
        );
    });
    Ok(())
}

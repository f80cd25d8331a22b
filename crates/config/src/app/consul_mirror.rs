//! Mirrors the settings into Consul KV when `CONSUL_ADDR` is set, so
//! operators' Consul tooling (consul-template, `consul kv get`) can read
//! them: the installation's (the default tenant's) under
//! `marimo/config/<key>`, another tenant's own rows under
//! `marimo/tenants/<tenant>/config/<key>` (a tenant's inherited defaults
//! are not copied under its prefix: readers fall back themselves). The database stays the source of truth:
//! the mirror only ever writes what the database holds now.
//!
//! - On start, every setting is written once (retried until Consul
//!   answers), which also repairs anything missed while Consul was down.
//! - Then each `config.setting.changed` event writes the key's *current*
//!   value in the event's tenant (or deletes the key), read from the
//!   database in that tenant's transaction rather than taken
//!   from the event, so a late or repeated delivery can never put an old
//!   value back. A failed write is retried by the bus.

use std::time::Duration;

use marimo_contracts::config::SETTING_CHANGED;
use marimo_platform::{
    bus::{BusError, HandlerError},
    db::Db,
    discovery::consul::{ConsulClient, ConsulError},
    service::ServiceContext,
    tenant::TenantId,
};

use crate::store;

/// Where the installation's settings live in Consul KV.
pub const PREFIX: &str = "marimo/config/";

/// Where other tenants' settings live: `marimo/tenants/<id>/config/`.
pub const TENANTS_PREFIX: &str = "marimo/tenants/";

/// The bus queue of the mirror (one per service that consumes).
const QUEUE: &str = "config.consul";

/// The KV key of `tenant`'s setting.
pub fn kv_key(tenant: &TenantId, setting: &str) -> String {
    if tenant.is_default() {
        format!("{PREFIX}{setting}")
    } else {
        format!(
            "{TENANTS_PREFIX}{tenant}/config/{setting}",
            tenant = tenant.as_str()
        )
    }
}

/// Starts the mirror: the initial full copy in the background and the
/// subscription to setting changes.
pub async fn start(db: Db, ctx: &ServiceContext, client: ConsulClient) -> Result<(), BusError> {
    {
        let (db, client, shutdown) = (db.clone(), client.clone(), ctx.shutdown.clone());
        ctx.tasks.spawn(async move {
            let mut delay = Duration::from_millis(200);
            loop {
                match copy_all(&db, &client).await {
                    Ok(n) => {
                        tracing::info!(settings = n, "settings mirrored to Consul KV");
                        return;
                    }
                    Err(e) => tracing::warn!(error = %e, "Consul KV mirror: full copy failed"),
                }
                tokio::select! {
                    () = shutdown.cancelled() => return,
                    () = tokio::time::sleep(delay) => {}
                }
                delay = (delay * 2).min(Duration::from_secs(30));
            }
        });
    }
    ctx.bus
        .subscribe_stateless(QUEUE, &[SETTING_CHANGED.name()], move |env| {
            let (db, client) = (db.clone(), client.clone());
            async move {
                let change = env.decode(SETTING_CHANGED)?;
                mirror_one(&db, &client, &env.tenant, &change.key).await
            }
        })
        .await
}

/// Writes every tenant's settings (read across tenants: this is the
/// installation's copy job); returns how many.
async fn copy_all(db: &Db, client: &ConsulClient) -> Result<usize, MirrorError> {
    let settings = {
        let mut tx = db.all_tenants().read().await?;
        store::list_all_settings(&mut tx).await?
    };
    for (tenant, s) in &settings {
        client
            .kv_put(&kv_key(tenant, &s.key), s.value.as_bytes())
            .await?;
    }
    Ok(settings.len())
}

/// Makes Consul hold what the database holds for `tenant`'s `key` now.
async fn mirror_one(
    db: &Db,
    client: &ConsulClient,
    tenant: &TenantId,
    key: &str,
) -> Result<(), HandlerError> {
    let current = {
        let mut tx = db.tenant(tenant).read().await?;
        store::get_setting(&mut *tx, tenant, key).await?
    };
    let path = kv_key(tenant, key);
    let written = match current {
        Some(s) => client.kv_put(&path, s.value.as_bytes()).await,
        None => client.kv_delete(&path).await,
    };
    match written {
        Ok(true) => Ok(()),
        Ok(false) => Err(HandlerError::Transient(format!(
            "Consul refused the write of {key}"
        ))),
        Err(e) => Err(HandlerError::Transient(format!("Consul: {e}"))),
    }
}

#[derive(Debug, thiserror::Error)]
enum MirrorError {
    #[error("database: {0}")]
    Db(#[from] sqlx::Error),
    #[error("Consul: {0}")]
    Consul(#[from] ConsulError),
}

//! The accounting service: a double-entry general ledger.
//!
//! - [`domain`]: pure rules — entry validation and balancing, account types
//!   and normal balances, periods, reports from balances, CSV, the original
//!   API's transactions. Unit- and property-tested.
//! - `store`: the SQL for this service's tables (`migrations/`), plus the
//!   immutability triggers and the seeds.
//! - [`app`]: the use cases on [`Ledger`] — the one posting path (API,
//!   original API, events), postings on request with their
//!   Idempotency-Key, chart and period operations, reports.
//! - `api`: the HTTP handlers under `/api/accounting/...` and their
//!   response views.
//! - [`events`]: consumers of shop and factory events; the published
//!   `accounting.entry.posted` / `accounting.entry.reversed`.
//! - [`error`]: [`LedgerError`], the crate's one error type, and its
//!   mapping to the platform's error shape.
//!
//! Every row is a tenant's (`tenant_id`, leading every key): requests act
//! in the caller's tenant, consumers in the event's, each through a
//! `Db::tenant` transaction, and every store query binds the tenant; on
//! PostgreSQL row policies hold it too (`store::schema`).
//!
//! Invariants, each also held by the database: every entry balances and
//! has ≥ 2 one-sided positive lines (checks + posting rules); posted
//! entries, lines and reversal links are never updated or deleted
//! (triggers); entry numbers `JE-<year>-<seq>` are unique per tenant
//! (index) and gapless per tenant and year (counter row updated in the
//! posting transaction); an
//! entry is reversed at most once (unique index); `account_balances`
//! equals the sum of the lines per account and month (maintained in the
//! posting transaction; only grows, by trigger); nothing posts into a
//! closed or locked period (the period row is held during posting).

use std::{sync::Arc, time::Duration};

use axum::Router;
use marimo_platform::{
    discovery,
    http::{ServiceApp, edge::EdgeKey},
    resilience::BreakerConfig,
    service::{ServiceContext, ServiceName, StartError},
    tenant::TenantId,
};

// utoipa's macros expand to fully qualified paths of the types named in
// them, which the workspace's `unused_qualifications` lint would flag.
#[allow(unused_qualifications)]
mod api;
pub mod app;
pub mod domain;
pub mod error;
pub mod events;
mod store;

pub use app::Ledger;
pub use error::LedgerError;

static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!();

/// The base currency when the service's settings name none.
pub const DEFAULT_CURRENCY: &str = "USD";

/// How long an Idempotency-Key is remembered.
const IDEMPOTENCY_TTL: Duration = Duration::from_secs(7 * 24 * 3600);

/// Runs migrations, installs the immutability triggers, seeds the chart,
/// subscribes the event consumers, starts housekeeping and returns the
/// service's router wrapped in the platform's [`ServiceApp`].
pub async fn router(ctx: ServiceContext) -> Result<Router, StartError> {
    let ledger = Arc::new(start(&ctx).await?);
    events::subscribe(&ctx, ledger.clone()).await?;
    marimo_platform::idempotency::spawn_purge(&ctx, ledger.db.clone(), IDEMPOTENCY_TTL);
    spawn_currency_refresh(&ctx, ledger.clone());
    let factory = Arc::new(factory_client(&ctx)?);
    let api = api::routes(api::AppState { ledger, factory });
    // Postings claim their key in their own transaction; the layer covers
    // the rest (accounts, periods).
    let idempotency = marimo_platform::idempotency::Layer::prepare(&ctx)
        .await?
        .in_transaction(api::IN_TRANSACTION);
    Ok(ServiceApp::new(&ctx).idempotency(idempotency).api(api))
}

/// How long the reconciliation waits for the factory's valuation.
const FACTORY_TIMEOUT: Duration = Duration::from_secs(5);

/// The client of the factory (for the inventory reconciliation), found
/// through discovery, with a breaker per instance, as the main service
/// reaches the others.
fn factory_client(ctx: &ServiceContext) -> Result<app::inventory::Factory, StartError> {
    let breaker = match ctx.settings.breaker.as_deref() {
        Some(spec) => BreakerConfig::parse(spec).map_err(|e| format!("MARIMO_BREAKER: {e}"))?,
        None => BreakerConfig::default(),
    };
    let discovery =
        discovery::from_settings(&ctx.settings, &[ServiceName::Factory], ctx.shutdown.clone())?;
    Ok(app::inventory::Factory::new(
        discovery,
        FACTORY_TIMEOUT,
        breaker,
        EdgeKey::from_settings(&ctx.settings),
    )?)
}

/// Prepares the database and returns the ledger (without HTTP or
/// consumers): for tools and benchmarks that drive the ledger directly.
pub async fn start(ctx: &ServiceContext) -> Result<Ledger, StartError> {
    let db = ctx
        .db
        .clone()
        .ok_or("the accounting service was started without a database")?;
    db.migrate(&MIGRATOR).await?;
    store::schema::install_guards(&db).await?;
    store::schema::install_policies(&db).await?;
    store::schema::seed(&db, DEFAULT_CURRENCY).await?;
    // Each tenant's base currency is its own setting (the default
    // tenant's seeded USD, a new tenant's from its creation); it follows
    // the config service's `currency` while that tenant's ledger is empty
    // (`events::base_currency`). Read per tenant on first use.
    let fallback = domain::money::Currency::new(DEFAULT_CURRENCY)
        .ok_or_else(|| format!("accounting: unknown base currency '{DEFAULT_CURRENCY}'"))?;
    let ledger = Ledger::new(db, ctx.outbox.clone(), fallback);
    // The default tenant's currency as of this start, as before tenancy.
    ledger.currency(&TenantId::default_tenant()).await?;
    Ok(ledger)
}

/// Keeps a replica's idea of each tenant's base currency current for reads
/// (another replica may have applied a change while that ledger was empty;
/// postings check it in their own transaction anyway).
fn spawn_currency_refresh(ctx: &ServiceContext, ledger: Arc<Ledger>) {
    let shutdown = ctx.shutdown.clone();
    ctx.tasks.spawn(async move {
        loop {
            tokio::select! {
                () = shutdown.cancelled() => return,
                () = tokio::time::sleep(Duration::from_secs(5)) => {}
            }
            let Ok(all) = store::schema::currencies(&ledger.db).await else {
                continue;
            };
            for (tenant, code) in all {
                if let (Ok(t), Some(c)) = (
                    TenantId::parse(&tenant),
                    domain::money::Currency::new(&code),
                ) {
                    ledger.set_currency(&t, c);
                }
            }
        }
    });
}

/// Bulk loading for the benchmark: posts `drafts` through the posting
/// path in one transaction of tenant `t` (same checks, numbers and
/// balances) without writing outbox events. Not for production use.
#[doc(hidden)]
pub async fn bulk_post(
    ledger: &Ledger,
    t: &TenantId,
    drafts: &[domain::entry::Draft],
) -> Result<usize, LedgerError> {
    let mut tx = ledger.db.tenant(t).begin().await?;
    let origin = app::Origin {
        source: "api",
        created_by: "benchmark",
    };
    let n = ledger
        .post_batch_in(&mut tx, drafts, origin, None, false)
        .await?
        .len();
    tx.commit().await?;
    Ok(n)
}

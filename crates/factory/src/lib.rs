//! The factory service: items, warehouses, the stock ledger, bills of
//! materials and work orders.
//!
//! - [`domain`]: pure rules — exact quantities, moving-average valuation,
//!   BOM cycle detection and multi-level explosion, the work-order state
//!   machine. Unit- and property-tested.
//! - `store`: the SQL for this service's tables (`migrations/`), the
//!   append-only guards (triggers) and the seeds.
//! - `app`: the use cases — every change, each in one transaction with its
//!   stock moves, balances and outbox events ([`Factory`]).
//! - `api`: the HTTP handlers under `/api/v1/factory/...`, including the
//!   original API's `/products` and `/orders`.
//! - [`events`]: what the factory publishes (docs/EVENTS.md).
//! - [`error`]: [`FactoryError`], the crate's one error type, mapped to the
//!   platform's error shape once.
//!
//! Invariants, each also held by the database: stock moves are never
//! updated or deleted (triggers); a balance (`stock_levels`) equals the sum
//! of its moves and is changed in the same transaction as each move;
//! on hand, reserved and value never go negative and nothing reserves more
//! than is on hand (checks, plus conditional updates that refuse a
//! decrement the balance cannot cover, even under concurrency); BOMs are
//! immutable versions and their active graph is acyclic (creation is
//! serialised on `bom_lock`); a work order changes state only along the
//! state machine (compare-and-set on its status).
//!
//! Choices worth knowing:
//! - Quantities: `i64` thousandths (3 places), decimal strings in JSON.
//! - Money: `i64` minor units of each tenant's base currency (its
//!   `factory_settings` row `currency`: the tenant's currency when it was
//!   created, USD for the default tenant; a
//!   `marimo_platform::money::Currency`); unit costs at the currency's
//!   precision.
//! - Valuation: moving average cost (see [`domain::valuation`]).
//! - `factory.stock.low` is judged **per warehouse**: a move emits it when
//!   it takes that warehouse's on hand from ≥ the item's reorder point to
//!   below it. The move holds the balance row's lock, so each crossing is
//!   seen exactly once even under concurrency; a total over warehouses
//!   would have to lock every warehouse's row of the item on every move.

use axum::{Router, http::Method};
use marimo_platform::{
    bus::Outbox,
    db::Db,
    http::ServiceApp,
    money::Currency,
    service::{ServiceContext, StartError},
    telemetry::Metrics,
    tenant::TenantId,
};

// utoipa's macros expand to fully qualified paths of the types named in
// them, which the workspace's `unused_qualifications` lint would flag.
#[allow(unused_qualifications)]
mod api;
mod app;
pub mod domain;
pub mod error;
pub mod events;
mod store;

pub use app::{
    boms::NewBom,
    posting::{Idem, Posted, Requester},
    stock::{InCost, StockOp},
    work_orders::Completion,
};
pub use domain::items::{Item, ItemChanges};
pub use store::{
    boms::BomRecord, items::ItemRecord, stock::MoveRecord, work_orders::WorkOrderRecord,
};

pub use error::{FactoryError, Shortage};

static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!();

/// The base currency when the service's settings name none.
pub const DEFAULT_CURRENCY: &str = "USD";
/// The warehouse seeded at start and used when a request names none.
pub const DEFAULT_WAREHOUSE: &str = "MAIN";

/// The factory: its database, outbox and metrics. Every change goes
/// through its methods (the use cases in `app`), one transaction each.
#[derive(Debug, Clone)]
pub struct Factory {
    pub(crate) db: Db,
    pub(crate) outbox: Outbox,
    pub(crate) metrics: Metrics,
}

impl Factory {
    pub fn db(&self) -> &Db {
        &self.db
    }

    /// Tenant `t`'s base currency (its settings; USD for a tenant the
    /// factory has not seeded, which has no items to value either). Read
    /// per request, not cached: a tenant's currency may change while it
    /// has no valued stock (`users.tenant.updated`), and every replica
    /// must value in the new one at once.
    pub async fn currency(&self, t: &TenantId) -> Result<Currency, FactoryError> {
        let mut tx = self.db.tenant(t).read().await?;
        let currency = store::schema::currency_in(&mut tx, t).await?;
        tx.rollback().await?;
        Ok(currency)
    }
}

/// How long a stock POST's `Idempotency-Key` is remembered.
const IDEMPOTENCY_TTL: std::time::Duration = std::time::Duration::from_secs(24 * 3600);

/// Runs migrations, installs the append-only guards, seeds the reference
/// data and returns the service's router wrapped in the platform's
/// [`ServiceApp`].
pub async fn router(ctx: ServiceContext) -> Result<Router, StartError> {
    let factory = std::sync::Arc::new(start(&ctx).await?);
    marimo_platform::idempotency::spawn_purge(&ctx, factory.db.clone(), IDEMPOTENCY_TTL);
    events::subscribe(&ctx, factory.clone()).await?;
    spawn_hold_expiry(&ctx, &factory);
    let api = api::routes(factory);
    // Stock moves claim their key in their own transaction; the layer
    // covers the rest (items, BOMs, work orders, products).
    let idempotency = marimo_platform::idempotency::Layer::prepare(&ctx)
        .await?
        .in_transaction(&[
            (Method::POST, "/api/factory/stock/receipts"),
            (Method::POST, "/api/factory/stock/issues"),
            (Method::POST, "/api/factory/stock/adjustments"),
            (Method::POST, "/api/factory/stock/transfers"),
            (Method::POST, "/api/factory/stock/scrap"),
            (Method::POST, "/api/factory/stock/returns"),
            (Method::POST, "/api/factory/stock/openings"),
        ]);
    Ok(ServiceApp::new(&ctx).idempotency(idempotency).api(api))
}

/// How often holds past their deadline are looked for, and how many
/// orders' holds one turn expires.
const HOLD_SWEEP_EVERY: std::time::Duration = std::time::Duration::from_secs(5);
const HOLD_SWEEP_LEASE: std::time::Duration = std::time::Duration::from_secs(30);
const HOLD_SWEEP_BATCH: i64 = 100;
/// The hold-expiry job's name: its lease is `factory.hold-expiry`.
pub const HOLD_SWEEP_JOB: &str = "hold-expiry";

/// Expires unconfirmed holds on one replica at a time (the release is a
/// compare-and-set, so racing replicas would only burn database time).
fn spawn_hold_expiry(ctx: &ServiceContext, factory: &std::sync::Arc<Factory>) {
    let sweeper = factory.clone();
    marimo_platform::lock::spawn_periodic(
        ctx,
        HOLD_SWEEP_JOB,
        HOLD_SWEEP_EVERY,
        HOLD_SWEEP_LEASE,
        move || {
            let sweeper = sweeper.clone();
            async move {
                match sweeper.expire_holds(HOLD_SWEEP_BATCH).await {
                    Ok(0) => {}
                    Ok(n) => tracing::info!(orders = n, "unconfirmed stock holds expired"),
                    Err(e) => tracing::warn!(error = %e, "hold expiry sweep failed; retrying"),
                }
            }
        },
    );
}

/// Prepares the database and returns the factory without HTTP: for tools
/// and benchmarks that drive it directly.
pub async fn start(ctx: &ServiceContext) -> Result<Factory, StartError> {
    let db = ctx
        .db
        .clone()
        .ok_or("the factory service was started without a database")?;
    db.migrate(&MIGRATOR).await?;
    store::schema::install_guards(&db).await?;
    store::schema::seed_default(&db, DEFAULT_CURRENCY, DEFAULT_WAREHOUSE).await?;
    Ok(Factory {
        db,
        outbox: ctx.outbox.clone(),
        metrics: ctx.metrics.clone(),
    })
}

//! The shop service (port 8085): catalog, orders, stock reservations and
//! the order lifecycle.
//!
//! - [`domain`]: pure rules — the order state machine and who may move an
//!   order, money, tax and totals, catalog fields, order requests, the
//!   shop's settings. Unit- and property-tested.
//! - `store`: the SQL for this service's tables (`migrations/`).
//! - [`app`]: the use cases, one transaction each (events through the
//!   outbox in the same transaction), and the dashboard summary.
//! - `api`: thin HTTP handlers under `/api/shop/...` (catalog, orders,
//!   admin) and their response views.
//! - [`events`]: the published order events and the consumers of
//!   `factory.work_order.completed` and `config.setting.changed`.
//!
//! Every business row belongs to a tenant (docs/TENANCY.md): handlers
//! act in the caller's tenant (anonymous catalog readers: the
//! `X-Marimo-Tenant` header, else the default tenant), consumers in the
//! event's, the expiry sweep per order in the order's; the store binds
//! `tenant_id` in every query and, on PostgreSQL, row policies and
//! composite foreign keys ([`tenancy`]) refuse the rest.
//!
//! Invariants, each also held by the database: stock never goes below zero
//! (CHECK, and reservations are conditional updates); an order's total is
//! its subtotal plus tax and each line's total its price times quantity
//! (CHECKs); a product that was ever ordered is never deleted (foreign
//! key); an order has at most one capture and one refund (unique index);
//! a status changes only from the status it was read in (conditional
//! update), so concurrent transitions and expiry sweeps on several
//! replicas apply once.

use std::{sync::Arc, time::Duration};

use axum::Router;
use marimo_platform::{
    auth::{Caller, policy::ShopStaff},
    http::ServiceApp,
    lock,
    service::{ServiceContext, StartError},
};

// utoipa's macros expand to fully qualified paths of the types named in
// them, which the workspace's `unused_qualifications` lint would flag.
#[allow(unused_qualifications)]
mod api;
pub mod app;
pub mod domain;
mod error;
pub mod events;
mod store;
pub mod tenancy;

pub use app::Shop;
pub use error::ShopError;

static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!();

/// How often pending orders past their deadline are looked for.
const SWEEP_EVERY: Duration = Duration::from_secs(2);
/// The sweep's lease (renewed while it runs): a replica that dies mid-sweep
/// holds the others back this long at most.
const SWEEP_LEASE: Duration = Duration::from_secs(30);
/// The sweep's job name: its lease is `shop.order-expiry`.
pub const SWEEP_JOB: &str = "order-expiry";
/// Orders expired per sweep query.
const SWEEP_BATCH: i64 = 100;
/// How long an `Idempotency-Key` is remembered: a client retrying a
/// placement does so within minutes, not days.
/// An order's history and its payments are facts: corrections are new
/// rows (a refund is a payment of its own), never edits.
const APPEND_ONLY: &[marimo_platform::append_only::Guarded<'static>] = &[
    ("order_events", "an order's history is never rewritten"),
    ("payments", "record a refund as a new payment instead"),
];

const IDEMPOTENCY_TTL: Duration = Duration::from_secs(24 * 3600);

/// Runs migrations (which seed the original catalog), subscribes the event
/// consumers, starts the expiry sweep (one replica at a time, see
/// [`marimo_platform::lock`]) and housekeeping on `ctx.tasks`
/// (stopping on `ctx.shutdown`) and returns the router wrapped in the
/// platform's [`ServiceApp`].
pub async fn router(ctx: ServiceContext) -> Result<Router, StartError> {
    let shop = Arc::new(start(&ctx).await?);
    events::subscribe(&ctx, shop.clone()).await?;
    spawn_jobs(&ctx, &shop);
    let api = api::routes(shop);
    let idempotency = marimo_platform::idempotency::Layer::prepare(&ctx)
        .await?
        .in_transaction(api::IN_TRANSACTION);
    Ok(ServiceApp::new(&ctx).idempotency(idempotency).api(api))
}

/// Prepares the database and returns the shop (no HTTP, consumers or
/// jobs): for tools and benchmarks.
pub async fn start(ctx: &ServiceContext) -> Result<Shop, StartError> {
    let db = ctx
        .db
        .clone()
        .ok_or("the shop service was started without a database")?;
    db.migrate(&MIGRATOR).await?;
    marimo_platform::append_only::install(&db, APPEND_ONLY, "").await?;
    tenancy::install(&db).await?;
    let secret = ctx
        .settings
        .payment_webhook_secret
        .as_ref()
        .map(|s| s.expose().as_bytes());
    Ok(Shop::new(db, ctx.outbox.clone(), ctx.metrics.clone()).with_payment_secret(secret))
}

/// Shop managers and admins run the shop.
pub(crate) fn is_staff(caller: &Caller) -> bool {
    caller.may::<ShopStaff>()
}

fn spawn_jobs(ctx: &ServiceContext, shop: &Arc<Shop>) {
    // On one replica at a time (a lease in Redis when configured): the
    // sweep is safe to race (each order expires once, by a conditional
    // update), but replicas racing only burn database time.
    let sweeper = shop.clone();
    lock::spawn_periodic(ctx, SWEEP_JOB, SWEEP_EVERY, SWEEP_LEASE, move || {
        let sweeper = sweeper.clone();
        async move {
            match sweeper.expire_due(SWEEP_BATCH).await {
                Ok(0) => {}
                Ok(n) => tracing::info!(expired = n, "unpaid orders expired, stock released"),
                Err(e) => tracing::warn!(error = %e, "order expiry sweep failed; retrying"),
            }
        }
    });
    marimo_platform::idempotency::spawn_purge(ctx, shop.db.clone(), IDEMPOTENCY_TTL);
}

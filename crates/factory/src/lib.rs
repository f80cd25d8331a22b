//! The factory service: items, warehouses, the stock ledger, bills of
//! materials and work orders.
//!
//! - [`domain`]: pure rules — exact quantities, moving-average valuation,
//!   BOM cycle detection and multi-level explosion, the work-order state
//!   machine. Unit- and property-tested.
//! - `store`: the SQL for this service's tables (`migrations/`), the
//!   append-only guards (triggers) and the seeds.
//! - `engine`: every change, each in one transaction with its stock moves,
//!   balances and outbox events ([`Factory`]).
//! - `api`: the HTTP handlers under `/api/factory/...`, including the
//!   original API's `/products` and `/orders`.
//! - [`events`]: what the factory publishes (docs/EVENTS.md).
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
//! - Money: `i64` minor units of one base currency (`factory_settings`,
//!   default USD); unit costs at the currency's precision.
//! - Valuation: moving average cost (see [`domain::valuation`]).
//! - `factory.stock.low` is judged **per warehouse**: a move emits it when
//!   it takes that warehouse's on hand from ≥ the item's reorder point to
//!   below it. The move holds the balance row's lock, so each crossing is
//!   seen exactly once even under concurrency; a total over warehouses
//!   would have to lock every warehouse's row of the item on every move.

use axum::{Router, http::StatusCode};
use marimo_platform::{
    ApiError,
    bus::Outbox,
    db::Db,
    http::ServiceApp,
    service::{ServiceContext, StartError},
    telemetry::Metrics,
};
use serde_json::{Value, json};

mod api;
pub mod domain;
mod engine;
pub mod events;
mod store;

pub use engine::{
    boms::NewBom,
    items::{ItemChanges, NewItem},
    posting::{Idem, Posted, Requester},
    work_orders::Completion,
};
pub use store::{
    boms::BomRecord, items::ItemRecord, stock::MoveRecord, work_orders::WorkOrderRecord,
};

use domain::{Invalid, bom::format_path, money::Currency, work_order::InvalidTransition};

static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!();

/// The base currency when the service's settings name none.
pub const DEFAULT_CURRENCY: &str = "USD";
/// The warehouse seeded at start and used when a request names none.
pub const DEFAULT_WAREHOUSE: &str = "MAIN";

/// One component the stock cannot cover.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Shortage {
    pub sku: String,
    pub warehouse: String,
    /// Thousandths.
    pub required: i64,
    pub available: i64,
}

/// Everything the factory can fail with, mapped to HTTP in one place.
#[derive(Debug, thiserror::Error)]
pub enum FactoryError {
    #[error("{0}")]
    Invalid(#[from] Invalid),
    #[error("{0}")]
    NotFound(String),
    /// 409 with a domain code (duplicates, stock changes that conflict).
    #[error("{message}")]
    Conflict {
        code: &'static str,
        message: String,
        details: Option<Value>,
    },
    /// 422 with a domain code (references and rules: unknown unit, no BOM).
    #[error("{message}")]
    Unprocessable {
        code: &'static str,
        message: String,
        details: Option<Value>,
    },
    #[error("insufficient stock for {} item(s)", .0.len())]
    InsufficientStock(Vec<Shortage>),
    #[error("{0}")]
    Transition(#[from] InvalidTransition),
    #[error("the bill of materials would form a cycle: {}", format_path(.0))]
    BomCycle(Vec<String>),
    #[error("database error: {0}")]
    Db(#[from] sqlx::Error),
    /// A rule the code relies on did not hold (logged, 500).
    #[error("internal error: {0}")]
    Internal(String),
}

impl FactoryError {
    pub(crate) fn not_found(what: impl Into<String>) -> Self {
        Self::NotFound(what.into())
    }

    pub(crate) fn unprocessable(code: &'static str, message: impl Into<String>) -> Self {
        Self::Unprocessable {
            code,
            message: message.into(),
            details: None,
        }
    }

    pub(crate) fn conflict(code: &'static str, message: impl Into<String>) -> Self {
        Self::Conflict {
            code,
            message: message.into(),
            details: None,
        }
    }

    pub(crate) fn too_large(what: &str) -> Self {
        Self::unprocessable(
            "TOO_LARGE",
            format!("{what} exceeds what the factory can hold"),
        )
    }
}

impl From<FactoryError> for ApiError {
    fn from(err: FactoryError) -> Self {
        let with = |e: ApiError, d: Option<Value>| match d {
            Some(d) => e.with_details(d),
            None => e,
        };
        match err {
            FactoryError::Invalid(i) => {
                ApiError::validation(i.message).with_details(json!({"field": i.field}))
            }
            FactoryError::NotFound(m) => ApiError::not_found(m),
            FactoryError::Conflict {
                code,
                message,
                details,
            } => with(ApiError::new(StatusCode::CONFLICT, code, message), details),
            FactoryError::Unprocessable {
                code,
                message,
                details,
            } => with(
                ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, code, message),
                details,
            ),
            FactoryError::InsufficientStock(list) => {
                let shortages: Vec<Value> = list
                    .iter()
                    .map(|s| {
                        json!({
                            "sku": s.sku,
                            "warehouse": s.warehouse,
                            "required": domain::qty::format(s.required),
                            "available": domain::qty::format(s.available),
                        })
                    })
                    .collect();
                let skus: Vec<&str> = list.iter().map(|s| s.sku.as_str()).collect();
                ApiError::new(
                    StatusCode::CONFLICT,
                    "INSUFFICIENT_STOCK",
                    format!("not enough stock available of {}", skus.join(", ")),
                )
                .with_details(json!({ "shortages": shortages }))
            }
            FactoryError::Transition(t) => {
                ApiError::new(StatusCode::CONFLICT, "INVALID_TRANSITION", t.to_string())
                    .with_details(json!({"status": t.from.as_str(), "action": t.action.as_str()}))
            }
            FactoryError::BomCycle(path) => ApiError::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "BOM_CYCLE",
                format!(
                    "this bill of materials would make a product need itself: {}",
                    format_path(&path)
                ),
            )
            .with_details(json!({"cycle": format_path(&path), "path": path})),
            FactoryError::Db(e) => e.into(),
            FactoryError::Internal(why) => {
                tracing::error!(%why, "factory invariant broken");
                ApiError::internal("internal error")
            }
        }
    }
}

/// The factory: its database, outbox, metrics and base currency. Every
/// change goes through its methods (the `engine`), one transaction each.
#[derive(Debug, Clone)]
pub struct Factory {
    pub(crate) db: Db,
    pub(crate) outbox: Outbox,
    pub(crate) metrics: Metrics,
    pub(crate) currency: Currency,
}

impl Factory {
    pub fn db(&self) -> &Db {
        &self.db
    }

    pub fn currency(&self) -> &Currency {
        &self.currency
    }
}

/// How long a stock POST's `Idempotency-Key` is remembered.
const IDEMPOTENCY_TTL: std::time::Duration = std::time::Duration::from_secs(24 * 3600);

/// Runs migrations, installs the append-only guards, seeds the reference
/// data and returns the service's router wrapped in the platform's
/// [`ServiceApp`].
pub async fn router(ctx: ServiceContext) -> Result<Router, StartError> {
    let factory = start(&ctx).await?;
    marimo_platform::idempotency::spawn_purge(&ctx, factory.db.clone(), IDEMPOTENCY_TTL);
    events::subscribe(&ctx, factory.db.clone()).await?;
    let api = api::routes(std::sync::Arc::new(factory));
    Ok(ServiceApp::new(&ctx).router(api))
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
    store::schema::seed(&db, DEFAULT_CURRENCY, DEFAULT_WAREHOUSE).await?;
    // The base currency is the factory's own setting (seeded USD), read
    // once: the factory keeps one currency for its whole life.
    let code = store::schema::setting(&db, store::schema::CURRENCY_SETTING)
        .await?
        .unwrap_or_else(|| DEFAULT_CURRENCY.to_owned());
    let currency =
        Currency::new(&code).ok_or_else(|| format!("factory: unknown base currency '{code}'"))?;
    Ok(Factory {
        db,
        outbox: ctx.outbox.clone(),
        metrics: ctx.metrics.clone(),
        currency,
    })
}

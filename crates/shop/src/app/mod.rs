//! The shop's use cases. Each write is one database transaction that
//! applies the domain rules through the store and, when others care about
//! it, writes the event into the outbox in that same transaction.
//!
//! - [`orders`]: placing orders (reservation, idempotency), transitions,
//!   expiry.
//! - [`catalog`]: creating, changing, deleting and restocking products.
//! - [`summary`]: the dashboard's figures.
//!
//! The event consumers (factory stock, settings) are in `crate::events`.

use marimo_platform::{bus::Outbox, db::Db, telemetry::Metrics};

use crate::domain::order::Status;

pub mod catalog;
pub mod orders;
pub mod summary;

/// What every use case works with. Cheap to share (`Arc<Shop>`).
#[derive(Clone)]
pub struct Shop {
    pub db: Db,
    pub outbox: Outbox,
    pub metrics: Metrics,
    /// `PAYMENT_WEBHOOK_SECRET`: the key provider callbacks are signed
    /// with; without it every callback is refused.
    pub payment_secret: Option<Vec<u8>>,
}

impl Shop {
    pub fn new(db: Db, outbox: Outbox, metrics: Metrics) -> Self {
        Self {
            db,
            outbox,
            metrics,
            payment_secret: None,
        }
    }

    /// The shop with the provider callbacks' key.
    pub fn with_payment_secret(mut self, secret: Option<&[u8]>) -> Self {
        self.payment_secret = secret.map(<[u8]>::to_vec);
        self
    }

    /// `orders_total{status}`: one per order reaching `status`; a new
    /// order (`pending`) also counts in `orders_placed_total`.
    fn count_order(&self, status: Status) {
        self.metrics.record(|| {
            metrics::counter!("orders_total", "status" => status.as_str()).increment(1);
            if status == Status::Pending {
                metrics::counter!("orders_placed_total").increment(1);
            }
        });
    }

    /// `revenue_total{currency}` (minor units) on payment,
    /// `refunds_total{currency}` on refund: counters only grow.
    fn count_money(&self, name: &'static str, currency: &str, amount: i64) {
        let amount = u64::try_from(amount).unwrap_or(0);
        let currency = currency.to_owned();
        self.metrics.record(|| {
            metrics::counter!(name, "currency" => currency).increment(amount);
        });
    }

    /// `orders_rejected_total{reason}`: placements refused by the catalog.
    fn count_rejection(&self, reason: &'static str) {
        self.metrics.record(|| {
            metrics::counter!("orders_rejected_total", "reason" => reason).increment(1);
        });
    }
}

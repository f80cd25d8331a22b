//! Every change the factory makes, each in one write transaction with its
//! stock moves, balance updates and outbox events.
//!
//! - [`posting`]: the transaction of a stock change — locks balances in a
//!   fixed order, values moves at the moving average, writes moves and
//!   balances, detects reorder-point crossings, publishes, commits.
//! - [`items`], [`stock`], [`boms`], [`work_orders`]: the operations.
//! - [`reservations`]: holds of stock for the shop's orders (placed by
//!   the shop's call, confirmed, released or shipped by its events,
//!   expired when never confirmed).
//!
//! Lock order: every transaction that touches several balance rows locks
//! them sorted by (SKU, warehouse), after the work order row if any, so
//! concurrent transactions on PostgreSQL cannot deadlock on each other.

pub mod boms;
pub mod items;
pub mod posting;
pub mod reservations;
pub mod stock;
pub mod work_orders;

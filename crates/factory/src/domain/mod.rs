//! Pure business rules of the factory: no I/O, unit- and property-tested.
//!
//! - [`qty`]: exact quantities (thousandths) and their text.
//! - [`money`]: bounds of amounts in the base currency's minor units.
//! - [`valuation`]: stock balances and the moving-average cost.
//! - [`bom`]: bills of materials — cycle detection and multi-level
//!   explosion with exact fractions.
//! - [`work_order`]: the work-order state machine and cost roll-up.
//! - [`reservations`]: holds of stock for shop orders — their states and
//!   what an order's lines ask for.
//! - [`items`]: what an item is, SKUs, warehouse codes, names, item kinds,
//!   product statuses.
//!
//! A rule refuses an input with `marimo_platform::Invalid` (which field,
//! and why), answered as 400 naming the field.

pub mod bom;
pub mod items;
pub mod money;
pub mod qty;
pub mod reservations;
pub mod valuation;
pub mod work_order;

//! Stock balances and their valuation by **moving average cost**.
//!
//! A balance is one item in one warehouse: `on_hand` and `reserved`
//! (thousandths) and `value` in **fine units** of the base currency
//! (`domain::money`: ten-thousandths of the minor unit). The average unit
//! cost is `value / on_hand`; it is never stored, so it never drifts from
//! the balance it describes. What the ledger holds of a balance is its
//! **booked value**, `value` rounded to the minor unit ([`Level::booked`]);
//! a move books `booked(after) − booked(before)` ([`booked_change`]), so
//! the booked values of a bin's moves always add up to its booked value:
//! a rounding difference stays in the bin and is booked by a later move,
//! never lost.
//!
//! - A **receipt** (and a production output, a customer return, an
//!   opening balance, the incoming half of a transfer) adds its quantity
//!   and its value: `qty × unit_cost`, rounded half away from zero to the
//!   fine unit ([`receipt_value`]).
//! - An **issue** (and a production consumption, a shipment, scrap, a
//!   negative adjustment, the outgoing half of a transfer) removes its
//!   quantity at the current average: `value × qty / on_hand`, rounded
//!   half away from zero to the fine unit ([`Level::value_of`]). Taking
//!   everything that is on hand takes the whole value, so at zero on hand
//!   the value is exactly 0 — remainders never linger in an empty bin.
//!   Because `qty ≤ on_hand`, the value taken never exceeds the value
//!   held: a balance's value is never negative.
//! - A **positive adjustment** (stock found) comes in at the current
//!   average, or at the item's standard cost when nothing is on hand.
//! - A **reservation** moves nothing and values nothing: it only lowers
//!   what is available (`on_hand − reserved`).
//!
//! The database holds the same rules as checks (`on_hand ≥ 0`,
//! `reserved ≥ 0`, `reserved ≤ on_hand`, `value ≥ 0`, `on_hand > 0 OR
//! value = 0`), so a bug here cannot store an impossible balance.

use marimo_platform::money::mul_div_round;

use super::{
    money::{MAX_VALUE, booked},
    qty,
};

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Level {
    pub on_hand: i64,
    pub reserved: i64,
    pub value: i64,
}

/// Why a balance cannot change as asked.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum LevelError {
    /// Not enough available (or reserved, for `from_reserved`): `available`
    /// is what there is.
    #[error("only {available} available")]
    Short { available: i64 },
    /// The result would exceed the service's limits.
    #[error("the balance would become too large")]
    TooLarge,
    /// A quantity that must be positive was not.
    #[error("quantity must be positive")]
    NotPositive,
}

impl Level {
    /// The value as the ledger holds it: minor units.
    pub fn booked(&self) -> i64 {
        booked(self.value)
    }

    pub fn available(&self) -> i64 {
        self.on_hand - self.reserved
    }

    /// The value of `qty` taken at the moving average (`qty ≤ on_hand`).
    pub fn value_of(&self, qty: i64) -> Result<i64, LevelError> {
        if qty <= 0 {
            return Err(LevelError::NotPositive);
        }
        if qty > self.on_hand {
            return Err(LevelError::Short {
                available: self.on_hand,
            });
        }
        if qty == self.on_hand {
            return Ok(self.value);
        }
        mul_div_round(self.value, qty, self.on_hand).ok_or(LevelError::TooLarge)
    }

    /// The average unit cost in minor units per unit, rounded; `None` when
    /// nothing is on hand.
    pub fn average_unit_cost(&self) -> Option<i64> {
        (self.on_hand > 0).then(|| unit_cost(self.value, self.on_hand))
    }

    /// Adds `qty` worth `value`.
    pub fn receive(&self, qty: i64, value: i64) -> Result<Level, LevelError> {
        if qty <= 0 {
            return Err(LevelError::NotPositive);
        }
        let on_hand = self
            .on_hand
            .checked_add(qty)
            .filter(|v| *v <= qty::MAX_BALANCE)
            .ok_or(LevelError::TooLarge)?;
        let value = self
            .value
            .checked_add(value.max(0))
            .filter(|v| *v <= MAX_VALUE)
            .ok_or(LevelError::TooLarge)?;
        Ok(Level {
            on_hand,
            reserved: self.reserved,
            value,
        })
    }

    /// Removes `qty` at the moving average: from the available stock, or,
    /// with `from_reserved`, from what is reserved (releasing that much of
    /// the reservation). Returns the new balance and the value removed.
    pub fn remove(&self, qty: i64, from_reserved: bool) -> Result<(Level, i64), LevelError> {
        if qty <= 0 {
            return Err(LevelError::NotPositive);
        }
        let limit = if from_reserved {
            self.reserved
        } else {
            self.available()
        };
        if qty > limit {
            return Err(LevelError::Short { available: limit });
        }
        let taken = self.value_of(qty)?;
        Ok((
            Level {
                on_hand: self.on_hand - qty,
                reserved: if from_reserved {
                    self.reserved - qty
                } else {
                    self.reserved
                },
                value: self.value - taken,
            },
            taken,
        ))
    }

    /// Reserves `qty` of the available stock.
    pub fn reserve(&self, qty: i64) -> Result<Level, LevelError> {
        if qty <= 0 {
            return Err(LevelError::NotPositive);
        }
        if qty > self.available() {
            return Err(LevelError::Short {
                available: self.available(),
            });
        }
        Ok(Level {
            reserved: self.reserved + qty,
            ..*self
        })
    }

    /// Every balance rule the database checks too.
    pub fn is_valid(&self) -> bool {
        self.on_hand >= 0
            && self.reserved >= 0
            && self.reserved <= self.on_hand
            && self.value >= 0
            && (self.on_hand > 0 || self.value == 0)
    }
}

/// What a move from `before` to `after` books: the change of the booked
/// value, in minor units.
pub fn booked_change(before: &Level, after: &Level) -> i64 {
    after.booked() - before.booked()
}

/// The value of a receipt: `qty` thousandths at `unit_cost` fine units a
/// unit, rounded half away from zero. `None` beyond the service's limits.
pub fn receipt_value(qty: i64, unit_cost: i64) -> Option<i64> {
    mul_div_round(qty, unit_cost, qty::ONE).filter(|v| v.abs() <= MAX_VALUE)
}

/// A unit cost (fine units per unit) from a value and a quantity,
/// rounded half away from zero; 0 for a zero quantity.
pub fn unit_cost(value: i64, qty: i64) -> i64 {
    if qty == 0 {
        return 0;
    }
    mul_div_round(value, qty::ONE, qty).unwrap_or(0)
}

/// True when a balance going from `before` to `after` on hand falls
/// through `reorder_point` (from ≥ it to < it). A reorder point of 0 is
/// never crossed: on hand cannot go below zero.
pub fn crosses_reorder_point(before: i64, after: i64, reorder_point: i64) -> bool {
    before >= reorder_point && after < reorder_point
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    #[test]
    fn moving_average_by_hand() {
        // 10 units at 2.00, then 10 at 4.00: average 3.00.
        let l = Level::default()
            .receive(10_000, receipt_value(10_000, 200).unwrap())
            .unwrap()
            .receive(10_000, receipt_value(10_000, 400).unwrap())
            .unwrap();
        assert_eq!(l.value, 6000);
        assert_eq!(l.average_unit_cost(), Some(300));
        // Issue 5 at the average: 15.00.
        let (l, taken) = l.remove(5_000, false).unwrap();
        assert_eq!(taken, 1500);
        assert_eq!(
            l,
            Level {
                on_hand: 15_000,
                reserved: 0,
                value: 4500
            }
        );
        // 3 units worth 10.00: one unit is 3.333… → 3.33, and the last
        // unit takes what is left, so nothing lingers.
        let l = Level {
            on_hand: 3000,
            reserved: 0,
            value: 1000,
        };
        let (l, a) = l.remove(1000, false).unwrap();
        let (l, b) = l.remove(1000, false).unwrap();
        let (l, c) = l.remove(1000, false).unwrap();
        assert_eq!((a, b, c), (333, 334, 333));
        assert_eq!(l, Level::default());
    }

    #[test]
    fn half_away_from_zero() {
        // 1.5 kg at 2.33 = 3.495 → 3.50.
        assert_eq!(receipt_value(1500, 233), Some(350));
        assert_eq!(unit_cost(1000, 3000), 333);
        assert_eq!(unit_cost(0, 0), 0);
    }

    #[test]
    fn reservations_limit_what_is_available() {
        let l = Level {
            on_hand: 5000,
            reserved: 0,
            value: 500,
        };
        let l = l.reserve(3000).unwrap();
        assert_eq!(l.available(), 2000);
        assert_eq!(
            l.remove(2500, false),
            Err(LevelError::Short { available: 2000 })
        );
        assert_eq!(l.reserve(2001), Err(LevelError::Short { available: 2000 }));
        let (after, taken) = l.remove(3000, true).unwrap();
        assert_eq!(
            after,
            Level {
                on_hand: 2000,
                reserved: 0,
                value: 200
            }
        );
        assert_eq!(taken, 300);
        assert_eq!(l.remove(0, false), Err(LevelError::NotPositive));
    }

    #[test]
    fn reorder_point_crossing() {
        assert!(crosses_reorder_point(10, 9, 10));
        assert!(crosses_reorder_point(12, 3, 10));
        assert!(!crosses_reorder_point(9, 8, 10), "already below");
        assert!(!crosses_reorder_point(12, 10, 10), "still at the point");
        assert!(!crosses_reorder_point(5, 0, 0), "0 is never crossed");
    }

    #[derive(Debug, Clone)]
    enum Op {
        Receive(i64, i64),
        Issue(i64),
        Reserve(i64),
        Consume(i64),
    }

    fn op() -> impl Strategy<Value = Op> {
        prop_oneof![
            (1i64..50_000, 0i64..100_000).prop_map(|(q, c)| Op::Receive(q, c)),
            (1i64..60_000).prop_map(Op::Issue),
            (1i64..30_000).prop_map(Op::Reserve),
            (1i64..30_000).prop_map(Op::Consume),
        ]
    }

    proptest! {
        /// Receipts at fine costs and issues in any order: the booked
        /// changes of the moves always add up to the balance's fine value
        /// rounded to the minor unit — no rounding difference is lost.
        #[test]
        fn booked_changes_add_up_to_the_rounded_balance(
            ops in proptest::collection::vec((any::<bool>(), 1i64..50_000, 0i64..100_000_000), 1..120)
        ) {
            let mut l = Level::default();
            let mut booked_sum = 0i64;
            for (is_in, q, c) in ops {
                let before = l;
                if is_in {
                    l = l.receive(q, receipt_value(q, c).unwrap()).unwrap();
                } else if let Ok((next, _)) = l.remove(q, false) {
                    l = next;
                }
                booked_sum += booked_change(&before, &l);
                prop_assert_eq!(booked_sum, l.booked());
                prop_assert!(l.is_valid());
            }
        }

        /// Whatever happens, a balance stays valid (value never negative,
        /// zero on hand is zero value), refused operations change nothing,
        /// and the value is exactly what came in minus what went out.
        #[test]
        fn valuation_never_goes_negative(ops in proptest::collection::vec(op(), 1..80)) {
            let mut l = Level::default();
            let (mut value_in, mut value_out) = (0i64, 0i64);
            let (mut qty_in, mut qty_out) = (0i64, 0i64);
            for op in ops {
                match op {
                    Op::Receive(q, c) => {
                        let v = receipt_value(q, c).unwrap();
                        l = l.receive(q, v).unwrap();
                        value_in += v;
                        qty_in += q;
                    }
                    Op::Issue(q) | Op::Consume(q) => {
                        let from_reserved = matches!(op, Op::Consume(_));
                        match l.remove(q, from_reserved) {
                            Ok((next, taken)) => {
                                prop_assert!(taken >= 0 && taken <= l.value);
                                l = next;
                                value_out += taken;
                                qty_out += q;
                            }
                            Err(LevelError::Short { available }) => {
                                prop_assert!(available < q);
                            }
                            Err(e) => prop_assert!(false, "{e}"),
                        }
                    }
                    Op::Reserve(q) => {
                        if let Ok(next) = l.reserve(q) {
                            l = next;
                        } else {
                            prop_assert!(q > l.available());
                        }
                    }
                }
                prop_assert!(l.is_valid(), "{l:?}");
                prop_assert_eq!(l.value, value_in - value_out);
                prop_assert_eq!(l.on_hand, qty_in - qty_out);
            }
        }
    }
}

//! Orders: the lifecycle state machine, who may move an order and what a
//! move does to stock and money.
//!
//! ```text
//! pending ──pay──► paid ──ship──► shipped ──deliver──► delivered
//!    │               │
//!    ├──cancel───────┴──► cancelled   (stock released; refund when paid)
//!    └──expire──────────► expired     (stock released; the sweep job)
//! ```
//!
//! `delivered`, `cancelled` and `expired` are final.

use std::{fmt, str::FromStr};

use super::pricing::TaxRate;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, utoipa::ToSchema)]
#[schema(rename_all = "lowercase")]
pub enum Status {
    Pending,
    Paid,
    Shipped,
    Delivered,
    Cancelled,
    Expired,
}

impl Status {
    pub const ALL: [Status; 6] = [
        Status::Pending,
        Status::Paid,
        Status::Shipped,
        Status::Delivered,
        Status::Cancelled,
        Status::Expired,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Paid => "paid",
            Self::Shipped => "shipped",
            Self::Delivered => "delivered",
            Self::Cancelled => "cancelled",
            Self::Expired => "expired",
        }
    }

    /// No transition leaves it.
    pub fn is_final(self) -> bool {
        matches!(self, Self::Delivered | Self::Cancelled | Self::Expired)
    }

    /// Still being worked on (the dashboard's "open orders").
    pub fn is_open(self) -> bool {
        matches!(self, Self::Pending | Self::Paid | Self::Shipped)
    }

    /// Money was taken and kept: counts as revenue.
    pub fn is_revenue(self) -> bool {
        matches!(self, Self::Paid | Self::Shipped | Self::Delivered)
    }

    /// The order's units are still taken out of the catalog's stock.
    pub fn holds_stock(self) -> bool {
        !matches!(self, Self::Cancelled | Self::Expired)
    }
}

impl fmt::Display for Status {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Status {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::ALL
            .into_iter()
            .find(|st| st.as_str() == s)
            .ok_or_else(|| {
                let names: Vec<_> = Self::ALL.iter().map(|s| s.as_str()).collect();
                format!("unknown status '{s}'; one of: {}", names.join(", "))
            })
    }
}

/// What can be done to an order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Action {
    Pay,
    Ship,
    Deliver,
    Cancel,
    /// By the sweep job only, never through the API.
    Expire,
}

impl Action {
    pub const ALL: [Action; 5] = [
        Action::Pay,
        Action::Ship,
        Action::Deliver,
        Action::Cancel,
        Action::Expire,
    ];

    /// The status the action leads to.
    pub fn target(self) -> Status {
        match self {
            Self::Pay => Status::Paid,
            Self::Ship => Status::Shipped,
            Self::Deliver => Status::Delivered,
            Self::Cancel => Status::Cancelled,
            Self::Expire => Status::Expired,
        }
    }
}

/// The move asked for is not one of the lifecycle's edges.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IllegalTransition {
    pub from: Status,
    pub to: Status,
}

/// The state machine: the status `action` leads to from `from`.
pub fn next(from: Status, action: Action) -> Result<Status, IllegalTransition> {
    use Action as A;
    use Status as S;
    let to = action.target();
    match (from, action) {
        (S::Pending, A::Pay)
        | (S::Paid, A::Ship)
        | (S::Shipped, A::Deliver)
        | (S::Pending | S::Paid, A::Cancel)
        | (S::Pending, A::Expire) => Ok(to),
        _ => Err(IllegalTransition { from, to }),
    }
}

/// Who is acting on an order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Actor {
    /// The customer who placed it.
    pub owner: bool,
    /// A shop manager or an admin.
    pub staff: bool,
}

impl Actor {
    /// Only the owner and staff see an order; for anyone else it does not
    /// exist (404), so order ids cannot be probed.
    pub fn can_see(self) -> bool {
        self.owner || self.staff
    }
}

/// Why an actor may not do an action.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// 404: the actor may not even see the order.
    Hidden,
    /// 403, with the reason.
    Forbidden(&'static str),
    /// 409: not an edge of the lifecycle.
    Illegal(IllegalTransition),
}

/// Checks, in this order: visibility (404), the role the action needs
/// (403), the state machine (409), then what the owner may do in the
/// current state (403). Returns the target status.
pub fn authorize(actor: Actor, from: Status, action: Action) -> Result<Status, Refusal> {
    if !actor.can_see() {
        return Err(Refusal::Hidden);
    }
    match action {
        Action::Ship | Action::Deliver if !actor.staff => {
            return Err(Refusal::Forbidden(
                "only a shop manager or an admin can ship or deliver orders",
            ));
        }
        // Saying "I paid" proves nothing: staff record a payment received,
        // the payment provider's signed callback reports one.
        Action::Pay if !actor.staff => {
            return Err(Refusal::Forbidden(
                "an order is paid through the payment provider, or recorded by a shop manager when the payment is received",
            ));
        }
        Action::Expire => {
            return Err(Refusal::Forbidden("orders expire by themselves"));
        }
        _ => {}
    }
    let to = next(from, action).map_err(Refusal::Illegal)?;
    if action == Action::Cancel && from != Status::Pending && !actor.staff {
        return Err(Refusal::Forbidden(
            "a paid order can only be cancelled by the shop; contact a shop manager",
        ));
    }
    Ok(to)
}

/// What a transition does besides changing the status.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Effects {
    /// Put the order's units back into stock.
    pub release_stock: bool,
    /// Record a capture of the order's total.
    pub capture: bool,
    /// Record a refund of the order's total.
    pub refund: bool,
}

/// The effects of the (legal) move `from` → `action`.
pub fn effects(from: Status, action: Action) -> Effects {
    match action {
        Action::Pay => Effects {
            capture: true,
            ..Effects::default()
        },
        Action::Cancel => Effects {
            release_stock: true,
            refund: from == Status::Paid,
            ..Effects::default()
        },
        Action::Expire => Effects {
            release_stock: true,
            ..Effects::default()
        },
        Action::Ship | Action::Deliver => Effects::default(),
    }
}

/// A line of an order: a snapshot of the product as it was charged.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OrderItem {
    pub product_id: String,
    pub sku: Option<String>,
    pub name: String,
    pub quantity: i64,
    pub unit_price: i64,
    pub line_total: i64,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Order {
    pub id: String,
    pub user_id: String,
    pub email: String,
    pub status: Status,
    pub currency: String,
    pub subtotal: i64,
    pub tax: i64,
    pub total: i64,
    pub tax_rate: TaxRate,
    pub created_at: String,
    pub updated_at: String,
    pub expires_at: String,
    pub items: Vec<OrderItem>,
}

impl serde::Serialize for Status {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    const CUSTOMER: Actor = Actor {
        owner: true,
        staff: false,
    };
    const STAFF: Actor = Actor {
        owner: false,
        staff: true,
    };
    const STRANGER: Actor = Actor {
        owner: false,
        staff: false,
    };

    #[test]
    fn the_lifecycle_has_exactly_these_edges() {
        use Action as A;
        use Status as S;
        let legal = [
            (S::Pending, A::Pay, S::Paid),
            (S::Paid, A::Ship, S::Shipped),
            (S::Shipped, A::Deliver, S::Delivered),
            (S::Pending, A::Cancel, S::Cancelled),
            (S::Paid, A::Cancel, S::Cancelled),
            (S::Pending, A::Expire, S::Expired),
        ];
        for from in Status::ALL {
            for action in Action::ALL {
                let want = legal
                    .iter()
                    .find(|(f, a, _)| *f == from && *a == action)
                    .map(|(_, _, to)| *to);
                match (next(from, action), want) {
                    (Ok(to), Some(w)) => assert_eq!(to, w),
                    (Err(e), None) => {
                        assert_eq!(
                            e,
                            IllegalTransition {
                                from,
                                to: action.target()
                            }
                        );
                    }
                    (got, want) => panic!("{from:?} {action:?}: got {got:?}, want {want:?}"),
                }
            }
        }
    }

    #[test]
    fn statuses_parse_and_classify() {
        for s in Status::ALL {
            assert_eq!(s.as_str().parse::<Status>().unwrap(), s);
            assert_eq!(
                s.is_final(),
                Action::ALL.iter().all(|a| next(s, *a).is_err())
            );
        }
        assert!("PAID".parse::<Status>().is_err());
        assert!(Status::Shipped.is_open() && !Status::Delivered.is_open());
        assert!(Status::Delivered.is_revenue() && !Status::Pending.is_revenue());
    }

    #[test]
    fn who_may_do_what() {
        use Action as A;
        use Status as S;
        // Strangers never learn the order exists.
        for action in Action::ALL {
            assert_eq!(
                authorize(STRANGER, S::Pending, action),
                Err(Refusal::Hidden)
            );
        }
        assert!(matches!(
            authorize(CUSTOMER, S::Pending, A::Pay),
            Err(Refusal::Forbidden(_))
        ));
        assert_eq!(authorize(STAFF, S::Pending, A::Pay), Ok(S::Paid));
        assert!(matches!(
            authorize(CUSTOMER, S::Paid, A::Ship),
            Err(Refusal::Forbidden(_))
        ));
        assert_eq!(authorize(STAFF, S::Paid, A::Ship), Ok(S::Shipped));
        assert_eq!(authorize(STAFF, S::Shipped, A::Deliver), Ok(S::Delivered));
        assert_eq!(authorize(CUSTOMER, S::Pending, A::Cancel), Ok(S::Cancelled));
        assert!(matches!(
            authorize(CUSTOMER, S::Paid, A::Cancel),
            Err(Refusal::Forbidden(_))
        ));
        assert_eq!(authorize(STAFF, S::Paid, A::Cancel), Ok(S::Cancelled));
        // Illegal for anyone: 409 before the owner rule.
        assert_eq!(
            authorize(CUSTOMER, S::Shipped, A::Cancel),
            Err(Refusal::Illegal(IllegalTransition {
                from: S::Shipped,
                to: S::Cancelled
            }))
        );
        assert!(matches!(
            authorize(STAFF, S::Delivered, A::Pay),
            Err(Refusal::Illegal(_))
        ));
        assert!(matches!(
            authorize(STAFF, S::Pending, A::Expire),
            Err(Refusal::Forbidden(_))
        ));
    }

    #[test]
    fn effects_follow_the_money_and_the_stock() {
        use Action as A;
        use Status as S;
        assert_eq!(
            effects(S::Pending, A::Pay),
            Effects {
                capture: true,
                ..Effects::default()
            }
        );
        assert_eq!(
            effects(S::Pending, A::Cancel),
            Effects {
                release_stock: true,
                ..Effects::default()
            }
        );
        assert_eq!(
            effects(S::Paid, A::Cancel),
            Effects {
                release_stock: true,
                refund: true,
                ..Effects::default()
            }
        );
        assert!(effects(S::Pending, A::Expire).release_stock);
        assert_eq!(effects(S::Paid, A::Ship), Effects::default());
    }

    fn action() -> impl Strategy<Value = Action> {
        proptest::sample::select(Action::ALL.to_vec())
    }

    proptest! {
        /// Any sequence of attempted actions, applied through the state
        /// machine with their effects: stock is released at most once and
        /// exactly when the order stops holding it; money is captured at
        /// most once, refunded at most once and only after a capture; a
        /// final status never changes.
        #[test]
        fn lifecycle_invariants(actions in proptest::collection::vec(action(), 0..20)) {
            let mut status = Status::Pending;
            let (mut stock_held, mut captured, mut refunded) = (true, false, false);
            let mut visited = vec![status];
            for a in actions {
                match next(status, a) {
                    Ok(to) => {
                        prop_assert!(!status.is_final());
                        let fx = effects(status, a);
                        if fx.release_stock {
                            prop_assert!(stock_held, "released twice");
                            stock_held = false;
                        }
                        if fx.capture {
                            prop_assert!(!captured, "captured twice");
                            captured = true;
                        }
                        if fx.refund {
                            prop_assert!(captured && !refunded, "refund without capture");
                            refunded = true;
                        }
                        status = to;
                        visited.push(status);
                    }
                    Err(e) => {
                        prop_assert_eq!(e.from, status);
                        prop_assert_eq!(e.to, a.target());
                    }
                }
                prop_assert_eq!(stock_held, status.holds_stock());
                prop_assert_eq!(refunded, status == Status::Cancelled && captured);
                prop_assert_eq!(captured && !refunded, status.is_revenue());
            }
            // Statuses only move forward: no status is visited twice.
            let mut seen = visited.clone();
            seen.sort();
            seen.dedup();
            prop_assert_eq!(seen.len(), visited.len());
        }
    }
}

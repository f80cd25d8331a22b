//! The work-order state machine and the cost of what it produces.
//!
//! ```text
//! planned ──release──► released ──start──► started ──complete──► completed
//!    │                    │                   │
//!    └──────cancel────────┴───────cancel──────┴──────────────► cancelled
//! ```
//!
//! Release reserves the components; start is the shop floor picking them
//! up; complete consumes them and books the output; cancel (before
//! completion) gives the reservations back. `completed` and `cancelled`
//! are final. Every other move is an illegal transition (409).

use std::{fmt, str::FromStr};

use marimo_platform::money::mul_div_round;

use super::qty;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Status {
    Planned,
    Released,
    Started,
    Completed,
    Cancelled,
}

impl Status {
    pub const ALL: [Status; 5] = [
        Status::Planned,
        Status::Released,
        Status::Started,
        Status::Completed,
        Status::Cancelled,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Status::Planned => "planned",
            Status::Released => "released",
            Status::Started => "started",
            Status::Completed => "completed",
            Status::Cancelled => "cancelled",
        }
    }

    /// Whether components are reserved for the order in this state.
    pub fn holds_reservations(self) -> bool {
        matches!(self, Status::Released | Status::Started)
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
        Status::ALL
            .into_iter()
            .find(|st| st.as_str() == s)
            .ok_or_else(|| {
                let names: Vec<_> = Status::ALL.iter().map(|s| s.as_str()).collect();
                format!("unknown status '{s}'; one of: {}", names.join(", "))
            })
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    Release,
    Start,
    Complete,
    Cancel,
}

impl Action {
    pub const ALL: [Action; 4] = [
        Action::Release,
        Action::Start,
        Action::Complete,
        Action::Cancel,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Action::Release => "release",
            Action::Start => "start",
            Action::Complete => "complete",
            Action::Cancel => "cancel",
        }
    }
}

/// An action the order's state does not allow.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("a {from} work order cannot {}", action.as_str())]
pub struct InvalidTransition {
    pub from: Status,
    pub action: Action,
}

/// The state `action` leads to from `from`, if it is allowed.
pub fn transition(from: Status, action: Action) -> Result<Status, InvalidTransition> {
    use Action as A;
    use Status as S;
    match (from, action) {
        (S::Planned, A::Release) => Ok(S::Released),
        (S::Released, A::Start) => Ok(S::Started),
        (S::Started, A::Complete) => Ok(S::Completed),
        (S::Planned | S::Released | S::Started, A::Cancel) => Ok(S::Cancelled),
        _ => Err(InvalidTransition { from, action }),
    }
}

/// The unit cost of an output: the total value consumed spread over the
/// produced quantity (minor units per unit, half away from zero). The
/// output is booked at the **total** value, so consumed value equals
/// produced value exactly; this unit cost is the rounded view of it.
pub fn rolled_up_unit_cost(total_value: i64, produced: i64) -> i64 {
    if produced <= 0 {
        return 0;
    }
    mul_div_round(total_value, qty::ONE, produced).unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_legal_transitions_and_only_those() {
        use Action as A;
        use Status as S;
        let legal = [
            (S::Planned, A::Release, S::Released),
            (S::Released, A::Start, S::Started),
            (S::Started, A::Complete, S::Completed),
            (S::Planned, A::Cancel, S::Cancelled),
            (S::Released, A::Cancel, S::Cancelled),
            (S::Started, A::Cancel, S::Cancelled),
        ];
        for from in Status::ALL {
            for action in Action::ALL {
                let want = legal
                    .iter()
                    .find(|(f, a, _)| *f == from && *a == action)
                    .map(|(_, _, to)| *to);
                match (transition(from, action), want) {
                    (Ok(to), Some(w)) => assert_eq!(to, w),
                    (Err(e), None) => {
                        assert_eq!((e.from, e.action), (from, action));
                    }
                    (got, want) => panic!("{from} {action:?}: got {got:?}, want {want:?}"),
                }
            }
        }
        for s in [S::Completed, S::Cancelled] {
            assert!(Action::ALL.iter().all(|a| transition(s, *a).is_err()));
        }
    }

    #[test]
    fn statuses_round_trip() {
        for s in Status::ALL {
            assert_eq!(s.as_str().parse::<Status>(), Ok(s));
        }
        assert!("done".parse::<Status>().is_err());
        assert!(Status::Released.holds_reservations());
        assert!(!Status::Planned.holds_reservations());
    }

    #[test]
    fn unit_cost_of_the_output() {
        assert_eq!(rolled_up_unit_cost(1000, 3000), 333);
        assert_eq!(rolled_up_unit_cost(1000, 1500), 667);
        assert_eq!(rolled_up_unit_cost(5, 0), 0);
    }
}

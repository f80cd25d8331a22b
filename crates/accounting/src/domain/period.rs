//! Periods: monthly, `open` → `closed` (reopenable) → `locked` (final).
//! Only an open period accepts postings.

use std::{fmt, str::FromStr};

use serde::Serialize;
use serde_json::json;

use super::{Rejection, RejectionKind, calendar::Period};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum PeriodStatus {
    Open,
    Closed,
    Locked,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PeriodAction {
    Close,
    Reopen,
    Lock,
}

impl PeriodStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Open => "open",
            Self::Closed => "closed",
            Self::Locked => "locked",
        }
    }

    pub fn accepts_postings(self) -> bool {
        self == Self::Open
    }
}

impl fmt::Display for PeriodStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for PeriodStatus {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "open" => Ok(Self::Open),
            "closed" => Ok(Self::Closed),
            "locked" => Ok(Self::Locked),
            other => Err(format!("unknown period status '{other}'")),
        }
    }
}

impl PeriodAction {
    fn past(self) -> &'static str {
        match self {
            Self::Close => "closed",
            Self::Reopen => "reopened",
            Self::Lock => "locked",
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Close => "close",
            Self::Reopen => "reopen",
            Self::Lock => "lock",
        }
    }
}

/// The status after `action`. Repeating an action is a no-op (the same
/// status comes back); a locked period never changes again.
pub fn transition(
    period: Period,
    current: PeriodStatus,
    action: PeriodAction,
) -> Result<PeriodStatus, Rejection> {
    use PeriodAction as A;
    use PeriodStatus as S;
    match (current, action) {
        (S::Locked, A::Lock) => Ok(S::Locked),
        (S::Locked, _) => Err(Rejection::new(
            RejectionKind::Conflict,
            "PERIOD_LOCKED",
            format!(
                "period {period} is locked; it can no longer be {}",
                action.past()
            ),
        )
        .with_details(json!({ "period": period.to_string(), "status": "locked" }))),
        (_, A::Close) => Ok(S::Closed),
        (_, A::Reopen) => Ok(S::Open),
        (_, A::Lock) => Ok(S::Locked),
    }
}

/// The rejection of a posting dated in a period that is not open.
pub fn closed(period: Period, status: PeriodStatus) -> Rejection {
    Rejection::new(
        RejectionKind::Conflict,
        "PERIOD_CLOSED",
        format!("period {period} is {status}; post into an open period"),
    )
    .with_details(json!({ "period": period.to_string(), "status": status.as_str() }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_state_machine() {
        use PeriodAction as A;
        use PeriodStatus as S;
        let p = Period::parse("2026-01").unwrap();
        assert_eq!(transition(p, S::Open, A::Close), Ok(S::Closed));
        assert_eq!(transition(p, S::Closed, A::Close), Ok(S::Closed));
        assert_eq!(transition(p, S::Closed, A::Reopen), Ok(S::Open));
        assert_eq!(transition(p, S::Open, A::Reopen), Ok(S::Open));
        assert_eq!(transition(p, S::Open, A::Lock), Ok(S::Locked));
        assert_eq!(transition(p, S::Closed, A::Lock), Ok(S::Locked));
        assert_eq!(transition(p, S::Locked, A::Lock), Ok(S::Locked));
        let err = transition(p, S::Locked, A::Reopen).unwrap_err();
        assert_eq!(
            (err.kind, err.code),
            (RejectionKind::Conflict, "PERIOD_LOCKED")
        );
        assert!(err.message.contains("reopened"), "{}", err.message);
        assert!(transition(p, S::Locked, A::Close).is_err());
        assert!(S::Open.accepts_postings());
        assert!(!S::Closed.accepts_postings() && !S::Locked.accepts_postings());
        assert_eq!(closed(p, S::Locked).code, "PERIOD_CLOSED");
    }
}

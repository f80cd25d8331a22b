//! The users service's own metrics.
//!
//! - `auth_attempts_total{result}`: sign-in attempts (`POST /login`) by
//!   outcome: `success`, `failure` (unknown email or wrong password),
//!   `locked` (refused by the brute-force delay, 429) or `inactive` (right
//!   password, deactivated account).
//! - `tokens_issued_total{token_type}`: `access` and `refresh` tokens
//!   handed out (sign-in, refresh, password change).
//! - `active_users_total`: users with a live session — a refresh token that
//!   is unused, unexpired and in a family that is not revoked — read from
//!   the database at every scrape. A signed-in user who stays away keeps
//!   counting until the refresh token expires or they sign out.

use marimo_platform::{clock, db::Db, telemetry::Metrics};

use crate::store;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Attempt {
    Success,
    Failure,
    Locked,
    Inactive,
}

impl Attempt {
    fn as_str(self) -> &'static str {
        match self {
            Self::Success => "success",
            Self::Failure => "failure",
            Self::Locked => "locked",
            Self::Inactive => "inactive",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum TokenType {
    Access,
    Refresh,
}

pub(crate) fn count_attempt(m: &Metrics, attempt: Attempt) {
    m.record(|| {
        metrics::counter!("auth_attempts_total", "service" => m.service(), "result" => attempt.as_str())
            .increment(1);
    });
}

pub(crate) fn count_token(m: &Metrics, kind: TokenType) {
    let token_type = match kind {
        TokenType::Access => "access",
        TokenType::Refresh => "refresh",
    };
    m.record(|| {
        metrics::counter!("tokens_issued_total", "service" => m.service(), "token_type" => token_type)
            .increment(1);
    });
}

/// Sets `active_users_total` at every scrape.
pub(crate) fn collect_active_users(m: &Metrics, db: &Db) {
    let db = db.downgrade();
    m.add_collector(move |m| {
        let db = db.upgrade();
        async move {
            let Some(db) = db else { return };
            match store::active_users(db.pool(), &clock::now_text()).await {
                Ok(n) => m.record(|| {
                    metrics::gauge!("active_users_total", "service" => m.service()).set(n as f64)
                }),
                Err(e) => tracing::debug!(error = %e, "active users not counted"),
            }
        }
    });
}

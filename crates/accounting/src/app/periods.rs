//! Closing, reopening and locking periods.

use marimo_platform::tenant::TenantId;

use crate::{
    domain::{
        calendar::Period,
        period::{self, PeriodAction, PeriodStatus},
    },
    error::LedgerResult,
    store::periods as store,
};

use super::Ledger;

/// A period's status before and after an action.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Change {
    pub from: PeriodStatus,
    pub to: PeriodStatus,
}

impl Ledger {
    /// Applies `action` to `p`. On PostgreSQL the period row is locked
    /// first, so the change waits for postings in flight into that period
    /// (they hold the row) and postings after it see the new status.
    pub async fn change_period(
        &self,
        t: &TenantId,
        p: Period,
        action: PeriodAction,
        actor: &str,
    ) -> LedgerResult<Change> {
        let now = marimo_platform::clock::now_text();
        let mut tx = self.db.tenant(t).begin().await?;
        let from = store::lock_for_change(&mut tx, t, p, &now).await?;
        let to = period::transition(p, from, action)?;
        if to != from {
            store::set_status(&mut tx, t, p, action, from, to, actor, &now).await?;
        }
        tx.commit().await?;
        Ok(Change { from, to })
    }

    /// Tenant `t`'s periods with a row, newest first; `year` filters.
    pub async fn periods(
        &self,
        t: &TenantId,
        year: Option<i32>,
    ) -> LedgerResult<Vec<store::PeriodRecord>> {
        let mut tx = self.db.tenant(t).read().await?;
        let list = store::list(&mut tx, t, year).await?;
        tx.rollback().await?;
        Ok(list)
    }
}

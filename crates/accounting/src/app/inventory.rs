//! Perpetual inventory's use cases: the tenant's inventory-account
//! mapping (read, replaced under the chart's rules) and the reconciliation
//! of the inventory accounts with the factory's valuation, read from the
//! factory through the platform's [`ServiceClient`] (discovery, a breaker
//! per instance, a per-call timeout), as the main service reads the
//! others, with the caller's token.

use std::{collections::HashMap, sync::Arc, time::Duration};

use marimo_platform::{
    client::{CallError, ServiceClient},
    clock,
    discovery::Discovery,
    http::edge::EdgeKey,
    resilience::BreakerConfig,
    service::ServiceName,
    tenant::TenantId,
};
use serde_json::Value;
use time::Date;

use super::Ledger;
use crate::{
    domain::{
        accounts::AccountType,
        calendar::format_date,
        inventory::{self, Mapping, Reconciled},
    },
    error::{LedgerError, LedgerResult},
    store::{accounts, inventory as store, reports},
};

/// The factory's valuation endpoint.
const VALUATION: &str = "/api/v1/factory/valuation";

/// The one client of the factory.
pub struct Factory {
    client: ServiceClient,
}

impl Factory {
    /// `timeout` bounds each call; `edge` signs calls for a factory that
    /// answers the gateway only.
    pub fn new(
        discovery: Arc<dyn Discovery>,
        timeout: Duration,
        breaker: BreakerConfig,
        edge: Option<EdgeKey>,
    ) -> Result<Self, reqwest::Error> {
        Ok(Self {
            client: ServiceClient::new(ServiceName::Factory, discovery, timeout, breaker)?
                .with_edge(edge),
        })
    }

    /// The factory's valuation at the end of `as_of`, asked with the
    /// caller's `token` (whose tenant the factory answers for). Anything
    /// but a readable 200 is "unavailable", with the reason.
    async fn valuation(&self, as_of: Date, token: &str) -> LedgerResult<Value> {
        let path = format!("{VALUATION}?as_of={}", format_date(as_of));
        let res = self.client.get(&path, Some(token)).await.map_err(
            |CallError::Unavailable { reason, .. }| {
                LedgerError::Unavailable(format!("the factory's valuation: {reason}"))
            },
        )?;
        let status = res.status();
        if !status.is_success() {
            return Err(LedgerError::Unavailable(format!(
                "the factory's valuation answered {status}"
            )));
        }
        res.json::<Value>()
            .await
            .map_err(|_| LedgerError::Unavailable("the factory's valuation is unreadable".into()))
    }
}

/// The reconciliation at the end of a day.
#[derive(Debug, Clone)]
pub struct Reconciliation {
    pub as_of: Date,
    /// Per inventory account, by code, with its name.
    pub accounts: Vec<(Reconciled, String)>,
}

impl Reconciliation {
    /// The books tie out: every difference is zero.
    pub fn ok(&self) -> bool {
        self.accounts.iter().all(|(r, _)| r.difference == 0)
    }
}

impl Ledger {
    /// Tenant `t`'s inventory-account mapping.
    pub async fn inventory_accounts(&self, t: &TenantId) -> LedgerResult<Mapping> {
        let mut tx = self.db.tenant(t).read().await?;
        let m = store::mapping(&mut tx, t).await?;
        tx.rollback().await?;
        Ok(m)
    }

    /// Replaces tenant `t`'s mapping: every account exists, is active and
    /// has its role's type, or nothing changes.
    pub async fn set_inventory_accounts(&self, t: &TenantId, m: &Mapping) -> LedgerResult<Mapping> {
        let mut tx = self.db.tenant(t).begin().await?;
        let chart: HashMap<String, (AccountType, bool)> = accounts::list(&mut tx, t)
            .await?
            .into_iter()
            .map(|r| (r.account.code, (r.account.account_type, r.account.active)))
            .collect();
        m.check_accounts(|c| chart.get(c).copied())?;
        let types = |c: &str| chart.get(c).map(|(t, _)| t.as_str());
        store::replace(&mut tx, t, m, types, &clock::now_text()).await?;
        let saved = store::mapping(&mut tx, t).await?;
        tx.commit().await?;
        Ok(saved)
    }

    /// The inventory accounts' balances at the end of `as_of` against the
    /// factory's valuation of the (category, warehouse) mapped to each.
    pub async fn inventory_reconciliation(
        &self,
        t: &TenantId,
        as_of: Date,
        factory: &Factory,
        token: &str,
    ) -> LedgerResult<Reconciliation> {
        let currency = self.currency(t).await?;
        let body = factory.valuation(as_of, token).await?;
        let valuation = inventory::parse_valuation(&body, &currency)
            .map_err(|why| LedgerError::Unavailable(format!("the factory's valuation: {why}")))?;
        let mut tx = self.db.tenant(t).snapshot().await?;
        let map = store::mapping(&mut tx, t).await?;
        let totals = reports::totals(&mut tx, t, None, as_of).await?;
        tx.commit().await?;
        let by_code: HashMap<&str, (i64, &str)> = totals
            .iter()
            .map(|a| (a.code.as_str(), (a.debit - a.credit, a.name.as_str())))
            .collect();
        let rows =
            inventory::reconcile(&map, |a| by_code.get(a).map_or(0, |(b, _)| *b), &valuation)?;
        let accounts = rows
            .into_iter()
            .map(|r| {
                let name = by_code
                    .get(r.account.as_str())
                    .map(|(_, n)| (*n).to_owned())
                    .unwrap_or_default();
                (r, name)
            })
            .collect();
        Ok(Reconciliation { as_of, accounts })
    }
}

//! Pure rules of the main service: which modules a role may open, and how
//! the dashboard's and statistics' figures are composed from the
//! services' summaries (their contract types, `marimo_contracts`). No
//! I/O; unit-tested below.

use std::{collections::HashMap, sync::Arc};

use marimo_contracts::{
    accounting,
    dashboard::{Kpis, Stats},
    factory, shop, users,
    values::{Currency, Money},
};
use marimo_platform::{auth::Role, service::ServiceName};
use serde::de::DeserializeOwned;
use serde_json::Value;

/// The services whose summaries the dashboard is composed of, in the
/// order `degraded` lists them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Upstream {
    Users,
    Accounting,
    Shop,
    Factory,
}

impl Upstream {
    pub const ALL: [Upstream; 4] = [Self::Users, Self::Accounting, Self::Shop, Self::Factory];

    pub fn service(self) -> ServiceName {
        match self {
            Self::Users => ServiceName::Users,
            Self::Accounting => ServiceName::Accounting,
            Self::Shop => ServiceName::Shop,
            Self::Factory => ServiceName::Factory,
        }
    }

    pub fn as_str(self) -> &'static str {
        self.service().as_str()
    }
}

/// What one service said.
#[derive(Debug, Clone)]
pub enum Answer {
    /// Its summary (a 2xx JSON body).
    Figures(Arc<Value>),
    /// 401/403: the caller may not read it. Not an outage: the figures
    /// are simply not shown.
    Denied,
    /// Down, slow, 5xx or an unreadable answer: the dashboard is degraded.
    Unavailable(String),
}

/// A module of the web UI.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Module {
    pub key: &'static str,
    pub name: &'static str,
    pub path: &'static str,
}

const fn module(key: &'static str, name: &'static str, path: &'static str) -> Module {
    Module { key, name, path }
}

pub const DASHBOARD: Module = module("dashboard", "Dashboard", "/dashboard");
pub const USERS: Module = module("users", "Users", "/users");
pub const CONFIG: Module = module("config", "Configuration", "/config");
pub const ACCOUNTING: Module = module("accounting", "Accounting", "/accounting");
pub const FACTORY: Module = module("factory", "Factory", "/factory");
pub const SHOP: Module = module("shop", "Shop", "/shop");
pub const ORDERS: Module = module("orders", "My orders", "/orders");

/// The modules `role` may open (the services check again on every call).
pub fn modules_for(role: Role) -> &'static [Module] {
    match role {
        Role::Admin => &[DASHBOARD, USERS, CONFIG, ACCOUNTING, FACTORY, SHOP, ORDERS],
        Role::Manager => &[DASHBOARD, FACTORY],
        Role::Accountant => &[ACCOUNTING],
        Role::ShopManager => &[SHOP],
        Role::User => &[SHOP, ORDERS],
    }
}

/// The services' answers, sorted into what is known and what is degraded.
#[derive(Debug, Default)]
pub struct Known {
    users: Option<users::Summary>,
    accounting: Option<accounting::Summary>,
    shop: Option<shop::Summary>,
    factory: Option<factory::Summary>,
    /// Services that were down, slow or failing, in [`Upstream::ALL`] order.
    pub degraded: Vec<&'static str>,
}

/// A summary as its contract type; an answer that does not read as one
/// is as good as none.
fn read<T: DeserializeOwned>(u: Upstream, v: &Value) -> Option<T> {
    serde_json::from_value(v.clone())
        .inspect_err(|e| tracing::warn!(upstream = u.as_str(), error = %e, "summary unreadable"))
        .ok()
}

impl Known {
    pub fn from_answers(answers: &HashMap<Upstream, Answer>) -> Self {
        let mut known = Known::default();
        for u in Upstream::ALL {
            let read = match answers.get(&u) {
                Some(Answer::Figures(v)) => match u {
                    Upstream::Users => read(u, v).map(|s| known.users = Some(s)),
                    Upstream::Accounting => read(u, v).map(|s| known.accounting = Some(s)),
                    Upstream::Shop => read(u, v).map(|s| known.shop = Some(s)),
                    Upstream::Factory => read(u, v).map(|s| known.factory = Some(s)),
                },
                Some(Answer::Denied) => Some(()),
                Some(Answer::Unavailable(_)) | None => None,
            };
            if read.is_none() {
                known.degraded.push(u.as_str());
            }
        }
        known
    }

    /// The ledger's currency, when accounting named one.
    fn ledger_currency(&self) -> Option<Currency> {
        self.accounting
            .as_ref()
            .map(|a| a.currency.clone())
            .filter(|c| !c.is_empty())
    }

    /// The dashboard's key figures.
    pub fn kpis(&self) -> Kpis {
        let acc = self.accounting.as_ref();
        let shop = self.shop.as_ref();
        let factory = self.factory.as_ref();
        Kpis {
            revenue_today: acc.map(|a| a.revenue_today.clone()),
            revenue_month: acc.map(|a| a.revenue_month.clone()),
            currency: self.ledger_currency(),
            open_orders: shop.map(|s| s.open_orders),
            pending_orders: shop.map(|s| s.pending_orders),
            work_orders_in_progress: factory.map(|f| f.in_progress),
            low_stock_items: factory.map(|f| i64::try_from(f.low_stock.len()).unwrap_or(i64::MAX)),
            users_total: self.users.as_ref().map(|u| u.total_users),
        }
    }

    /// The original `stats` figures. `total_revenue` is the shop's paid
    /// revenue in the ledger's currency when accounting told us which,
    /// else in the shop's only (or alphabetically first) currency.
    pub fn stats(&self) -> Stats {
        let shop = self.shop.as_ref();
        let (currency, total_revenue) = match shop {
            Some(s) => {
                let ledger = self.ledger_currency();
                let chosen = ledger
                    .clone()
                    .filter(|c| s.revenue.contains_key(c))
                    // Keys are ordered: the first is the alphabetical first.
                    .or_else(|| s.revenue.keys().next().cloned());
                match chosen {
                    Some(c) => {
                        let amount = s.revenue.get(&c).cloned();
                        (Some(c), amount)
                    }
                    // Nothing sold yet.
                    None => (ledger, Some(Money::from_minor(0, 2))),
                }
            }
            None => (None, None),
        };
        Stats {
            total_users: self.users.as_ref().map(|u| u.total_users),
            total_orders: shop.map(|s| s.total_orders),
            total_revenue,
            currency,
            revenue_by_currency: shop.map(|s| s.revenue.clone()),
            active_products: shop.map(|s| s.active_products),
        }
    }
}

#[cfg(test)]
mod tests {
    use serde::Serialize;
    use serde_json::json;

    use super::*;

    fn answers(list: Vec<(Upstream, Answer)>) -> HashMap<Upstream, Answer> {
        list.into_iter().collect()
    }

    /// The figures as main answers them.
    fn wire(figures: impl Serialize) -> Value {
        serde_json::to_value(figures).unwrap()
    }

    #[test]
    fn modules_per_role() {
        let keys = |r| modules_for(r).iter().map(|m| m.key).collect::<Vec<_>>();
        assert_eq!(keys(Role::Admin).len(), 7);
        assert_eq!(keys(Role::Manager), ["dashboard", "factory"]);
        assert_eq!(keys(Role::Accountant), ["accounting"]);
        assert_eq!(keys(Role::ShopManager), ["shop"]);
        assert_eq!(keys(Role::User), ["shop", "orders"]);
    }

    #[test]
    fn denied_is_not_degraded_and_missing_is() {
        let k = Known::from_answers(&answers(vec![
            (Upstream::Users, Answer::Denied),
            (Upstream::Shop, Answer::Unavailable("x".into())),
            (
                Upstream::Factory,
                Answer::Figures(Arc::new(
                    json!({"in_progress": 2, "low_stock": [{}, {}, {}]}),
                )),
            ),
        ]));
        assert_eq!(k.degraded, ["accounting", "shop"]);
        let kpis = wire(k.kpis());
        assert_eq!(kpis["work_orders_in_progress"], 2);
        assert_eq!(kpis["low_stock_items"], 3);
        assert!(kpis["users_total"].is_null());
        assert!(wire(k.stats())["total_revenue"].is_null());
    }

    #[test]
    fn a_summary_that_breaks_its_contract_is_degraded() {
        let k = Known::from_answers(&answers(vec![
            (
                Upstream::Users,
                Answer::Figures(Arc::new(json!({"total_users": "many"}))),
            ),
            (Upstream::Accounting, Answer::Denied),
            (Upstream::Shop, Answer::Denied),
            (Upstream::Factory, Answer::Denied),
        ]));
        assert_eq!(k.degraded, ["users"]);
        assert!(wire(k.kpis())["users_total"].is_null());
    }

    #[test]
    fn revenue_in_the_ledger_currency() {
        let k = Known::from_answers(&answers(vec![
            (
                Upstream::Accounting,
                Answer::Figures(Arc::new(json!({"currency": "EUR"}))),
            ),
            (
                Upstream::Shop,
                Answer::Figures(Arc::new(json!({"revenue": {"USD": "1.00", "EUR": "2.50"}}))),
            ),
        ]));
        assert_eq!(wire(k.stats())["total_revenue"], "2.50");
        assert_eq!(wire(k.stats())["currency"], "EUR");
        let k = Known::from_answers(&answers(vec![(
            Upstream::Shop,
            Answer::Figures(Arc::new(json!({"revenue": {"USD": "1.00", "EUR": "2.50"}}))),
        )]));
        assert_eq!(
            wire(k.stats())["total_revenue"],
            "2.50",
            "alphabetically first: EUR"
        );
        let k = Known::from_answers(&answers(vec![(
            Upstream::Shop,
            Answer::Figures(Arc::new(json!({"revenue": {}}))),
        )]));
        assert_eq!(wire(k.stats())["total_revenue"], "0.00");
    }
}

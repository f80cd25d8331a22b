//! Pure rules of the main service: which modules a role may open, and how
//! the dashboard's and statistics' figures are composed from the
//! services' summaries. No I/O; unit-tested below.

use std::{collections::HashMap, sync::Arc};

use marimo_platform::{auth::Role, service::ServiceName};
use serde_json::{Value, json};

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
    figures: HashMap<Upstream, Arc<Value>>,
    /// Services that were down, slow or failing, in [`Upstream::ALL`] order.
    pub degraded: Vec<&'static str>,
}

impl Known {
    pub fn from_answers(answers: &HashMap<Upstream, Answer>) -> Self {
        let mut known = Known::default();
        for u in Upstream::ALL {
            match answers.get(&u) {
                Some(Answer::Figures(v)) => {
                    known.figures.insert(u, v.clone());
                }
                Some(Answer::Denied) => {}
                Some(Answer::Unavailable(_)) | None => known.degraded.push(u.as_str()),
            }
        }
        known
    }

    /// A field of a service's summary, null when unknown.
    fn field(&self, u: Upstream, name: &str) -> Value {
        self.figures
            .get(&u)
            .and_then(|v| v.get(name))
            .cloned()
            .unwrap_or(Value::Null)
    }

    /// The dashboard's key figures.
    pub fn kpis(&self) -> Value {
        let low_stock = match self.field(Upstream::Factory, "low_stock") {
            Value::Array(items) => json!(items.len()),
            _ => Value::Null,
        };
        json!({
            "revenue_today": self.field(Upstream::Accounting, "revenue_today"),
            "revenue_month": self.field(Upstream::Accounting, "revenue_month"),
            "currency": self.field(Upstream::Accounting, "currency"),
            "open_orders": self.field(Upstream::Shop, "open_orders"),
            "pending_orders": self.field(Upstream::Shop, "pending_orders"),
            "work_orders_in_progress": self.field(Upstream::Factory, "in_progress"),
            "low_stock_items": low_stock,
            "users_total": self.field(Upstream::Users, "total_users"),
        })
    }

    /// The original `stats` figures. `total_revenue` is the shop's paid
    /// revenue in the ledger's currency when accounting told us which,
    /// else in the shop's only (or alphabetically first) currency.
    pub fn stats(&self) -> Value {
        let (currency, total_revenue) = match self.field(Upstream::Shop, "revenue") {
            Value::Object(by_currency) => {
                let ledger = self.field(Upstream::Accounting, "currency");
                let chosen = ledger
                    .as_str()
                    .filter(|c| by_currency.contains_key(*c))
                    .map(str::to_owned)
                    .or_else(|| {
                        let mut keys: Vec<&String> = by_currency.keys().collect();
                        keys.sort();
                        keys.first().map(|k| (*k).clone())
                    });
                match chosen {
                    Some(c) => {
                        let amount = by_currency.get(&c).cloned().unwrap_or(Value::Null);
                        (json!(c), amount)
                    }
                    // Nothing sold yet.
                    None => (ledger, json!("0.00")),
                }
            }
            _ => (Value::Null, Value::Null),
        };
        json!({
            "total_users": self.field(Upstream::Users, "total_users"),
            "total_orders": self.field(Upstream::Shop, "total_orders"),
            "total_revenue": total_revenue,
            "currency": currency,
            "revenue_by_currency": self.field(Upstream::Shop, "revenue"),
            "active_products": self.field(Upstream::Shop, "active_products"),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn answers(list: Vec<(Upstream, Answer)>) -> HashMap<Upstream, Answer> {
        list.into_iter().collect()
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
        let kpis = k.kpis();
        assert_eq!(kpis["work_orders_in_progress"], 2);
        assert_eq!(kpis["low_stock_items"], 3);
        assert!(kpis["users_total"].is_null());
        assert!(k.stats()["total_revenue"].is_null());
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
        assert_eq!(k.stats()["total_revenue"], "2.50");
        assert_eq!(k.stats()["currency"], "EUR");
        let k = Known::from_answers(&answers(vec![(
            Upstream::Shop,
            Answer::Figures(Arc::new(json!({"revenue": {"USD": "1.00", "EUR": "2.50"}}))),
        )]));
        assert_eq!(
            k.stats()["total_revenue"],
            "2.50",
            "alphabetically first: EUR"
        );
        let k = Known::from_answers(&answers(vec![(
            Upstream::Shop,
            Answer::Figures(Arc::new(json!({"revenue": {}}))),
        )]));
        assert_eq!(k.stats()["total_revenue"], "0.00");
    }
}

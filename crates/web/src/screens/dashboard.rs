//! `/`: the KPIs from main, and three charts drawn as SVG: revenue per
//! day over the last 30 days (accounting's summary), orders by status
//! (shop's) and items below their reorder point (factory's). A service
//! that does not answer is marked degraded; the rest of the page stands.

use askama::Template;
use axum::extract::Query;
use marimo_contracts::{Success, accounting, dashboard::Dashboard, factory, shop};
use serde::{Deserialize, de::DeserializeOwned};
use serde_json::Value;

use crate::{
    access::Area,
    api::ApiFail,
    charts::{self, Bar},
    format,
    page::{Chrome, PageResult, Session, WebError, flash, render},
};

pub struct Kpi {
    pub key: &'static str,
    pub label: String,
    pub value: String,
}

#[derive(Template)]
#[template(path = "dashboard.html")]
struct DashboardPage {
    p: Chrome,
    welcome: String,
    flash: Option<String>,
    kpis: Vec<Kpi>,
    degraded: Vec<String>,
    revenue_chart: Option<String>,
    revenue_total: String,
    orders_chart: Option<String>,
    stock_chart: Option<String>,
    low_stock_none: bool,
}

#[derive(Deserialize)]
pub struct DoneQuery {
    done: Option<String>,
}

/// A summary a role may not read is simply absent; one that fails, or
/// does not read as its contract type, is degraded.
fn optional<T: DeserializeOwned>(
    answer: Result<Value, ApiFail>,
    service: &str,
    degraded: &mut Vec<String>,
) -> Option<T> {
    let read = match answer {
        Ok(v) => serde_json::from_value(v).ok(),
        Err(f) if f.status.as_u16() == 403 => return None,
        Err(_) => None,
    };
    if read.is_none() && !degraded.iter().any(|d| d == service) {
        degraded.push(service.to_owned());
    }
    read
}

pub async fn show(s: Session, Query(q): Query<DoneQuery>) -> PageResult {
    let user = s.require(Area::Dashboard)?.clone();
    let tr = s.tr();
    let lang = s.lang;
    let staff = crate::access::reads_summaries(user.role);
    let main = s.api.get("/api/main/dashboard").await;
    let main = match main {
        Ok(v) => v,
        Err(f) if f.status.as_u16() == 401 => return Err(WebError::SignIn(s.here.clone())),
        Err(f) => return Err(WebError::Unavailable(f.message)),
    };
    let Success { body: main, .. } = serde_json::from_value::<Success<Dashboard>>(main)
        .map_err(|e| WebError::Unavailable(format!("unreadable dashboard: {e}")))?;
    let mut degraded = main.degraded;
    let (acc, shop, factory) = if staff {
        tokio::join!(
            s.api.get("/api/accounting/summary"),
            s.api.get("/api/shop/summary"),
            s.api.get("/api/factory/summary"),
        )
    } else {
        let none = || Err(ApiFail::forbidden());
        (none(), none(), none())
    };
    let acc: Option<accounting::Summary> = optional(acc, "accounting", &mut degraded);
    let shop: Option<shop::Summary> = optional(shop, "shop", &mut degraded);
    let factory: Option<factory::Summary> = optional(factory, "factory", &mut degraded);

    let k = &main.kpis;
    let currency = k.currency.as_ref().map_or("USD", |c| c.as_str()).to_owned();
    let mut kpis = Vec::new();
    let mut add = |key: &'static str, value: String| {
        kpis.push(Kpi {
            key,
            label: tr.t(&format!("dashboard.kpi.{key}")).to_owned(),
            value,
        })
    };
    let money = |v: &Option<marimo_contracts::values::Money>| {
        v.as_ref()
            .map(|a| format::money(a.as_str(), &currency, lang))
    };
    let count = |v: Option<i64>| v.map(|n| format::number(&n.to_string(), lang));
    for (key, value) in [
        ("revenue_today", money(&k.revenue_today)),
        ("revenue_month", money(&k.revenue_month)),
        ("open_orders", count(k.open_orders)),
        ("pending_orders", count(k.pending_orders)),
        ("work_orders_in_progress", count(k.work_orders_in_progress)),
        ("low_stock_items", count(k.low_stock_items)),
        ("users_total", count(k.users_total)),
    ] {
        if let Some(v) = value {
            add(key, v);
        }
    }

    let acc_currency = a_currency(acc.as_ref(), &currency);
    let revenue_chart = acc.as_ref().map(|a| {
        let bars: Vec<Bar> = a
            .revenue_by_day
            .iter()
            .map(|d| {
                let amount = d.amount.as_str();
                Bar {
                    label: format::day_label(&d.date, lang),
                    value: format::hundredths(amount),
                    text: format::money(amount, &acc_currency, lang),
                }
            })
            .collect();
        charts::columns("chart-revenue", tr.t("dashboard.chart.revenue"), &bars, 7)
    });
    let revenue_total = acc
        .as_ref()
        .map(|a| format::money(a.revenue_month.as_str(), &acc_currency, lang))
        .unwrap_or_default();
    let orders_chart = shop.as_ref().map(|v| {
        // In the order of the lifecycle, not of the alphabet.
        let bars: Vec<Bar> = super::orders::STATUSES
            .iter()
            .map(|status| {
                let n = v.orders_by_status.get(*status).copied().unwrap_or(0);
                Bar {
                    label: status_label(&tr, status),
                    value: n,
                    text: format::number(&n.to_string(), lang),
                }
            })
            .collect();
        charts::rows("chart-orders", tr.t("dashboard.chart.orders"), &bars)
    });
    let low: &[factory::LowStockItem] = factory.as_ref().map_or(&[], |f| &f.low_stock);
    let low_stock_none = factory.is_some() && low.is_empty();
    let stock_chart = (!low.is_empty()).then(|| {
        let bars: Vec<Bar> = low
            .iter()
            .map(|l| {
                let on_hand = l.on_hand.as_str();
                Bar {
                    label: format!("{} ({})", l.name, l.sku),
                    value: format::hundredths(on_hand),
                    text: tr.f(
                        "dashboard.chart.stock_of",
                        &[
                            ("on_hand", &format::quantity(on_hand, lang)),
                            ("reorder", &format::quantity(l.reorder_point.as_str(), lang)),
                        ],
                    ),
                }
            })
            .collect();
        charts::rows("chart-stock", tr.t("dashboard.chart.stock"), &bars)
    });

    Ok(render(&DashboardPage {
        welcome: tr.f("dashboard.welcome", &[("email", &user.email)]),
        flash: flash(&tr, q.done.as_deref()),
        p: s.chrome("nav.dashboard").await,
        kpis,
        degraded,
        revenue_chart,
        revenue_total,
        orders_chart,
        stock_chart,
        low_stock_none,
    }))
}

/// Accounting's currency, else the dashboard's.
fn a_currency(acc: Option<&accounting::Summary>, fallback: &str) -> String {
    acc.map(|a| a.currency.as_str())
        .filter(|c| !c.is_empty())
        .unwrap_or(fallback)
        .to_owned()
}

pub fn status_label(tr: &crate::i18n::Tr, status: &str) -> String {
    let key = format!("status.{status}");
    if tr.has(&key) {
        tr.t(&key).to_owned()
    } else {
        status.to_owned()
    }
}

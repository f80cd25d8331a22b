//! `/`: the KPIs from main, and three charts drawn as SVG: revenue per
//! day over the last 30 days (accounting's summary), orders by status
//! (shop's) and items below their reorder point (factory's). A service
//! that does not answer is marked degraded; the rest of the page stands.

use askama::Template;
use axum::extract::Query;
use serde::Deserialize;
use serde_json::Value;

use crate::{
    access::Area,
    api::ApiFail,
    charts::{self, Bar},
    format,
    page::{Chrome, PageResult, Session, WebError, flash, render, text},
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

/// A summary a role may not read is simply absent; one that fails is degraded.
fn optional(
    answer: Result<Value, ApiFail>,
    service: &str,
    degraded: &mut Vec<String>,
) -> Option<Value> {
    match answer {
        Ok(v) => Some(v),
        Err(f) if f.status.as_u16() == 403 => None,
        Err(_) => {
            if !degraded.iter().any(|d| d == service) {
                degraded.push(service.to_owned());
            }
            None
        }
    }
}

pub async fn show(s: Session, Query(q): Query<DoneQuery>) -> PageResult {
    let user = s.require(Area::Dashboard)?.clone();
    let tr = s.tr();
    let lang = s.lang;
    let staff = user.role != marimo_platform::auth::Role::User;
    let main = s.api.get("/api/main/dashboard").await;
    let main = match main {
        Ok(v) => v,
        Err(f) if f.status.as_u16() == 401 => return Err(WebError::SignIn(s.here.clone())),
        Err(f) => return Err(WebError::Unavailable(f.message)),
    };
    let mut degraded: Vec<String> = main["degraded"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|d| d.as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default();
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
    let acc = optional(acc, "accounting", &mut degraded);
    let shop = optional(shop, "shop", &mut degraded);
    let factory = optional(factory, "factory", &mut degraded);

    let k = &main["kpis"];
    let currency = k["currency"].as_str().unwrap_or("USD").to_owned();
    let mut kpis = Vec::new();
    let mut add = |key: &'static str, value: String| {
        kpis.push(Kpi {
            key,
            label: tr.t(&format!("dashboard.kpi.{key}")).to_owned(),
            value,
        })
    };
    let money = |v: &Value| v.as_str().map(|a| format::money(a, &currency, lang));
    let count = |v: &Value| v.as_i64().map(|n| format::number(&n.to_string(), lang));
    for (key, value) in [
        ("revenue_today", money(&k["revenue_today"])),
        ("revenue_month", money(&k["revenue_month"])),
        ("open_orders", count(&k["open_orders"])),
        ("pending_orders", count(&k["pending_orders"])),
        (
            "work_orders_in_progress",
            count(&k["work_orders_in_progress"]),
        ),
        ("low_stock_items", count(&k["low_stock_items"])),
        ("users_total", count(&k["users_total"])),
    ] {
        if let Some(v) = value {
            add(key, v);
        }
    }

    let revenue_chart = acc
        .as_ref()
        .and_then(|a| a["revenue_by_day"].as_array())
        .map(|days| {
            let c = a_currency(acc.as_ref(), &currency);
            let bars: Vec<Bar> = days
                .iter()
                .map(|d| {
                    let amount = s_or(d, "amount", "0.00");
                    Bar {
                        label: format::day_label(&text(d, "date"), lang),
                        value: format::hundredths(&amount),
                        text: format::money(&amount, &c, lang),
                    }
                })
                .collect();
            charts::columns("chart-revenue", tr.t("dashboard.chart.revenue"), &bars, 7)
        });
    let revenue_total = acc
        .as_ref()
        .map(|a| {
            format::money(
                &s_or(a, "revenue_month", "0.00"),
                &a_currency(acc.as_ref(), &currency),
                lang,
            )
        })
        .unwrap_or_default();
    let orders_chart = shop
        .as_ref()
        .and_then(|v| v["orders_by_status"].as_object())
        .map(|m| {
            // In the order of the lifecycle, not of the alphabet.
            let bars: Vec<Bar> = super::orders::STATUSES
                .iter()
                .map(|status| {
                    let n = m.get(*status).and_then(Value::as_i64).unwrap_or(0);
                    Bar {
                        label: status_label(&tr, status),
                        value: n,
                        text: format::number(&n.to_string(), lang),
                    }
                })
                .collect();
            charts::rows("chart-orders", tr.t("dashboard.chart.orders"), &bars)
        });
    let low: Vec<Value> = factory
        .as_ref()
        .and_then(|v| v["low_stock"].as_array().cloned())
        .unwrap_or_default();
    let low_stock_none = factory.is_some() && low.is_empty();
    let stock_chart = (!low.is_empty()).then(|| {
        let bars: Vec<Bar> = low
            .iter()
            .map(|l| {
                let on_hand = text(l, "on_hand");
                Bar {
                    label: format!("{} ({})", text(l, "name"), text(l, "sku")),
                    value: format::hundredths(&on_hand),
                    text: tr.f(
                        "dashboard.chart.stock_of",
                        &[
                            ("on_hand", &format::quantity(&on_hand, lang)),
                            (
                                "reorder",
                                &format::quantity(&text(l, "reorder_point"), lang),
                            ),
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

fn s_or(v: &Value, key: &str, default: &str) -> String {
    let t = text(v, key);
    if t.is_empty() { default.to_owned() } else { t }
}

fn a_currency(acc: Option<&Value>, fallback: &str) -> String {
    acc.and_then(|a| a["currency"].as_str())
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

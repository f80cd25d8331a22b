//! `/orders`: my orders and one order with the actions its state and my
//! role allow (pay, cancel; ship and deliver for the shop); `/orders/manage`:
//! every order, for shop managers and admins.

use askama::Template;
use axum::extract::{Path, Query};
use serde::Deserialize;
use serde_json::{Value, json};

use crate::{
    access::Area,
    format,
    page::{
        Chrome, FormData, PageResult, Pager, Session, WebError, done, flash, render, text,
        urlencode,
    },
};

pub struct OrderRow {
    pub id: String,
    pub short_id: String,
    pub created: String,
    pub email: String,
    pub status: String,
    pub status_label: String,
    pub total: String,
    pub items: usize,
}

fn row(v: &Value, s: &Session) -> OrderRow {
    let id = text(v, "id");
    let status = text(v, "status");
    OrderRow {
        short_id: id
            .chars()
            .rev()
            .take(8)
            .collect::<String>()
            .chars()
            .rev()
            .collect(),
        created: format::datetime(&text(v, "created_at"), s.lang),
        email: text(v, "email"),
        status_label: super::dashboard::status_label(&s.tr(), &status),
        status,
        total: format::money(&text(v, "total"), &text(v, "currency"), s.lang),
        items: v["items"].as_array().map_or(0, Vec::len),
        id,
    }
}

#[derive(Template)]
#[template(path = "orders/list.html")]
struct ListPage {
    p: Chrome,
    orders: Vec<OrderRow>,
    manage: bool,
    can_manage: bool,
    status: String,
    statuses: Vec<(&'static str, String)>,
    flash: Option<String>,
    pager: Pager,
}

#[derive(Deserialize)]
pub struct ListQuery {
    status: Option<String>,
    done: Option<String>,
    page: Option<u64>,
}

/// Orders per page.
const PAGE_SIZE: u64 = 50;

pub const STATUSES: [&str; 6] = [
    "pending",
    "paid",
    "shipped",
    "delivered",
    "cancelled",
    "expired",
];

async fn list_page(s: &Session, manage: bool, q: ListQuery) -> PageResult {
    let status = q.status.unwrap_or_default();
    let base = if manage {
        "/api/shop/admin/orders"
    } else {
        "/api/shop/orders"
    };
    let page = q.page.unwrap_or(1).max(1);
    let mut path = format!("{base}?limit={PAGE_SIZE}&page={page}");
    let mut here = if manage {
        "/orders/manage?"
    } else {
        "/orders?"
    }
    .to_owned();
    if STATUSES.contains(&status.as_str()) {
        path.push_str(&format!("&status={}", urlencode(&status)));
        here.push_str(&format!("status={}&", urlencode(&status)));
    }
    let list = s.api.get(&path).await.map_err(WebError::from)?;
    let total = list["total"].as_u64().unwrap_or(0);
    let pager = Pager::new(&here, page, PAGE_SIZE, total);
    let orders = list["orders"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|o| row(o, s))
        .collect();
    let tr = s.tr();
    Ok(render(&ListPage {
        p: s.chrome(if manage {
            "orders.manage"
        } else {
            "orders.mine"
        })
        .await,
        orders,
        manage,
        can_manage: s.may(Area::OrdersManage),
        statuses: STATUSES
            .iter()
            .map(|st| (*st, super::dashboard::status_label(&tr, st)))
            .collect(),
        status,
        flash: flash(&tr, q.done.as_deref()),
        pager,
    }))
}

pub async fn mine(s: Session, Query(q): Query<ListQuery>) -> PageResult {
    s.require(Area::Customer)?;
    list_page(&s, false, q).await
}

pub async fn manage(s: Session, Query(q): Query<ListQuery>) -> PageResult {
    s.require(Area::OrdersManage)?;
    list_page(&s, true, q).await
}

pub struct Line {
    pub name: String,
    pub quantity: String,
    pub price: String,
    pub total: String,
}

pub struct HistoryRow {
    pub at: String,
    pub status: String,
    pub reason: String,
}

#[derive(Template)]
#[template(path = "orders/show.html")]
struct ShowPage {
    p: Chrome,
    order: OrderRow,
    lines: Vec<Line>,
    subtotal: String,
    tax: String,
    history: Vec<HistoryRow>,
    actions: Vec<(&'static str, String, bool)>,
    /// Pending and the viewer cannot record the payment: say it is awaited.
    awaiting_payment: bool,
    /// The payment methods staff choose from: (code, label).
    methods: Vec<(&'static str, String)>,
    flash: Option<String>,
}

#[derive(Deserialize)]
pub struct DoneQuery {
    done: Option<String>,
}

/// The actions the page offers: the lifecycle's edges from `status`,
/// those the role may do (the shop decides again). Only staff record a
/// payment; a customer's order is paid through the payment provider.
pub fn actions_for(status: &str, staff: bool) -> Vec<&'static str> {
    match status {
        "pending" if staff => vec!["pay", "cancel"],
        "pending" => vec!["cancel"],
        "paid" if staff => vec!["ship", "cancel"],
        "shipped" if staff => vec!["deliver"],
        _ => vec![],
    }
}

/// How staff may say a payment was received (the shop takes any
/// lower-case word; these are the ones the form offers).
const PAYMENT_METHODS: [&str; 3] = ["card", "cash", "bank_transfer"];

pub async fn show(s: Session, Path(id): Path<String>, Query(q): Query<DoneQuery>) -> PageResult {
    s.require(Area::Customer)?;
    let o = s
        .api
        .get(&format!("/api/shop/orders/{}", urlencode(&id)))
        .await
        .map_err(WebError::from)?;
    let currency = text(&o, "currency");
    let lines = o["items"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|i| Line {
            name: text(i, "name"),
            quantity: format::number(&text(i, "quantity"), s.lang),
            price: format::money(&text(i, "price"), &currency, s.lang),
            total: format::money(&text(i, "line_total"), &currency, s.lang),
        })
        .collect();
    let tr = s.tr();
    let history = o["history"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|h| {
            let st = h["to"].as_str().or(h["status"].as_str()).unwrap_or("");
            HistoryRow {
                at: format::datetime(
                    h["at"].as_str().or(h["created_at"].as_str()).unwrap_or(""),
                    s.lang,
                ),
                status: super::dashboard::status_label(&tr, st),
                reason: text(h, "reason"),
            }
        })
        .collect();
    let status = text(&o, "status");
    let staff = s.may(Area::OrdersManage);
    let actions = actions_for(&status, staff)
        .into_iter()
        .map(|a| {
            (
                a,
                tr.t(&format!("orders.action.{a}")).to_owned(),
                a == "cancel",
            )
        })
        .collect();
    Ok(render(&ShowPage {
        p: s.chrome("orders.order").await,
        subtotal: format::money(&text(&o, "subtotal"), &currency, s.lang),
        tax: format::money(&text(&o, "tax"), &currency, s.lang),
        order: row(&o, &s),
        lines,
        history,
        actions,
        awaiting_payment: status == "pending" && !staff,
        methods: PAYMENT_METHODS
            .iter()
            .map(|m| (*m, tr.t(&format!("orders.method.{m}")).to_owned()))
            .collect(),
        flash: flash(&tr, q.done.as_deref()),
    }))
}

/// `POST /orders/{id}/{action}`: pay, ship, deliver or cancel.
pub async fn act(
    s: Session,
    Path((id, action)): Path<(String, String)>,
    form: FormData,
) -> PageResult {
    s.require(Area::Customer)?;
    if !["pay", "ship", "deliver", "cancel"].contains(&action.as_str()) {
        return Err(WebError::NotFound);
    }
    if matches!(action.as_str(), "pay" | "ship" | "deliver") {
        s.require(Area::OrdersManage)?;
    }
    let body = if action == "pay" {
        json!({ "method": form.get("method"), "reference": form.get("reference") })
    } else {
        match form.opt("reason") {
            Some(r) => json!({ "reason": r }),
            None => json!({}),
        }
    };
    s.api
        .post(
            &format!("/api/shop/orders/{}/{action}", urlencode(&id)),
            body,
        )
        .await
        .map_err(WebError::from)?;
    let back = if form.get("back") == "manage" {
        "/orders/manage".to_owned()
    } else {
        format!("/orders/{}", urlencode(&id))
    };
    Ok(done(&back, &format!("order_{action}")))
}

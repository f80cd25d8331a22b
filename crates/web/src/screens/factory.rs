//! `/factory` (production managers, admins): items, stock with its moves
//! and receipts, BOMs with their explosion, work orders with the buttons
//! of their state machine.

use askama::Template;
use axum::extract::{Path, Query};
use serde::Deserialize;
use serde_json::{Value, json};

use crate::{
    access::Area,
    format,
    page::{
        Chrome, FieldErrors, FormData, PageResult, Session, WebError, done, flash, form_answer,
        render, text, urlencode,
    },
};

#[derive(Deserialize, Default)]
pub struct Params {
    done: Option<String>,
    bom: Option<String>,
    qty: Option<String>,
}

/// A row: its cells and its action buttons `(path, label)`.
pub type Row = (Vec<String>, Vec<(String, String)>);

/// One table of a factory tab: headers and rows of text cells, plus
/// per-row action buttons `(path, label)`.
pub struct Table {
    pub id: &'static str,
    pub head: Vec<String>,
    pub rows: Vec<Row>,
}

/// A form of a tab: fields `(name, label, kind)`.
pub struct FormSpec {
    pub action: &'static str,
    pub title: String,
    pub fields: Vec<(&'static str, String, &'static str)>,
    pub submit: String,
}

#[derive(Template)]
#[template(path = "factory.html")]
struct FactoryPage {
    p: Chrome,
    tab: &'static str,
    tables: Vec<Table>,
    forms: Vec<FormSpec>,
    form: FormData,
    errors: FieldErrors,
    /// The action of the form that was posted and refused: only that form
    /// shows the values and errors.
    submitted: &'static str,
    flash: Option<String>,
    explosion: Option<Table>,
}

const TABS: [&str; 4] = ["items", "stock", "boms", "work-orders"];

fn cells(v: &Value, keys: &[&str], lang: crate::i18n::Lang) -> Vec<String> {
    keys.iter()
        .map(|k| {
            let t = text(v, k);
            match *k {
                "qty" | "on_hand" | "reserved" | "available" | "reorder_point" | "output_qty" => {
                    format::quantity(&t, lang)
                }
                "standard_cost" | "value" | "unit_cost" => format::number(&t, lang),
                "created_at" => format::datetime(&t, lang),
                _ => t,
            }
        })
        .collect()
}

async fn page(
    s: &Session,
    tab: &'static str,
    q: &Params,
    form: FormData,
    errors: FieldErrors,
    submitted: &'static str,
) -> PageResult {
    let tr = s.tr();
    let lang = s.lang;
    let head = |keys: &[&str]| -> Vec<String> {
        keys.iter()
            .map(|k| tr.t(&format!("factory.col.{k}")).to_owned())
            .collect()
    };
    let field = |name: &'static str, kind: &'static str| {
        (name, tr.t(&format!("factory.col.{name}")).to_owned(), kind)
    };
    let get = |path: String| async move { s.api.get(&path).await.map_err(WebError::from) };
    let mut tables = Vec::new();
    let mut forms = Vec::new();
    let mut explosion = None;
    match tab {
        "items" => {
            let v = get("/api/factory/items?limit=100".into()).await?;
            let keys = [
                "sku",
                "name",
                "kind",
                "uom",
                "standard_cost",
                "reorder_point",
            ];
            tables.push(Table {
                id: "items",
                head: head(&keys),
                rows: list(&v, "items")
                    .map(|i| (cells(i, &keys, lang), Vec::new()))
                    .collect(),
            });
            forms.push(FormSpec {
                action: "/factory/items",
                title: tr.t("factory.new_item").to_owned(),
                fields: vec![
                    field("sku", "text"),
                    field("name", "text"),
                    field("kind", "kind"),
                    field("uom", "text"),
                    field("standard_cost", "decimal"),
                    field("reorder_point", "decimal"),
                ],
                submit: tr.t("shop.create").to_owned(),
            });
        }
        "stock" => {
            let (levels, moves) = tokio::join!(
                get("/api/factory/stock".into()),
                get("/api/factory/stock/moves?limit=50".into())
            );
            let keys = [
                "sku",
                "warehouse",
                "on_hand",
                "reserved",
                "available",
                "value",
            ];
            tables.push(Table {
                id: "stock",
                head: head(&keys),
                rows: list(&levels?, "stock")
                    .map(|l| (cells(l, &keys, lang), Vec::new()))
                    .collect(),
            });
            let keys = [
                "created_at",
                "sku",
                "warehouse",
                "qty",
                "unit_cost",
                "reason",
                "reference",
            ];
            tables.push(Table {
                id: "moves",
                head: head(&keys),
                rows: list(&moves?, "moves")
                    .map(|m| (cells(m, &keys, lang), Vec::new()))
                    .collect(),
            });
            forms.push(FormSpec {
                action: "/factory/stock/receipts",
                title: tr.t("factory.receipt").to_owned(),
                fields: vec![
                    field("sku", "text"),
                    field("qty", "decimal"),
                    field("unit_cost", "decimal"),
                    field("warehouse", "text"),
                    field("reference", "text"),
                ],
                submit: tr.t("factory.receive").to_owned(),
            });
            forms.push(FormSpec {
                action: "/factory/stock/adjustments",
                title: tr.t("factory.adjustment").to_owned(),
                fields: vec![
                    field("sku", "text"),
                    field("qty", "decimal"),
                    field("warehouse", "text"),
                    field("reason_note", "text"),
                ],
                submit: tr.t("factory.adjust").to_owned(),
            });
            forms.push(FormSpec {
                action: "/factory/stock/transfers",
                title: tr.t("factory.transfer").to_owned(),
                fields: vec![
                    field("sku", "text"),
                    field("qty", "decimal"),
                    field("from", "text"),
                    field("to", "text"),
                    field("reference", "text"),
                ],
                submit: tr.t("factory.move_stock").to_owned(),
            });
        }
        "boms" => {
            let v = get("/api/factory/boms".into()).await?;
            let keys = ["product_sku", "version", "output_qty"];
            let mut h = head(&keys);
            h.push(tr.t("factory.col.components").to_owned());
            tables.push(Table {
                id: "boms",
                head: h,
                rows: list(&v, "boms")
                    .map(|b| {
                        let mut c = cells(b, &keys, lang);
                        c.push(
                            list(b, "components")
                                .map(|x| {
                                    format!(
                                        "{} × {}",
                                        text(x, "sku"),
                                        format::quantity(&text(x, "qty"), lang)
                                    )
                                })
                                .collect::<Vec<_>>()
                                .join(", "),
                        );
                        let explode = format!("/factory/boms?bom={}", urlencode(&text(b, "id")));
                        (c, vec![(explode, tr.t("factory.explode").to_owned())])
                    })
                    .collect(),
            });
            if let Some(id) = q.bom.as_deref().filter(|id| !id.is_empty()) {
                let qty = q.qty.clone().unwrap_or_else(|| "1".into());
                let e = get(format!(
                    "/api/factory/boms/{}/explode?qty={}",
                    urlencode(id),
                    urlencode(&qty)
                ))
                .await?;
                let keys = ["sku", "qty"];
                explosion = Some(Table {
                    id: "explosion",
                    head: head(&keys),
                    rows: list(&e, "requirements")
                        .map(|r| (cells(r, &keys, lang), Vec::new()))
                        .collect(),
                });
            }
            forms.push(FormSpec {
                action: "/factory/boms",
                title: tr.t("factory.new_bom").to_owned(),
                fields: vec![
                    field("product_sku", "text"),
                    field("output_qty", "decimal"),
                    field("components", "components"),
                ],
                submit: tr.t("shop.create").to_owned(),
            });
        }
        _ => {
            let v = get("/api/factory/work-orders?limit=100".into()).await?;
            let keys = ["product_sku", "qty", "warehouse", "status", "created_at"];
            tables.push(Table {
                id: "work-orders",
                head: head(&keys),
                rows: list(&v, "work_orders")
                    .map(|w| {
                        let status = text(w, "status");
                        let mut c = cells(w, &keys, lang);
                        c[3] = tr.t(&format!("factory.state.{status}")).to_owned();
                        let id = urlencode(&text(w, "id"));
                        let actions = work_order_actions(&status)
                            .iter()
                            .map(|a| {
                                (
                                    format!("/factory/work-orders/{id}/{a}"),
                                    tr.t(&format!("factory.action.{a}")).to_owned(),
                                )
                            })
                            .collect();
                        (c, actions)
                    })
                    .collect(),
            });
            forms.push(FormSpec {
                action: "/factory/work-orders",
                title: tr.t("factory.new_work_order").to_owned(),
                fields: vec![
                    field("product_sku", "text"),
                    field("qty", "decimal"),
                    field("warehouse", "text"),
                ],
                submit: tr.t("shop.create").to_owned(),
            });
        }
    }
    Ok(render(&FactoryPage {
        p: s.chrome("nav.factory").await,
        tab,
        tables,
        forms,
        form,
        errors,
        submitted,
        flash: flash(&tr, q.done.as_deref()),
        explosion,
    }))
}

/// The work order state machine's buttons from `status`.
pub fn work_order_actions(status: &str) -> &'static [&'static str] {
    match status {
        "planned" => &["release", "cancel"],
        "released" => &["start", "cancel"],
        "started" => &["complete", "cancel"],
        _ => &[],
    }
}

fn list<'a>(v: &'a Value, key: &str) -> impl Iterator<Item = &'a Value> {
    v[key].as_array().into_iter().flatten()
}

fn tab_of(tab: &str) -> Option<&'static str> {
    TABS.into_iter().find(|t| *t == tab)
}

pub async fn index(s: Session, Query(q): Query<Params>) -> PageResult {
    s.require(Area::Factory)?;
    page(
        &s,
        "items",
        &q,
        FormData(Vec::new()),
        FieldErrors::default(),
        "",
    )
    .await
}

pub async fn tab(s: Session, Path(tab): Path<String>, Query(q): Query<Params>) -> PageResult {
    s.require(Area::Factory)?;
    let tab = tab_of(&tab).ok_or(WebError::NotFound)?;
    page(
        &s,
        tab,
        &q,
        FormData(Vec::new()),
        FieldErrors::default(),
        "",
    )
    .await
}

fn decimal(form: &FormData, name: &str) -> Value {
    match form.opt(name) {
        Some(v) => json!(v.replace(',', ".")),
        None => Value::Null,
    }
}

/// `POST /factory/{tab}`: creates an item, BOM or work order, or books a
/// receipt, an adjustment or a transfer.
pub async fn create(s: Session, Path(what): Path<String>, form: FormData) -> PageResult {
    s.require(Area::Factory)?;
    let (api, tab, action, body) = match what.as_str() {
        "items" => (
            "/api/factory/items",
            "items",
            "/factory/items",
            json!({
                "sku": form.get("sku"), "name": form.get("name"), "kind": form.get("kind"),
                "uom": form.get("uom"), "standard_cost": decimal(&form, "standard_cost"),
                "reorder_point": decimal(&form, "reorder_point"),
            }),
        ),
        "boms" => {
            // One component per line: `SKU quantity`.
            let components: Vec<Value> = form
                .get("components")
                .lines()
                .filter_map(|l| {
                    let mut it = l.split_whitespace();
                    let sku = it.next()?;
                    let qty = it.next().unwrap_or("1").replace(',', ".");
                    Some(json!({"sku": sku, "qty": qty}))
                })
                .collect();
            (
                "/api/factory/boms",
                "boms",
                "/factory/boms",
                json!({"product_sku": form.get("product_sku"), "output_qty": decimal(&form, "output_qty"), "components": components}),
            )
        }
        "work-orders" => (
            "/api/factory/work-orders",
            "work-orders",
            "/factory/work-orders",
            json!({"product_sku": form.get("product_sku"), "qty": decimal(&form, "qty"), "warehouse": form.opt("warehouse")}),
        ),
        "receipts" => (
            "/api/factory/stock/receipts",
            "stock",
            "/factory/stock/receipts",
            json!({
                "sku": form.get("sku"), "qty": decimal(&form, "qty"),
                "unit_cost": decimal(&form, "unit_cost"), "warehouse": form.opt("warehouse"),
                "reference": form.opt("reference"),
            }),
        ),
        "adjustments" => (
            "/api/factory/stock/adjustments",
            "stock",
            "/factory/stock/adjustments",
            json!({
                "sku": form.get("sku"), "qty": decimal(&form, "qty"),
                "warehouse": form.opt("warehouse"), "reason_note": form.opt("reason_note"),
            }),
        ),
        "transfers" => (
            "/api/factory/stock/transfers",
            "stock",
            "/factory/stock/transfers",
            json!({
                "sku": form.get("sku"), "qty": decimal(&form, "qty"),
                "from": form.get("from"), "to": form.get("to"),
                "reference": form.opt("reference"),
            }),
        ),
        _ => return Err(WebError::NotFound),
    };
    let sent = s.api.post(api, body).await;
    let params = Params::default();
    form_answer(
        sent,
        || done(&format!("/factory/{tab}"), "saved"),
        |errors| {
            let tab = tab_of(tab).unwrap_or("items");
            page(&s, tab, &params, form, errors, action)
        },
    )
    .await
}

/// `POST /factory/stock/{receipts|adjustments|transfers}`: a stock move.
pub async fn stock_move(s: Session, Path(kind): Path<String>, form: FormData) -> PageResult {
    create(s, Path(kind), form).await
}

/// `POST /factory/work-orders/{id}/{action}`: release, start, complete, cancel.
pub async fn work_order_action(
    s: Session,
    Path((id, action)): Path<(String, String)>,
) -> PageResult {
    s.require(Area::Factory)?;
    if !["release", "start", "complete", "cancel"].contains(&action.as_str()) {
        return Err(WebError::NotFound);
    }
    s.api
        .post(
            &format!("/api/factory/work-orders/{}/{action}", urlencode(&id)),
            json!({}),
        )
        .await
        .map_err(WebError::from)?;
    Ok(done("/factory/work-orders", &format!("wo_{action}")))
}

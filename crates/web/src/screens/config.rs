//! `/config` (admin): settings with their types and history, and the
//! reference data (currencies, units, tax rates).

use askama::Template;
use axum::extract::Query;
use marimo_contracts::{
    Success,
    config::{ReferenceItem, ReferenceList, SettingList},
};
use serde::Deserialize;
use serde_json::json;

use crate::{
    access::Area,
    format,
    page::{
        Chrome, FieldErrors, FormData, PageResult, Session, WebError, done, flash, form_answer,
        render, text, urlencode,
    },
};

pub struct SettingRow {
    pub key: String,
    pub value: String,
    pub value_type: String,
    pub description: String,
    pub version: String,
    pub updated: String,
    pub history_href: String,
}

pub struct RefTable {
    pub kind: &'static str,
    pub title: String,
    pub rows: Vec<(String, String, String)>,
}

#[derive(Template)]
#[template(path = "config.html")]
struct ConfigPage {
    p: Chrome,
    settings: Vec<SettingRow>,
    history_key: String,
    history: Vec<(String, String, String, String)>,
    references: Vec<RefTable>,
    value_types: [&'static str; 4],
    form: FormData,
    errors: FieldErrors,
    flash: Option<String>,
}

#[derive(Deserialize, Default)]
pub struct Params {
    key: Option<String>,
    done: Option<String>,
}

const KINDS: [&str; 3] = ["currencies", "units", "tax-rates"];

async fn page(s: &Session, q: &Params, form: FormData, errors: FieldErrors) -> PageResult {
    let lang = s.lang;
    let tr = s.tr();
    let list = s.api.get("/api/config").await.map_err(WebError::from)?;
    let list = serde_json::from_value::<Success<SettingList>>(list)
        .map_err(|e| WebError::Unavailable(format!("unreadable settings: {e}")))?
        .body;
    let settings = list
        .configs
        .into_iter()
        .map(|c| SettingRow {
            history_href: format!("/config?key={}", urlencode(&c.key)),
            updated: format::datetime(&c.updated_at, lang),
            version: c.version.to_string(),
            key: c.key,
            value: c.value,
            value_type: c.value_type,
            description: c.description,
        })
        .collect();
    let history_key = q.key.clone().unwrap_or_default();
    let mut history = Vec::new();
    if !history_key.is_empty() {
        let h = s
            .api
            .get(&format!("/api/config/{}/history", urlencode(&history_key)))
            .await
            .map_err(WebError::from)?;
        history = h["history"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|c| {
                (
                    format::datetime(&text(c, "changed_at"), lang),
                    text(c, "action"),
                    text(c, "old_value"),
                    text(c, "new_value"),
                )
            })
            .collect();
    }
    let mut references = Vec::new();
    for kind in KINDS {
        let field = kind.replace('-', "_");
        let Ok(v) = s.api.get(&format!("/api/config/reference/{kind}")).await else {
            continue;
        };
        let Ok(Success { body: list, .. }) = serde_json::from_value::<Success<ReferenceList>>(v)
        else {
            continue;
        };
        references.push(RefTable {
            kind,
            title: tr.t(&format!("config.ref.{field}")).to_owned(),
            rows: list
                .rows()
                .iter()
                .map(|r| {
                    let extra = match r {
                        ReferenceItem::TaxRate(t) => {
                            format!("{} %", format::number(&t.rate, lang))
                        }
                        ReferenceItem::Currency(c) => c.minor_units.to_string(),
                        ReferenceItem::Unit(_) => String::new(),
                    };
                    (r.code().to_owned(), r.name().to_owned(), extra)
                })
                .collect(),
        });
    }
    Ok(render(&ConfigPage {
        p: s.chrome("nav.config").await,
        settings,
        history_key,
        history,
        references,
        value_types: ["string", "integer", "decimal", "boolean"],
        form,
        errors,
        flash: flash(&tr, q.done.as_deref()),
    }))
}

pub async fn show(s: Session, Query(q): Query<Params>) -> PageResult {
    s.require(Area::Config)?;
    page(&s, &q, FormData(Vec::new()), FieldErrors::default()).await
}

/// Creates or changes a setting (the service checks the value's type).
pub async fn save(s: Session, form: FormData) -> PageResult {
    s.require(Area::Config)?;
    let body = json!({
        "key": form.get("key"),
        "value": form.get("value"),
        "value_type": form.opt("value_type"),
        "description": form.opt("description"),
    });
    let sent = s.api.post("/api/config", body).await;
    let params = Params::default();
    form_answer(
        sent,
        || done("/config", "saved"),
        |errors| page(&s, &params, form, errors),
    )
    .await
}

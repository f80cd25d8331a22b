//! `/audit` (admin): the audit log, filtered by action and actor.

use askama::Template;
use axum::extract::Query;
use serde::Deserialize;

use crate::{
    access::Area,
    format,
    page::{Chrome, PageResult, Session, WebError, render, text, urlencode},
};

pub struct AuditRow {
    pub at: String,
    pub action: String,
    pub actor: String,
    pub target: String,
    pub ip: String,
}

#[derive(Template)]
#[template(path = "audit.html")]
struct AuditPage {
    p: Chrome,
    action: String,
    actor: String,
    rows: Vec<AuditRow>,
    total: i64,
}

#[derive(Deserialize)]
pub struct Params {
    action: Option<String>,
    actor: Option<String>,
}

pub async fn show(s: Session, Query(q): Query<Params>) -> PageResult {
    s.require(Area::Audit)?;
    let action = q.action.unwrap_or_default().trim().to_owned();
    let actor = q.actor.unwrap_or_default().trim().to_owned();
    let v = s
        .api
        .get(&format!(
            "/api/audit?limit=100&action={}&actor={}",
            urlencode(&action),
            urlencode(&actor)
        ))
        .await
        .map_err(WebError::from)?;
    let rows = v["entries"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|e| AuditRow {
            at: format::datetime(&text(e, "occurred_at"), s.lang),
            action: text(e, "action"),
            actor: text(e, "actor"),
            target: text(e, "target"),
            ip: text(e, "client_ip"),
        })
        .collect();
    Ok(render(&AuditPage {
        p: s.chrome("nav.audit").await,
        total: v["total"].as_i64().unwrap_or(0),
        action,
        actor,
        rows,
    }))
}

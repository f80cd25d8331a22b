//! `/audit` (admin): the audit log, filtered by action and actor.

use askama::Template;
use axum::extract::Query;
use serde::Deserialize;

use crate::{
    access::Area,
    format,
    page::{Chrome, PageResult, Pager, Session, WebError, render, text, urlencode},
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
    pager: Pager,
}

/// Entries per page.
const PAGE_SIZE: u64 = 100;

#[derive(Deserialize)]
pub struct Params {
    action: Option<String>,
    actor: Option<String>,
    page: Option<u64>,
}

pub async fn show(s: Session, Query(q): Query<Params>) -> PageResult {
    s.require(Area::Audit)?;
    let action = q.action.unwrap_or_default().trim().to_owned();
    let actor = q.actor.unwrap_or_default().trim().to_owned();
    let page = q.page.unwrap_or(1).max(1);
    let filters = format!("action={}&actor={}", urlencode(&action), urlencode(&actor));
    let v = s
        .api
        .get(&format!(
            "/api/audit?limit={PAGE_SIZE}&page={page}&{filters}"
        ))
        .await
        .map_err(WebError::from)?;
    let total = v["total"].as_u64().unwrap_or(0);
    let pager = Pager::new(&format!("/audit?{filters}&"), page, PAGE_SIZE, total);
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
        total: i64::try_from(total).unwrap_or(i64::MAX),
        pager,
        action,
        actor,
        rows,
    }))
}

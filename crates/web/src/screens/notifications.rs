//! `/notifications`: in-app notifications of the signed-in user (and of
//! their role), with the unread count in every page's header.

use askama::Template;
use axum::extract::{Path, Query};
use serde::Deserialize;
use serde_json::json;

use crate::{
    access::Area,
    format,
    page::{Chrome, PageResult, Session, WebError, done, flash, render, text, urlencode},
};

pub struct Row {
    pub id: String,
    pub at: String,
    pub title: String,
    pub body: String,
    pub read: bool,
}

#[derive(Template)]
#[template(path = "notifications.html")]
struct NotificationsPage {
    p: Chrome,
    rows: Vec<Row>,
    unread: i64,
    flash: Option<String>,
}

#[derive(Deserialize)]
pub struct Params {
    done: Option<String>,
}

pub async fn show(s: Session, Query(q): Query<Params>) -> PageResult {
    s.require(Area::Customer)?;
    let v = s
        .api
        .get("/api/notifications?limit=100")
        .await
        .map_err(WebError::from)?;
    let rows = v["notifications"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|n| Row {
            id: text(n, "id"),
            at: format::datetime(&text(n, "created_at"), s.lang),
            title: text(n, "title"),
            body: text(n, "body"),
            read: n["read"].as_bool().unwrap_or(false),
        })
        .collect();
    let unread = v["unread_count"].as_i64().unwrap_or(0);
    let tr = s.tr();
    Ok(render(&NotificationsPage {
        p: s.chrome_with("nav.notifications", unread),
        rows,
        unread,
        flash: flash(&tr, q.done.as_deref()),
    }))
}

pub async fn read_one(s: Session, Path(id): Path<String>) -> PageResult {
    s.require(Area::Customer)?;
    s.api
        .post(
            &format!("/api/notifications/{}/read", urlencode(&id)),
            json!({}),
        )
        .await
        .map_err(WebError::from)?;
    Ok(done("/notifications", "marked_read"))
}

pub async fn read_all(s: Session) -> PageResult {
    s.require(Area::Customer)?;
    s.api
        .post("/api/notifications/read-all", json!({}))
        .await
        .map_err(WebError::from)?;
    Ok(done("/notifications", "marked_read"))
}

//! `/dead-letters` (admin): events a consumer gave up on, per queue, with
//! why (the reason and the handler's error, e.g. `PERIOD_CLOSED: ...`),
//! when they first failed and how often they were tried; a Replay button
//! sends one (or all of a queue) back to be consumed again, through the
//! worker's `/api/worker/dead-letters`.

use askama::Template;
use axum::extract::{Path, Query};
use serde::Deserialize;
use serde_json::json;

use crate::{
    access::Area,
    format,
    page::{Chrome, FormData, PageResult, Session, WebError, done, flash, render, text, urlencode},
};

pub struct QueueRow {
    pub queue: String,
    pub depth: u64,
    pub href: String,
    pub selected: bool,
}

pub struct LetterRow {
    pub event_id: String,
    pub event_type: String,
    pub reason: String,
    pub error: String,
    pub attempts: String,
    pub failed_at: String,
}

#[derive(Template)]
#[template(path = "dead_letters.html")]
struct DeadLettersPage {
    p: Chrome,
    queues: Vec<QueueRow>,
    total: u64,
    /// The queue shown below the list, if any.
    queue: Option<String>,
    letters: Vec<LetterRow>,
    flash: Option<String>,
}

#[derive(Deserialize)]
pub struct Params {
    queue: Option<String>,
    done: Option<String>,
}

/// The same audience as the audit log (admins): the worker's API decides.
const AREA: Area = Area::Audit;

pub async fn show(s: Session, Query(q): Query<Params>) -> PageResult {
    s.require(AREA)?;
    let v = s
        .api
        .get("/api/worker/dead-letters")
        .await
        .map_err(WebError::from)?;
    let depths: Vec<(String, u64)> = v["queues"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|q| (text(q, "queue"), q["depth"].as_u64().unwrap_or(0)))
        .collect();
    // The queue asked for, else the first one holding something.
    let queue = q
        .queue
        .filter(|name| depths.iter().any(|(n, _)| n == name))
        .or_else(|| depths.iter().find(|(_, d)| *d > 0).map(|(n, _)| n.clone()));
    let letters = match &queue {
        Some(name) => {
            let v = s
                .api
                .get(&format!("/api/worker/dead-letters/{}", urlencode(name)))
                .await
                .map_err(WebError::from)?;
            v["dead_letters"]
                .as_array()
                .into_iter()
                .flatten()
                .map(|l| LetterRow {
                    event_id: text(l, "event_id"),
                    event_type: text(l, "event_type"),
                    reason: text(l, "reason"),
                    error: text(l, "error"),
                    attempts: text(l, "attempts"),
                    failed_at: format::datetime(&text(l, "failed_at"), s.lang),
                })
                .collect()
        }
        None => Vec::new(),
    };
    let tr = s.tr();
    Ok(render(&DeadLettersPage {
        p: s.chrome("dead_letters.title").await,
        total: depths.iter().map(|(_, d)| d).sum(),
        queues: depths
            .into_iter()
            .map(|(name, depth)| QueueRow {
                href: format!("/dead-letters?queue={}", urlencode(&name)),
                selected: queue.as_deref() == Some(name.as_str()),
                queue: name,
                depth,
            })
            .collect(),
        queue,
        letters,
        flash: flash(&tr, q.done.as_deref()),
    }))
}

/// `POST /dead-letters/{queue}/replay`: the event named by the form's `id`,
/// or every dead letter of the queue when there is none.
pub async fn replay(s: Session, Path(queue): Path<String>, form: FormData) -> PageResult {
    s.require(AREA)?;
    let body = match form.opt("id").filter(|id| !id.is_empty()) {
        Some(id) => json!({"ids": [id]}),
        None => json!({}),
    };
    s.api
        .post(
            &format!("/api/worker/dead-letters/{}/replay", urlencode(&queue)),
            body,
        )
        .await
        .map_err(WebError::from)?;
    Ok(done(
        &format!("/dead-letters?queue={}", urlencode(&queue)),
        "replayed",
    ))
}

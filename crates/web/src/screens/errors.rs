//! The pages for errors: 403, 404, 503 and the rest, in the user's
//! language, with what to do next; never internals.

use askama::Template;
use axum::response::{IntoResponse, Response};
use marimo_platform::ApiError;

use crate::page::{Chrome, Session, WebError};

#[derive(Template)]
#[template(path = "error.html")]
pub struct ErrorTemplate {
    pub p: Chrome,
    pub heading: String,
    pub explanation: String,
    pub detail: String,
}

impl ErrorTemplate {
    pub fn new(session: &Session, err: &WebError) -> Self {
        let tr = session.tr();
        let (key, detail) = match err {
            WebError::Forbidden => ("forbidden", String::new()),
            WebError::NotFound => ("not_found", String::new()),
            WebError::Unavailable(m) => ("unavailable", m.clone()),
            WebError::Csrf => ("csrf", String::new()),
            WebError::Refused(m) => ("refused", m.clone()),
            WebError::BadRequest => ("bad_request", String::new()),
            WebError::Internal | WebError::SignIn(_) => ("internal", String::new()),
        };
        Self {
            p: session.chrome_with(&format!("error.{key}.title"), 0),
            heading: tr.t(&format!("error.{key}.title")).to_owned(),
            explanation: tr.t(&format!("error.{key}.text")).to_owned(),
            detail,
        }
    }
}

/// Any page path nobody serves.
pub async fn not_found() -> WebError {
    WebError::NotFound
}

/// `/api/...` paths no service owns keep the API's JSON 404.
pub async fn api_not_found() -> Response {
    ApiError::not_found("no such endpoint").into_response()
}

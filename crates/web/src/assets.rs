//! The stylesheet and the script, embedded in the binary and served under
//! a name that carries a hash of their content, so browsers may keep them
//! for a year: a changed file gets a new name.

use std::sync::LazyLock;

use axum::{
    extract::Path,
    response::{IntoResponse, Response},
};
use http::{HeaderValue, StatusCode, header};
use sha2::{Digest, Sha256};

pub const CSS: &str = include_str!("../assets/app.css");
pub const JS: &str = include_str!("../assets/app.js");
/// A small mark for the tab (SVG, no binary files in the repository).
pub const ICON: &str = include_str!("../assets/icon.svg");

struct Named {
    css: String,
    js: String,
    icon: String,
}

fn hashed(stem: &str, ext: &str, body: &str) -> String {
    let digest = Sha256::digest(body.as_bytes());
    format!("/assets/{stem}.{}.{ext}", hex::encode(&digest[..5]))
}

static NAMES: LazyLock<Named> = LazyLock::new(|| Named {
    css: hashed("app", "css", CSS),
    js: hashed("app", "js", JS),
    icon: hashed("icon", "svg", ICON),
});

pub fn css_path() -> &'static str {
    &NAMES.css
}
pub fn js_path() -> &'static str {
    &NAMES.js
}
pub fn icon_path() -> &'static str {
    &NAMES.icon
}

fn immutable(content_type: &'static str, body: &'static str) -> Response {
    (
        [
            (header::CONTENT_TYPE, HeaderValue::from_static(content_type)),
            (
                header::CACHE_CONTROL,
                HeaderValue::from_static("public, max-age=31536000, immutable"),
            ),
        ],
        body,
    )
        .into_response()
}

/// `GET /assets/{file}`: only the current names exist.
pub async fn serve(Path(file): Path<String>) -> Response {
    let path = format!("/assets/{file}");
    if path == NAMES.css {
        immutable("text/css; charset=utf-8", CSS)
    } else if path == NAMES.js {
        immutable("text/javascript; charset=utf-8", JS)
    } else if path == NAMES.icon {
        immutable("image/svg+xml", ICON)
    } else {
        StatusCode::NOT_FOUND.into_response()
    }
}

/// `GET /favicon.ico`: browsers ask for it whatever the page says.
pub async fn favicon() -> Response {
    (
        [
            (
                header::CONTENT_TYPE,
                HeaderValue::from_static("image/svg+xml"),
            ),
            (
                header::CACHE_CONTROL,
                HeaderValue::from_static("public, max-age=86400"),
            ),
        ],
        ICON,
    )
        .into_response()
}

//! What every screen handler works with: the request's [`Session`] (who,
//! which language, the API as that caller), the page [`Chrome`] (header,
//! navigation, language switch) and [`WebError`], the errors people can
//! act on.

use askama::Template;
use axum::{
    extract::{FromRequest, FromRequestParts, Request},
    response::{Html, IntoResponse, Redirect, Response},
};
use http::{HeaderValue, StatusCode, header, request::Parts};
use marimo_platform::auth::{Role, jwt::Identity};
use serde_json::Value;

use crate::{
    access::{self, Area},
    api::{Api, ApiFail},
    assets, format,
    i18n::{Lang, Tr},
};

/// Who is asking, in which language, and the API as them. Put into the
/// request by [`crate::session::layer`].
#[derive(Clone)]
pub struct Session {
    pub user: Option<Identity>,
    pub lang: Lang,
    pub csrf: String,
    /// The request came over TLS (cookies get `Secure`).
    pub secure: bool,
    pub api: Api,
    /// The path and query of the page (for the language switch and
    /// sign-in redirects).
    pub here: String,
    /// Self-service sign-up is on.
    pub signup: bool,
}

impl<S: Send + Sync> FromRequestParts<S> for Session {
    type Rejection = WebError;
    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, WebError> {
        parts
            .extensions
            .get::<Session>()
            .cloned()
            .ok_or(WebError::Internal)
    }
}

impl Session {
    pub fn tr(&self) -> Tr {
        self.lang.tr()
    }

    /// The signed-in user whose role may use `area`: a guest is sent to
    /// sign in, another role gets the 403 page.
    pub fn require(&self, area: Area) -> Result<&Identity, WebError> {
        let Some(user) = &self.user else {
            return Err(WebError::SignIn(self.here.clone()));
        };
        if area.allows(user.role) {
            Ok(user)
        } else {
            Err(WebError::Forbidden)
        }
    }

    pub fn role(&self) -> Option<Role> {
        self.user.as_ref().map(|u| u.role)
    }

    pub fn may(&self, area: Area) -> bool {
        self.role().is_some_and(|r| area.allows(r))
    }

    /// The header, navigation and switches of a page; `title_key` is a
    /// string key. Signed-in pages show the unread notification count and
    /// the current tenant (with a switch when there are several).
    pub async fn chrome(&self, title_key: &str) -> Chrome {
        let (unread, tenants) = match &self.user {
            Some(_) => {
                let (unread, tenants) = tokio::join!(
                    self.api.get("/api/notifications?unread_only=true&limit=1"),
                    self.api.get("/api/users/tenants"),
                );
                let unread = unread
                    .ok()
                    .and_then(|v| v["unread_count"].as_i64())
                    .unwrap_or(0);
                (
                    unread,
                    tenants.map(|v| tenant_options(&v)).unwrap_or_default(),
                )
            }
            None => (0, Vec::new()),
        };
        let mut chrome = self.chrome_with(title_key, unread);
        chrome.tenant_name = tenants.iter().find(|t| t.current).map(|t| t.name.clone());
        chrome.tenants = tenants;
        chrome
    }

    /// The chrome without any API call (error pages).
    pub fn chrome_with(&self, title_key: &str, unread: i64) -> Chrome {
        let tr = self.tr();
        let current = self.here.split('?').next().unwrap_or("/");
        let nav = access::nav_for(self.role())
            .map(|n| NavLink {
                href: n.href,
                label: tr.t(&format!("nav.{}", n.key)).to_owned(),
                active: if n.href == "/" {
                    current == "/"
                } else {
                    current == n.href || current.starts_with(&format!("{}/", n.href))
                },
            })
            .collect();
        let other = self.lang.other();
        Chrome {
            title: tr.t(title_key).to_owned(),
            lang: self.lang.code(),
            csrf: self.csrf.clone(),
            user_email: self.user.as_ref().map(|u| u.email.clone()),
            user_role: self
                .user
                .as_ref()
                .map(|u| tr.t(&format!("role.{}", u.role.as_str())).to_owned()),
            nav,
            unread,
            switch_href: format!("/lang/{}?next={}", other.code(), urlencode(&self.here)),
            switch_label: tr.t("lang.switch").to_owned(),
            css: assets::css_path(),
            js: assets::js_path(),
            signup: self.signup,
            tenant_name: None,
            tenants: Vec::new(),
            tr,
        }
    }
}

/// One of the signed-in user's tenants, for the header's switch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TenantOption {
    pub id: String,
    pub name: String,
    pub current: bool,
}

/// The tenants of a `GET /api/users/tenants` answer.
pub fn tenant_options(answer: &Value) -> Vec<TenantOption> {
    answer["tenants"]
        .as_array()
        .map(|all| {
            all.iter()
                .filter_map(|t| {
                    Some(TenantOption {
                        id: t["id"].as_str()?.to_owned(),
                        name: t["name"].as_str()?.to_owned(),
                        current: t["current"].as_bool().unwrap_or(false),
                    })
                })
                .collect()
        })
        .unwrap_or_default()
}

pub struct NavLink {
    pub href: &'static str,
    pub label: String,
    pub active: bool,
}

/// What `base.html` needs.
pub struct Chrome {
    pub tr: Tr,
    pub title: String,
    pub lang: &'static str,
    pub csrf: String,
    pub user_email: Option<String>,
    pub user_role: Option<String>,
    pub nav: Vec<NavLink>,
    pub unread: i64,
    pub switch_href: String,
    pub switch_label: String,
    pub css: &'static str,
    pub js: &'static str,
    /// Self-service sign-up is on: the header links to it.
    pub signup: bool,
    /// The signed-in user's current tenant.
    pub tenant_name: Option<String>,
    /// Their tenants; the header offers a switch when there are several.
    pub tenants: Vec<TenantOption>,
}

impl Chrome {
    pub fn t<'a>(&'a self, key: &'a str) -> &'a str {
        self.tr.t(key)
    }
    pub fn money(&self, amount: &str, currency: &str) -> String {
        format::money(amount, currency, self.tr.lang)
    }
    pub fn num(&self, n: &str) -> String {
        format::number(n, self.tr.lang)
    }
    pub fn qty(&self, n: &str) -> String {
        format::quantity(n, self.tr.lang)
    }
    pub fn date(&self, d: &str) -> String {
        format::date(d, self.tr.lang)
    }
    pub fn datetime(&self, d: &str) -> String {
        format::datetime(d, self.tr.lang)
    }
    /// An item kind (`raw_material`, ...) in this language.
    pub fn kind(&self, k: &str) -> String {
        self.tr.t(&format!("factory.kind.{k}")).to_owned()
    }
    /// A status word (`pending`, `shipped`, ...) in this language.
    pub fn status(&self, s: &str) -> String {
        let key = format!("status.{s}");
        if self.tr.has(&key) {
            self.tr.t(&key).to_owned()
        } else {
            s.to_owned()
        }
    }
}

/// Renders a template as a page. Pages are personal: never cached.
pub fn render(t: &impl Template) -> Response {
    match t.render() {
        Ok(html) => (
            [(header::CACHE_CONTROL, HeaderValue::from_static("no-store"))],
            Html(html),
        )
            .into_response(),
        Err(e) => {
            tracing::error!(error = %e, "template failed");
            WebError::Internal.into_response()
        }
    }
}

/// A refusal of what a form sent (400, 409, 422): shown next to the form,
/// not as an error page.
pub fn is_input_error(f: &ApiFail) -> bool {
    matches!(f.status.as_u16(), 400 | 409 | 422)
}

/// The answer to a form post: `ok` (a redirect, see [`done`]) when the API
/// took it; when the service refused the input, the form again, rendered
/// by `again` with the field errors, in the refusal's status; anything else
/// the error page.
pub async fn form_answer<T, Fut>(
    sent: Result<T, ApiFail>,
    ok: impl FnOnce() -> Response,
    again: impl FnOnce(FieldErrors) -> Fut,
) -> PageResult
where
    Fut: Future<Output = PageResult>,
{
    match sent {
        Ok(_) => Ok(ok()),
        Err(f) if is_input_error(&f) => {
            let mut res = again(FieldErrors::from_fail(&f)).await?;
            *res.status_mut() = f.status;
            Ok(res)
        }
        Err(f) => Err(f.into()),
    }
}

/// Back to `to` after a form (post/redirect/get), with a message key.
pub fn done(to: &str, flash: &str) -> Response {
    let sep = if to.contains('?') { '&' } else { '?' };
    see_other(&format!("{to}{sep}done={flash}"))
}

/// A 303 to a local `location`. Bytes a header cannot carry (controls,
/// spaces, non-ASCII, e.g. from an id in the path) are percent-encoded
/// rather than left to `Redirect::to`, which panics on them.
pub fn see_other(location: &str) -> Response {
    let mut safe = String::with_capacity(location.len());
    for b in location.bytes() {
        if b.is_ascii_graphic() {
            safe.push(b as char);
        } else {
            safe.push_str(&format!("%{b:02X}"));
        }
    }
    Redirect::to(&safe).into_response()
}

/// A flash message from `?done=<key>`, if it names a known one.
pub fn flash(tr: &Tr, done: Option<&str>) -> Option<String> {
    let key = format!("flash.{}", done?);
    tr.has(&key).then(|| tr.t(&key).to_owned())
}

/// Errors people can act on. The session layer turns the marker this
/// leaves into a full page in the user's language.
#[derive(Debug, Clone)]
pub enum WebError {
    /// Not signed in (or the session ended): to the sign-in page, then back.
    SignIn(String),
    Forbidden,
    NotFound,
    /// A service is down or busy; the message says which when known.
    Unavailable(String),
    /// The form was posted without a valid CSRF token.
    Csrf,
    /// A failure the user can only report (never with internals).
    Internal,
    /// An API refusal to show as it is (e.g. 409 on an action button).
    Refused(String),
    /// A request no page of ours makes (e.g. a `next` that leaves the site).
    BadRequest,
}

impl From<ApiFail> for WebError {
    fn from(f: ApiFail) -> Self {
        match f.status.as_u16() {
            401 => WebError::SignIn("/".into()),
            403 => WebError::Forbidden,
            404 => WebError::NotFound,
            429 | 502..=504 => WebError::Unavailable(f.message),
            500..=599 => WebError::Internal,
            _ => WebError::Refused(f.message),
        }
    }
}

/// The marker an error response carries to the session layer.
#[derive(Debug, Clone)]
pub struct ErrorPage(pub WebError);

impl WebError {
    pub fn status(&self) -> StatusCode {
        match self {
            WebError::SignIn(_) => StatusCode::SEE_OTHER,
            WebError::Forbidden | WebError::Csrf => StatusCode::FORBIDDEN,
            WebError::NotFound => StatusCode::NOT_FOUND,
            WebError::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            WebError::Internal => StatusCode::INTERNAL_SERVER_ERROR,
            WebError::Refused(_) => StatusCode::CONFLICT,
            WebError::BadRequest => StatusCode::BAD_REQUEST,
        }
    }
}

impl IntoResponse for WebError {
    fn into_response(self) -> Response {
        if let WebError::SignIn(next) = &self {
            return see_other(&format!("/login?next={}", urlencode(next)));
        }
        let mut res = self.status().into_response();
        res.extensions_mut().insert(ErrorPage(self));
        res
    }
}

pub type PageResult = Result<Response, WebError>;

/// Percent-encodes a query value.
pub fn urlencode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' | b'/' => {
                out.push(b as char)
            }
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

/// A local path to go back to after sign-in or a language switch; none
/// given is the start page. Anything but a path on this site is a 400:
/// a scheme or `//host` (another site), a backslash (which browsers read
/// as `/`, so `/\host` is `//host`), and any control character, which
/// browsers drop (`/<TAB>/host` is `//host`) or which would split the
/// `Location` header (`%0a`). Only printable ASCII gets through, so the
/// path is a valid header value as it is.
pub fn safe_next(next: Option<&str>) -> Result<String, WebError> {
    let n = match next {
        None | Some("") => return Ok("/".to_owned()),
        Some(n) => n,
    };
    let local = n.starts_with('/')
        && !n.starts_with("//")
        && n.bytes().all(|b| b.is_ascii_graphic() && b != b'\\');
    if local {
        Ok(n.to_owned())
    } else {
        tracing::info!("refused a next= that is not a local path");
        Err(WebError::BadRequest)
    }
}

/// A url-encoded form, with repeated fields (the journal line editor).
pub struct FormData(pub Vec<(String, String)>);

impl FormData {
    pub fn get(&self, name: &str) -> &str {
        self.0
            .iter()
            .find(|(k, _)| k == name)
            .map_or("", |(_, v)| v.trim())
    }
    pub fn opt(&self, name: &str) -> Option<String> {
        Some(self.get(name))
            .filter(|s| !s.is_empty())
            .map(str::to_owned)
    }
    pub fn all(&self, name: &str) -> Vec<String> {
        self.0
            .iter()
            .filter(|(k, _)| k == name)
            .map(|(_, v)| v.trim().to_owned())
            .collect()
    }
}

impl<S: Send + Sync> FromRequest<S> for FormData {
    type Rejection = WebError;
    async fn from_request(req: Request, state: &S) -> Result<Self, WebError> {
        let bytes = bytes::Bytes::from_request(req, state)
            .await
            .map_err(|_| WebError::Refused("the form could not be read".into()))?;
        serde_urlencoded::from_bytes::<Vec<(String, String)>>(&bytes)
            .map(FormData)
            .map_err(|_| WebError::Refused("the form could not be read".into()))
    }
}

/// A string field of an API object ("" when absent; numbers as text).
pub fn text(v: &Value, key: &str) -> String {
    match &v[key] {
        Value::String(s) => s.clone(),
        Value::Null => String::new(),
        other => other.to_string(),
    }
}

/// Field errors of a form: the API's message next to the field it named.
#[derive(Default, Clone)]
pub struct FieldErrors {
    pub field: Option<String>,
    pub message: Option<String>,
}

impl FieldErrors {
    pub fn from_fail(f: &ApiFail) -> Self {
        Self {
            field: f.field.clone(),
            message: Some(f.message.clone()),
        }
    }
    /// The message to show next to `field`.
    pub fn at(&self, field: &str) -> &str {
        match (&self.field, &self.message) {
            (Some(f), Some(m)) if f == field => m,
            _ => "",
        }
    }
    /// The message for the whole form when no shown field was named.
    pub fn general(&self, shown: &[&str]) -> &str {
        match (&self.field, &self.message) {
            (Some(f), Some(_)) if shown.contains(&f.as_str()) => "",
            (_, Some(m)) => m,
            _ => "",
        }
    }
}

/// Previous/next links over a paginated API list (`page`, `limit`,
/// `total` in its answer), keeping the page's other query parameters.
pub struct Pager {
    pub page: u64,
    pub pages: u64,
    pub prev: Option<String>,
    pub next: Option<String>,
}

impl Pager {
    /// `base` is the page's path with its other parameters already in the
    /// query (e.g. `/orders?status=paid&`), ending in `?` or `&`.
    pub fn new(base: &str, page: u64, limit: u64, total: u64) -> Self {
        let pages = total.div_ceil(limit.max(1)).max(1);
        let page = page.clamp(1, pages);
        let link = |n: u64| format!("{base}page={n}");
        Self {
            page,
            pages,
            prev: (page > 1).then(|| link(page - 1)),
            next: (page < pages).then(|| link(page + 1)),
        }
    }

    /// Whether there is more than one page to move between.
    pub fn shown(&self) -> bool {
        self.pages > 1
    }
}

#[cfg(test)]
mod pager_tests {
    use super::Pager;

    #[test]
    fn links_stay_within_the_pages() {
        let p = Pager::new("/orders?status=paid&", 1, 50, 120);
        assert_eq!((p.page, p.pages), (1, 3));
        assert_eq!(p.prev, None);
        assert_eq!(p.next.as_deref(), Some("/orders?status=paid&page=2"));
        let p = Pager::new("/orders?", 9, 50, 120);
        assert_eq!(p.page, 3);
        assert_eq!(p.prev.as_deref(), Some("/orders?page=2"));
        assert_eq!(p.next, None);
        assert!(!Pager::new("/orders?", 1, 50, 0).shown());
    }
}

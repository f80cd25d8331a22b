//! The web UI of Marimo ERP, served by the gateway at `/`.
//!
//! Server-rendered HTML (askama templates in `templates/`, checked at
//! compile time), one small stylesheet and one small script embedded in
//! the binary, English and Russian (`i18n/`). No build step besides cargo.
//!
//! Every page reads and writes through the public API, in process, through
//! the gateway's own `/api` router ([`api`]): the roles, limits and
//! validation are the API's. The UI additionally hides what a role cannot
//! use and refuses those pages ([`access`]).
//!
//! Modules:
//! - [`session`]: the layer around every page (tokens in cookies,
//!   transparent refresh, CSRF, language, error pages, CSP).
//! - [`page`]: what handlers work with (session, chrome, errors, forms).
//! - [`screens`]: one module per screen, thin: call the API, fill a template.
//! - [`i18n`], [`format`](mod@format): strings and per-locale numbers, money, dates.
//! - [`charts`]: the dashboard's SVG charts, drawn on the server.
//! - [`api`], [`cookies`], [`csrf`], [`assets`].

pub mod access;
pub mod api;
pub mod assets;
pub mod charts;
pub mod cookies;
pub mod csrf;
pub mod format;
pub mod i18n;
pub mod page;
pub mod screens;
pub mod session;

use std::{net::IpAddr, sync::Arc};

use axum::{
    Router, middleware,
    routing::{any, get, post},
};
use marimo_platform::auth::JwtKeys;

use crate::csrf::CsrfKey;

/// Says whether a peer address is a trusted proxy (`TRUSTED_PROXIES`).
pub type TrustedProxy = Arc<dyn Fn(IpAddr) -> bool + Send + Sync>;

/// What the UI is built with.
pub struct WebConfig {
    /// The gateway's `/api` router (state applied): pages call the APIs
    /// through it.
    pub api: Router,
    pub jwt: Arc<JwtKeys>,
    /// `JWT_SECRET`; the CSRF key is derived from it.
    pub secret: Vec<u8>,
    /// Self-service sign-up is on (`MARIMO_SIGNUP`): the sign-up page and
    /// its link are shown.
    pub signup: bool,
    pub trusted_proxy: TrustedProxy,
}

/// The UI's shared state.
#[derive(Clone)]
pub struct Web(Arc<Inner>);

struct Inner {
    api: Router,
    jwt: Arc<JwtKeys>,
    csrf: CsrfKey,
    signup: bool,
    trusted_proxy: TrustedProxy,
    /// Recent rotations by the refresh token they used and the client that
    /// presented it (SHA-256 of both): two page loads of one browser (two
    /// tabs) that both find the access token expired share one rotation
    /// instead of the second presenting a just-used token, which the users
    /// service treats as theft and answers by ending the session. Another
    /// client replaying the same old token misses this cache, so its
    /// request reaches the users service, which sees the reuse and
    /// revokes the family, instead of receiving the owner's new tokens.
    refreshes: moka::future::Cache<String, serde_json::Value>,
}

impl Web {
    pub fn new(cfg: WebConfig) -> Self {
        Self(Arc::new(Inner {
            api: cfg.api,
            jwt: cfg.jwt,
            csrf: CsrfKey::derive(&cfg.secret),
            signup: cfg.signup,
            trusted_proxy: cfg.trusted_proxy,
            refreshes: moka::future::Cache::builder()
                .max_capacity(10_000)
                .time_to_live(std::time::Duration::from_secs(10))
                .build(),
        }))
    }

    /// Rotates the session of refresh token `rt` once, however many page
    /// loads of the same browser (`client`) ask at the same moment (see
    /// `refreshes`).
    pub async fn refresh(
        &self,
        api: &api::Api,
        rt: &str,
        client: &session::Client,
    ) -> Result<serde_json::Value, Arc<api::ApiFail>> {
        use sha2::{Digest, Sha256};
        let mut h = Sha256::new();
        h.update((rt.len() as u64).to_be_bytes());
        h.update(rt.as_bytes());
        h.update(client.key().as_bytes());
        let key = hex::encode(h.finalize());
        self.0
            .refreshes
            .try_get_with(key, async {
                api.post(
                    "/api/users/refresh",
                    serde_json::json!({ "refresh_token": rt }),
                )
                .await
            })
            .await
    }
    pub fn api(&self) -> Router {
        self.0.api.clone()
    }
    pub fn jwt(&self) -> &JwtKeys {
        &self.0.jwt
    }
    pub fn csrf(&self) -> &CsrfKey {
        &self.0.csrf
    }
    pub fn signup(&self) -> bool {
        self.0.signup
    }
    pub fn is_secure(&self, req: &axum::extract::Request) -> bool {
        session::came_over_tls(req, &*self.0.trusted_proxy)
    }
    /// The host the browser addressed: `Host`, or, from a trusted proxy
    /// that rewrote it, that proxy's `X-Forwarded-Host`.
    pub fn public_host(&self, req: &axum::extract::Request) -> Option<String> {
        session::public_host(req, &*self.0.trusted_proxy)
    }
}

/// The UI's routes: pages (inside the session layer) and the assets.
/// Unknown paths get the 404 page, except under `/api/`, which keeps the
/// API's JSON 404.
pub fn router(cfg: WebConfig) -> Router {
    use screens::*;
    let web = Web::new(cfg);
    let pages = Router::new()
        .route("/", get(dashboard::show))
        .route("/login", get(auth::login_form).post(auth::login))
        .route("/register", get(auth::register_form).post(auth::register))
        .route("/signup", get(auth::signup_form).post(auth::signup))
        .route("/tenant", post(auth::switch_tenant))
        .route("/logout", post(auth::logout))
        .route("/lang/{code}", get(auth::switch_language))
        .route("/shop", get(shop::catalog))
        .route("/shop/cart", get(shop::cart))
        .route("/shop/cart/add", post(shop::add_to_cart))
        .route("/shop/cart/update", post(shop::update_cart))
        .route("/shop/checkout", post(shop::checkout))
        .route("/shop/manage", get(shop::manage))
        .route("/shop/manage/products", post(shop::create_product))
        .route("/shop/manage/products/{id}/restock", post(shop::restock))
        .route("/shop/manage/products/{id}/price", post(shop::change_price))
        .route(
            "/shop/manage/products/{id}/{action}",
            post(shop::set_active),
        )
        .route("/orders", get(orders::mine))
        .route("/orders/manage", get(orders::manage))
        .route("/orders/{id}", get(orders::show))
        .route("/orders/{id}/{action}", post(orders::act))
        .route("/users", get(users::list))
        .route("/users/role", post(users::assign_role))
        .route("/users/{id}/{action}", post(users::set_active))
        .route("/accounting", get(accounting::journal))
        .route("/accounting/entries", post(accounting::post_entry))
        .route(
            "/accounting/entries/{id}/reverse",
            post(accounting::reverse),
        )
        .route(
            "/accounting/accounts",
            get(accounting::accounts).post(accounting::create_account),
        )
        .route("/accounting/reports/{kind}", get(accounting::report))
        .route(
            "/accounting/reports/{kind}/csv",
            get(accounting::report_csv),
        )
        .route("/accounting/inventory", get(accounting::inventory))
        .route("/accounting/periods", get(accounting::periods))
        .route("/accounting/periods/close", post(accounting::close_period))
        .route("/factory", get(factory::index))
        .route("/factory/{tab}", get(factory::tab).post(factory::create))
        .route("/factory/stock/{kind}", post(factory::stock_move))
        .route(
            "/factory/work-orders/{id}/{action}",
            post(factory::work_order_action),
        )
        .route("/config", get(config::show).post(config::save))
        .route("/audit", get(audit::show))
        .route("/dead-letters", get(dead_letters::show))
        .route("/dead-letters/{queue}/replay", post(dead_letters::replay))
        .route("/notifications", get(notifications::show))
        .route("/notifications/read-all", post(notifications::read_all))
        .route("/notifications/{id}/read", post(notifications::read_one))
        .route("/{*rest}", any(errors::not_found))
        .layer(middleware::from_fn_with_state(web.clone(), session::layer))
        .with_state(web);
    Router::new()
        .route("/assets/{file}", get(assets::serve))
        .route("/favicon.ico", get(assets::favicon))
        .route("/api", any(errors::api_not_found))
        .route("/api/", any(errors::api_not_found))
        .route("/api/{*rest}", any(errors::api_not_found))
        .merge(pages)
}

//! HTTP handlers under `/api/config/...`: parse, authorize, call the
//! domain rules, the use cases (`app`) or the store, respond (`views`). Reads are for any signed-in user,
//! writes for admins. Every error is an [`ApiError`] in the one JSON
//! shape; no handler panics on any input.

use axum::{
    Router,
    extract::{Path, State},
    handler::Handler,
    http::{HeaderMap, HeaderValue, header},
    response::{IntoResponse, Response},
    routing::get,
};
use marimo_contracts::{
    Success,
    config::{ReferenceList, SettingList},
};
use marimo_platform::{
    ApiError, ApiResult,
    auth::{
        Authorized,
        policy::{Admins, SignedIn},
    },
    bus::Outbox,
    db::Db,
    http::cache_control,
    http::{Json, Query, extract::Page},
    money::Decimal,
};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::{
    ConfigError,
    app::{self, Outcome, SettingWrite},
    domain::{self, RefKind},
    events,
    store::{self, RefItem, Setting},
};

mod views;

#[derive(Clone)]
pub(crate) struct AppState {
    pub db: Db,
    pub outbox: Outbox,
}

fn shared() -> cache_control::Policy {
    cache_control::policy(cache_control::SHARED_NO_CACHE)
}

pub(crate) fn routes(state: AppState) -> Router {
    Router::new()
        // Reads answer every caller allowed to see them alike: the gateway
        // may share them per role (see platform http::cache_control).
        .route("/api/config", get(list.layer(shared())).post(create))
        .route("/api/config/", get(list.layer(shared())).post(create))
        .route(
            "/api/config/reference/{kind}",
            get(list_reference.layer(shared())).post(upsert_reference),
        )
        .route(
            "/api/config/{key}",
            get(show.layer(shared())).put(replace).delete(remove),
        )
        .route("/api/config/{key}/history", get(history.layer(shared())))
        .with_state(state)
}

/// The body of `POST /api/config` and `PUT /api/config/{key}`.
#[derive(Debug, Deserialize)]
struct SettingBody {
    key: Option<String>,
    value: Option<Value>,
    #[serde(rename = "type")]
    scope: Option<String>,
    value_type: Option<String>,
    description: Option<String>,
    version: Option<i64>,
}

fn if_match(headers: &HeaderMap) -> ApiResult<Option<i64>> {
    match headers.get(header::IF_MATCH) {
        None => Ok(None),
        Some(v) => {
            let s = v.to_str().map_err(|_| {
                ApiError::from(ConfigError::from(domain::Invalid::new(
                    "If-Match",
                    "If-Match must be a version, e.g. \"3\"",
                )))
            })?;
            domain::parse_if_match(s).map_err(|e| ConfigError::from(e).into())
        }
    }
}

/// Checks a body into a [`SettingWrite`] for `key`.
fn setting_write(key: &str, body: SettingBody, headers: &HeaderMap) -> ApiResult<SettingWrite> {
    let err = |e: domain::Invalid| ApiError::from(ConfigError::from(e));
    let key = domain::parse_key(key).map_err(err)?;
    let value = match &body.value {
        Some(v) => domain::value_text(v).map_err(err)?,
        None => {
            return Err(err(domain::Invalid::new("value", "value is required")));
        }
    };
    let scope = body
        .scope
        .as_deref()
        .map(str::parse::<domain::Scope>)
        .transpose()
        .map_err(err)?;
    let value_type = body
        .value_type
        .as_deref()
        .map(str::parse::<domain::ValueType>)
        .transpose()
        .map_err(err)?;
    let description = body
        .description
        .as_deref()
        .map(|d| domain::parse_text("description", d, domain::DESCRIPTION_MAX_CHARS, false))
        .transpose()
        .map_err(err)?;
    if body.version.is_some_and(|v| v < 1) {
        return Err(err(domain::Invalid::new("version", "version starts at 1")));
    }
    let expected = domain::expected_version(if_match(headers)?, body.version).map_err(err)?;
    Ok(SettingWrite {
        key,
        value,
        scope,
        value_type,
        description,
        expected,
    })
}

/// `ETag: "<version>"`, so a client can send it back as `If-Match`.
fn with_etag(version: i64, body: impl Serialize) -> Response {
    let mut res = Json(body).into_response();
    if let Ok(v) = HeaderValue::from_str(&format!("\"{version}\"")) {
        res.headers_mut().insert(header::ETAG, v);
    }
    res
}

fn written(setting: Setting, outcome: Outcome) -> Response {
    let message = match outcome {
        Outcome::Created => "configuration created",
        Outcome::Updated => "configuration updated",
        Outcome::Unchanged => "configuration unchanged",
    };
    with_etag(
        setting.version,
        json!({"success": true, "message": message, "config": setting}),
    )
}

// ------------------------------------------------------------ settings

async fn list(
    State(st): State<AppState>,
    _: Authorized<SignedIn>,
) -> ApiResult<Json<Success<SettingList>>> {
    let configs = store::list_settings(st.db.pool()).await?;
    Ok(Json(Success::new(SettingList {
        total: configs.len(),
        configs,
    })))
}

async fn show(
    State(st): State<AppState>,
    _: Authorized<SignedIn>,
    Path(key): Path<String>,
) -> ApiResult<Response> {
    let setting = match domain::parse_key(&key) {
        Ok(key) => store::get_setting(st.db.pool(), &key).await?,
        // A key that cannot exist is simply not found.
        Err(_) => None,
    };
    let Some(setting) = setting else {
        return Err(ConfigError::NotFound(key).into());
    };
    Ok(with_etag(setting.version, Success::new(setting)))
}

async fn create(
    State(st): State<AppState>,
    caller: Authorized<Admins>,
    headers: HeaderMap,
    Json(body): Json<SettingBody>,
) -> ApiResult<Response> {
    let Some(key) = body.key.clone() else {
        return Err(ConfigError::from(domain::Invalid::new("key", "key is required")).into());
    };
    let write = setting_write(&key, body, &headers)?;
    let (setting, outcome) = app::upsert(&st.db, &st.outbox, &write, Some(&caller.user_id)).await?;
    Ok(written(setting, outcome))
}

async fn replace(
    State(st): State<AppState>,
    caller: Authorized<Admins>,
    Path(key): Path<String>,
    headers: HeaderMap,
    Json(body): Json<SettingBody>,
) -> ApiResult<Response> {
    if body.key.as_deref().is_some_and(|k| k != key) {
        return Err(ConfigError::from(domain::Invalid::new(
            "key",
            "the body's key differs from the path's",
        ))
        .into());
    }
    let write = setting_write(&key, body, &headers)?;
    let (setting, outcome) = app::upsert(&st.db, &st.outbox, &write, Some(&caller.user_id)).await?;
    Ok(written(setting, outcome))
}

async fn remove(
    State(st): State<AppState>,
    caller: Authorized<Admins>,
    Path(key): Path<String>,
    headers: HeaderMap,
) -> ApiResult<Json<Value>> {
    if domain::parse_key(&key).is_err() {
        return Err(ConfigError::NotFound(key).into());
    }
    let expected = if_match(&headers)?;
    app::delete(&st.db, &st.outbox, &key, expected, Some(&caller.user_id)).await?;
    Ok(Json(
        json!({"success": true, "message": "configuration deleted"}),
    ))
}

async fn history(
    State(st): State<AppState>,
    _: Authorized<SignedIn>,
    Path(key): Path<String>,
    Query(page): Query<Page>,
) -> ApiResult<Json<Value>> {
    let (page_no, limit, offset) = page.resolve()?;
    let Ok(key) = domain::parse_key(&key) else {
        return Err(ConfigError::NotFound(key).into());
    };
    let total = store::history_count(st.db.pool(), &key).await?;
    if total == 0 {
        return Err(ConfigError::NotFound(key).into());
    }
    let history: Vec<Value> = store::history(st.db.pool(), &key, limit, offset)
        .await?
        .iter()
        .map(views::change)
        .collect();
    Ok(Json(json!({
        "success": true,
        "key": key,
        "history": history,
        "total": total,
        "page": page_no,
        "limit": limit,
    })))
}

// ------------------------------------------------------ reference data

fn ref_kind(kind: &str) -> ApiResult<RefKind> {
    RefKind::parse(kind).ok_or_else(|| {
        ApiError::not_found("no such reference data; one of: currencies, units, tax-rates")
    })
}

async fn list_reference(
    State(st): State<AppState>,
    _: Authorized<SignedIn>,
    Path(kind): Path<String>,
) -> ApiResult<Json<Success<ReferenceList>>> {
    let kind = ref_kind(&kind)?;
    let items = store::list_reference(st.db.pool(), kind).await?;
    let rows = items.iter().map(events::reference_item).collect();
    Ok(Json(Success::new(ReferenceList::new(
        events::contract_kind(kind),
        rows,
    ))))
}

#[derive(Debug, Deserialize)]
struct RefBody {
    code: Option<String>,
    name: Option<String>,
    minor_units: Option<i64>,
    rate: Option<Decimal>,
}

async fn upsert_reference(
    State(st): State<AppState>,
    caller: Authorized<Admins>,
    Path(kind): Path<String>,
    Json(body): Json<RefBody>,
) -> ApiResult<Json<Value>> {
    let kind = ref_kind(&kind)?;
    let err = |e: domain::Invalid| ApiError::from(ConfigError::from(e));
    let missing = |field: &'static str| err(domain::Invalid::required(field));
    let code = body.code.as_deref().ok_or_else(|| missing("code"))?;
    let name = domain::parse_text(
        "name",
        body.name.as_deref().unwrap_or(""),
        domain::NAME_MAX_CHARS,
        true,
    )
    .map_err(err)?;
    let updated_by = Some(caller.user_id.clone());
    let updated_at = marimo_platform::clock::now_text();
    let item = match kind {
        RefKind::Currencies => RefItem::Currency {
            code: domain::parse_currency_code(code).map_err(err)?,
            name,
            minor_units: domain::parse_minor_units(
                body.minor_units.ok_or_else(|| missing("minor_units"))?,
            )
            .map_err(err)?,
            updated_by,
            updated_at,
        },
        RefKind::Units => RefItem::Unit {
            code: domain::parse_ref_code(code).map_err(err)?,
            name,
            updated_by,
            updated_at,
        },
        RefKind::TaxRates => {
            let rate = body.rate.as_ref().ok_or_else(|| missing("rate"))?;
            let scaled = domain::parse_rate(rate).map_err(err)?;
            RefItem::TaxRate {
                code: domain::parse_ref_code(code).map_err(err)?,
                name,
                rate: domain::format_rate(scaled),
                rate_scaled: scaled,
                updated_by,
                updated_at,
            }
        }
    };
    app::upsert_reference(
        &st.db,
        &st.outbox,
        kind,
        &item,
        false,
        Some(&caller.user_id),
    )
    .await?;
    Ok(Json(json!({
        "success": true,
        "message": "reference data saved",
        "kind": kind.as_str(),
        "item": item,
    })))
}

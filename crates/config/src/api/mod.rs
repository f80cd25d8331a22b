//! HTTP handlers under `/api/v1/config/...`: parse, authorize, call the
//! domain rules, the use cases (`app`) or the store, respond (`views`).
//! Reads are for any signed-in user, writes for the installation's
//! operators (`Operators`: admins of the default tenant). Settings and
//! reference data are the installation's, shared by every tenant, so an
//! admin of another tenant may read but not change them
//! (docs/TENANCY.md). Every error is an [`ApiError`] in the one JSON
//! shape; no handler panics on any input.

use axum::{
    extract::{Path, State},
    http::{HeaderMap, HeaderValue, header},
    response::{IntoResponse, Response},
};
use marimo_contracts::{
    Success,
    config::{ReferenceList, Setting as SettingView, SettingList},
};
use marimo_platform::{
    ApiError, ApiResult,
    auth::{
        Authorized,
        policy::{Operators, SignedIn},
    },
    bus::Outbox,
    db::Db,
    http::cache_control,
    http::{Json, Query, extract::Page},
    money::Decimal,
    openapi::{self, Done, ErrorBody, PageFields},
};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::ToSchema;
use utoipa_axum::{
    router::{OpenApiRouter, UtoipaMethodRouter},
    routes,
};

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

/// Reads answer every caller allowed to see them alike: the gateway may
/// share them per role (see platform http::cache_control).
fn shared(r: UtoipaMethodRouter<AppState>) -> UtoipaMethodRouter<AppState> {
    let (schemas, paths, method_router) = r;
    (
        schemas,
        paths,
        method_router.layer(cache_control::policy(cache_control::SHARED_NO_CACHE)),
    )
}

/// The service's routes with their OpenAPI document (`utoipa-axum`: a
/// route and its spec entry are registered together).
pub(crate) fn routes(state: AppState) -> OpenApiRouter {
    OpenApiRouter::with_openapi(openapi::document(
        "config",
        "Central configuration: typed settings with history and optimistic concurrency (`ETag` / `If-Match`), and reference data (currencies, units, tax rates). Reads for any signed-in user, writes for admins.",
    ))
    .routes(shared(routes!(list)))
    .routes(routes!(create))
    .routes(shared(routes!(list_slash)))
    .routes(routes!(create_slash))
    .routes(shared(routes!(list_reference)))
    .routes(routes!(upsert_reference))
    .routes(shared(routes!(show)))
    .routes(routes!(replace, remove))
    .routes(shared(routes!(history)))
    .with_state(state)
}

/// The body of `POST /api/v1/config` and `PUT /api/v1/config/{key}`.
/// Unknown fields are refused.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"key": "support_email", "value": "help@example.com", "type": "app", "value_type": "string", "description": "Where customers write to"}))]
struct SettingBody {
    /// Required on POST; on PUT, if sent, equal to the path's key.
    /// Lower case letters, digits, `_`, `.` and `-`.
    #[schema(example = "support_email")]
    key: Option<String>,
    /// Required: text, a number or a boolean, checked against `value_type`.
    value: Option<Value>,
    /// The scope (`system`, `app`, ...), the original API's `type`.
    #[serde(rename = "type")]
    scope: Option<String>,
    /// `string`, `int`, `decimal`, `bool`, `json` or `secret`.
    value_type: Option<String>,
    description: Option<String>,
    /// The version this write replaces (or send `If-Match`); a stale one
    /// is 409.
    #[schema(minimum = 1)]
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
        views::Written {
            success: true,
            message: message.to_owned(),
            config: setting,
        },
    )
}

// ------------------------------------------------------------ settings

/// Every setting, by key (secrets masked).
#[utoipa::path(
    get,
    path = "/api/v1/config",
    responses((status = 200, description = "The settings.", body = Success<SettingList>)),
)]
async fn list(
    st: State<AppState>,
    caller: Authorized<SignedIn>,
) -> ApiResult<Json<Success<SettingList>>> {
    list_settings(st, caller).await
}

/// Every setting (the original API's spelling, with a slash).
#[utoipa::path(
    get,
    path = "/api/v1/config/",
    responses((status = 200, description = "The settings.", body = Success<SettingList>)),
)]
async fn list_slash(
    st: State<AppState>,
    caller: Authorized<SignedIn>,
) -> ApiResult<Json<Success<SettingList>>> {
    list_settings(st, caller).await
}

async fn list_settings(
    State(st): State<AppState>,
    _: Authorized<SignedIn>,
) -> ApiResult<Json<Success<SettingList>>> {
    let configs = store::list_settings(st.db.pool()).await?;
    Ok(Json(Success::new(SettingList {
        total: configs.len(),
        configs,
    })))
}

/// One setting at the top level, with its version as `ETag`.
#[utoipa::path(
    get,
    path = "/api/v1/config/{key}",
    params(("key" = String, Path, description = "The setting's key.")),
    responses((status = 200, description = "The setting.", body = Success<SettingView>, headers(("ETag" = String, description = "`\"<version>\"`, for `If-Match`.")))),
)]
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

/// Creates or replaces a setting (the original API's upsert). Operators only.
#[utoipa::path(
    post,
    path = "/api/v1/config",
    params(("If-Match" = Option<String>, Header, description = "The version this write replaces, `\"3\"`.")),
    request_body = SettingBody,
    responses(
        (status = 200, description = "Written.", body = views::Written, headers(("ETag" = String, description = "The new version."))),
        (status = 409, description = "The version is stale.", body = ErrorBody),
    ),
)]
async fn create(
    st: State<AppState>,
    caller: Authorized<Operators>,
    headers: HeaderMap,
    body: Json<SettingBody>,
) -> ApiResult<Response> {
    create_setting(st, caller, headers, body).await
}

/// Creates or replaces a setting (the original API's spelling, with a
/// slash). Operators only.
#[utoipa::path(
    post,
    path = "/api/v1/config/",
    params(("If-Match" = Option<String>, Header, description = "The version this write replaces, `\"3\"`.")),
    request_body = SettingBody,
    responses(
        (status = 200, description = "Written.", body = views::Written, headers(("ETag" = String, description = "The new version."))),
        (status = 409, description = "The version is stale.", body = ErrorBody),
    ),
)]
async fn create_slash(
    st: State<AppState>,
    caller: Authorized<Operators>,
    headers: HeaderMap,
    body: Json<SettingBody>,
) -> ApiResult<Response> {
    create_setting(st, caller, headers, body).await
}

async fn create_setting(
    State(st): State<AppState>,
    caller: Authorized<Operators>,
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

/// Creates or replaces the setting `key`. Operators only.
#[utoipa::path(
    put,
    path = "/api/v1/config/{key}",
    params(
        ("key" = String, Path, description = "The setting's key."),
        ("If-Match" = Option<String>, Header, description = "The version this write replaces, `\"3\"`."),
    ),
    request_body = SettingBody,
    responses(
        (status = 200, description = "Written.", body = views::Written, headers(("ETag" = String, description = "The new version."))),
        (status = 409, description = "The version is stale.", body = ErrorBody),
    ),
)]
async fn replace(
    State(st): State<AppState>,
    caller: Authorized<Operators>,
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

/// Deletes a setting. Operators only.
#[utoipa::path(
    delete,
    path = "/api/v1/config/{key}",
    params(
        ("key" = String, Path, description = "The setting's key."),
        ("If-Match" = Option<String>, Header, description = "The version this delete expects, `\"3\"`."),
    ),
    responses(
        (status = 200, description = "Deleted.", body = Done),
        (status = 409, description = "The version is stale.", body = ErrorBody),
    ),
)]
async fn remove(
    State(st): State<AppState>,
    caller: Authorized<Operators>,
    Path(key): Path<String>,
    headers: HeaderMap,
) -> ApiResult<Json<Done>> {
    if domain::parse_key(&key).is_err() {
        return Err(ConfigError::NotFound(key).into());
    }
    let expected = if_match(&headers)?;
    app::delete(&st.db, &st.outbox, &key, expected, Some(&caller.user_id)).await?;
    Ok(Json(Done::new("configuration deleted")))
}

/// A setting's changes, newest first.
#[utoipa::path(
    get,
    path = "/api/v1/config/{key}/history",
    params(("key" = String, Path, description = "The setting's key."), Page),
    responses((status = 200, description = "A page of changes.", body = views::History)),
)]
async fn history(
    State(st): State<AppState>,
    _: Authorized<SignedIn>,
    Path(key): Path<String>,
    Query(page): Query<Page>,
) -> ApiResult<Json<views::History>> {
    let (page_no, limit, offset) = page.resolve()?;
    let Ok(key) = domain::parse_key(&key) else {
        return Err(ConfigError::NotFound(key).into());
    };
    let total = store::history_count(st.db.pool(), &key).await?;
    if total == 0 {
        return Err(ConfigError::NotFound(key).into());
    }
    let history = store::history(st.db.pool(), &key, limit, offset)
        .await?
        .iter()
        .map(views::change)
        .collect();
    Ok(Json(views::History {
        success: true,
        key,
        history,
        page: PageFields {
            total,
            page: page_no,
            limit,
        },
    }))
}

// ------------------------------------------------------ reference data

fn ref_kind(kind: &str) -> ApiResult<RefKind> {
    RefKind::parse(kind).ok_or_else(|| {
        ApiError::not_found("no such reference data; one of: currencies, units, tax-rates")
    })
}

/// The rows of one kind of reference data.
#[utoipa::path(
    get,
    path = "/api/v1/config/reference/{kind}",
    params(("kind" = String, Path, description = "`currencies`, `units` or `tax-rates`.")),
    responses((status = 200, description = "The rows, under the kind's own field name.", body = Success<ReferenceList>)),
)]
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

/// A reference row to create or replace. Unknown fields are refused.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"code": "EUR", "name": "Euro", "minor_units": 2}))]
struct RefBody {
    /// ISO 4217 for currencies; lower-case letters, digits, `_` and `-`
    /// otherwise.
    code: Option<String>,
    /// 1 to 200 characters.
    name: Option<String>,
    /// Currencies: decimal places of the minor unit (0 to 4).
    #[schema(minimum = 0, maximum = 4)]
    minor_units: Option<i64>,
    /// Tax rates: percent, 0 to 100.
    rate: Option<Decimal>,
}

/// Creates or replaces a reference row. Operators only.
#[utoipa::path(
    post,
    path = "/api/v1/config/reference/{kind}",
    params(("kind" = String, Path, description = "`currencies`, `units` or `tax-rates`.")),
    request_body = RefBody,
    responses((status = 200, description = "Saved.", body = views::RefSaved)),
)]
async fn upsert_reference(
    State(st): State<AppState>,
    caller: Authorized<Operators>,
    Path(kind): Path<String>,
    Json(body): Json<RefBody>,
) -> ApiResult<Json<views::RefSaved>> {
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
    Ok(Json(views::RefSaved {
        success: true,
        message: "reference data saved".to_owned(),
        kind: kind.as_str(),
        item,
    }))
}

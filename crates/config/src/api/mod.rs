//! HTTP handlers under `/api/v1/config/...`: parse, authorize, call the
//! domain rules, the use cases (`app`) or the store, respond (`views`).
//! Everything acts in the caller's tenant (docs/TENANCY.md). Reads are
//! for any signed-in user and answer the tenant's own rows, else the
//! installation defaults (the default tenant's). Writes are for the
//! tenant's admins (`Admins`) and change only their tenant's rows; the
//! default tenant's admins write the installation defaults. Two things
//! stay the installation operators' (`Operators`: admins of the default
//! tenant): the installation-only keys (`domain::INSTALLATION_KEYS`) and
//! the shared currencies. Every error is an [`ApiError`] in the one JSON
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
        Authorized, Caller,
        policy::{Admins, Operators, Policy, SignedIn},
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

/// 403 unless `caller` operates the installation: what every tenant
/// shares (installation-only keys, currencies) is not one tenant's admin's
/// to change.
fn require_operator(caller: &Caller) -> ApiResult<()> {
    if caller.tenant.is_default() {
        Ok(())
    } else {
        Err(ApiError::forbidden(Operators::DENIED))
    }
}

/// A tenant's admin writes any key but the installation-only ones.
fn may_write(caller: &Caller, key: &str) -> ApiResult<()> {
    if domain::is_installation_only(key) {
        require_operator(caller)
    } else {
        Ok(())
    }
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
    caller: Authorized<SignedIn>,
) -> ApiResult<Json<Success<SettingList>>> {
    let configs = app::settings(&st.db, &caller.tenant).await?;
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
    caller: Authorized<SignedIn>,
    Path(key): Path<String>,
) -> ApiResult<Response> {
    let setting = match domain::parse_key(&key) {
        Ok(key) => app::setting(&st.db, &caller.tenant, &key).await?,
        // A key that cannot exist is simply not found.
        Err(_) => None,
    };
    let Some(setting) = setting else {
        return Err(ConfigError::NotFound(key).into());
    };
    Ok(with_etag(setting.version, Success::new(setting)))
}

/// Creates or replaces a setting of the caller's tenant (the original
/// API's upsert). Admins; installation-only keys: the default tenant's
/// admins only.
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
    caller: Authorized<Admins>,
    headers: HeaderMap,
    body: Json<SettingBody>,
) -> ApiResult<Response> {
    create_setting(st, caller, headers, body).await
}

/// Creates or replaces a setting (the original API's spelling, with a
/// slash). Admins, as `POST /api/v1/config`.
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
    caller: Authorized<Admins>,
    headers: HeaderMap,
    body: Json<SettingBody>,
) -> ApiResult<Response> {
    create_setting(st, caller, headers, body).await
}

async fn create_setting(
    State(st): State<AppState>,
    caller: Authorized<Admins>,
    headers: HeaderMap,
    Json(body): Json<SettingBody>,
) -> ApiResult<Response> {
    let Some(key) = body.key.clone() else {
        return Err(ConfigError::from(domain::Invalid::new("key", "key is required")).into());
    };
    let write = setting_write(&key, body, &headers)?;
    may_write(&caller, &write.key)?;
    let (setting, outcome) = app::upsert(
        &st.db,
        &st.outbox,
        &caller.tenant,
        &write,
        Some(&caller.user_id),
    )
    .await?;
    Ok(written(setting, outcome))
}

/// Creates or replaces the caller's tenant's setting `key`. Admins;
/// installation-only keys: the default tenant's admins only.
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
    may_write(&caller, &write.key)?;
    let (setting, outcome) = app::upsert(
        &st.db,
        &st.outbox,
        &caller.tenant,
        &write,
        Some(&caller.user_id),
    )
    .await?;
    Ok(written(setting, outcome))
}

/// Deletes the caller's tenant's own setting (the tenant then reads the
/// installation default again). Admins; installation-only keys: the
/// default tenant's admins only.
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
    caller: Authorized<Admins>,
    Path(key): Path<String>,
    headers: HeaderMap,
) -> ApiResult<Json<Done>> {
    if domain::parse_key(&key).is_err() {
        return Err(ConfigError::NotFound(key).into());
    }
    may_write(&caller, &key)?;
    let expected = if_match(&headers)?;
    app::delete(
        &st.db,
        &st.outbox,
        &caller.tenant,
        &key,
        expected,
        Some(&caller.user_id),
    )
    .await?;
    Ok(Json(Done::new("configuration deleted")))
}

/// The changes of the caller's tenant's own setting, newest first (a key
/// it only inherits has none: 404).
#[utoipa::path(
    get,
    path = "/api/v1/config/{key}/history",
    params(("key" = String, Path, description = "The setting's key."), Page),
    responses((status = 200, description = "A page of changes.", body = views::History)),
)]
async fn history(
    State(st): State<AppState>,
    caller: Authorized<SignedIn>,
    Path(key): Path<String>,
    Query(page): Query<Page>,
) -> ApiResult<Json<views::History>> {
    let (page_no, limit, offset) = page.resolve()?;
    let Ok(key) = domain::parse_key(&key) else {
        return Err(ConfigError::NotFound(key).into());
    };
    let tenant = &caller.tenant;
    let mut tx = st
        .db
        .tenant(tenant)
        .read()
        .await
        .map_err(ConfigError::from)?;
    let total = store::history_count(&mut *tx, tenant, &key).await?;
    if total == 0 {
        return Err(ConfigError::NotFound(key).into());
    }
    let history = store::history(&mut *tx, tenant, &key, limit, offset)
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

/// The rows of one kind of reference data the caller's tenant sees: every
/// currency; the installation's units and tax rates with the tenant's own
/// in their place.
#[utoipa::path(
    get,
    path = "/api/v1/config/reference/{kind}",
    params(("kind" = String, Path, description = "`currencies`, `units` or `tax-rates`.")),
    responses((status = 200, description = "The rows, under the kind's own field name.", body = Success<ReferenceList>)),
)]
async fn list_reference(
    State(st): State<AppState>,
    caller: Authorized<SignedIn>,
    Path(kind): Path<String>,
) -> ApiResult<Json<Success<ReferenceList>>> {
    let kind = ref_kind(&kind)?;
    let items = app::reference(&st.db, &caller.tenant, kind).await?;
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

/// Creates or replaces a unit or tax rate of the caller's tenant (admins),
/// or a currency (shared by every tenant: the default tenant's admins
/// only).
#[utoipa::path(
    post,
    path = "/api/v1/config/reference/{kind}",
    params(("kind" = String, Path, description = "`currencies`, `units` or `tax-rates`.")),
    request_body = RefBody,
    responses((status = 200, description = "Saved.", body = views::RefSaved)),
)]
async fn upsert_reference(
    State(st): State<AppState>,
    caller: Authorized<Admins>,
    Path(kind): Path<String>,
    Json(body): Json<RefBody>,
) -> ApiResult<Json<views::RefSaved>> {
    let kind = ref_kind(&kind)?;
    if kind == RefKind::Currencies {
        require_operator(&caller)?;
    }
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
        &caller.tenant,
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

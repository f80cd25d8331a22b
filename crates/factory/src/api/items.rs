//! Items, units and warehouses.

use axum::{extract::State, http::StatusCode};
use marimo_platform::{
    ApiError, ApiResult, Invalid,
    auth::policy::{Authorized, ProductionManagers, Staff},
    http::{Json, Page, Query},
    invalid::required,
    money::Decimal,
    openapi::ErrorBody,
};
use serde::Deserialize;
use serde_json::json;
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::{router::OpenApiRouter, routes};

use super::{
    AppState, SkuPath,
    views::{
        self, ItemAnswer, ItemDetail, ItemDetailAnswer, ItemPage, UnitList, UnitView,
        WarehouseAnswer, WarehouseList,
    },
};
use crate::{
    domain::{
        items::{self, Category, Item, ItemChanges, Kind, ProductStatus},
        money, qty,
    },
    store::items::{self as store, ItemFilter},
};

pub(super) fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list, create))
        .routes(routes!(show, update))
        .routes(routes!(units))
        .routes(routes!(list_warehouses, create_warehouse))
}

/// What an item is for, as the document names it: the values of
/// `domain::items::Kind`, which parses them (a test keeps the two equal).
#[derive(serde::Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
#[allow(dead_code, reason = "a schema only: requests parse into Kind")]
pub(super) enum ItemKind {
    RawMaterial,
    Component,
    FinishedGood,
}

fn parse_kind(raw: &str) -> ApiResult<Kind> {
    raw.parse::<Kind>().map_err(|msg| {
        ApiError::validation(msg).with_details(json!({"field": "kind", "allowed": Kind::names()}))
    })
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub(super) struct ListQuery {
    /// Only items of this kind: `raw_material`, `component` or
    /// `finished_good` (empty: every kind).
    #[param(example = "raw_material")]
    kind: Option<String>,
    /// Only active (`true`) or inactive (`false`) items.
    active: Option<bool>,
}

/// Items by SKU, a page at a time.
#[utoipa::path(
    get,
    path = "/api/v1/factory/items",
    params(ListQuery, Page),
    responses((status = 200, description = "A page of items.", body = ItemPage)),
)]
async fn list(
    State(f): State<AppState>,
    Authorized(caller, _): Authorized<Staff>,
    Query(q): Query<ListQuery>,
    Query(page): Query<Page>,
) -> ApiResult<Json<ItemPage>> {
    let (page, limit, offset) = page.resolve()?;
    let filter = ItemFilter {
        kind: q
            .kind
            .as_deref()
            .filter(|k| !k.is_empty())
            .map(parse_kind)
            .transpose()?,
        active: q.active,
    };
    let mut tx = f.db.tenant(&caller.tenant).snapshot().await?;
    let (list, total) = store::list_items(&mut tx, &caller.tenant, &filter, limit, offset).await?;
    Ok(Json(ItemPage {
        success: true,
        items: list.iter().map(|i| views::item(i, &f.currency)).collect(),
        page: marimo_platform::openapi::PageFields { total, page, limit },
    }))
}

/// An item as a client writes it, to create or to change. On creation
/// `sku`, `name` and `kind` are required; on a change every field is
/// optional and the SKU, if sent, must be the item's own.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"sku": "STEEL", "name": "Steel sheet", "kind": "raw_material", "uom": "kg", "standard_cost": "2.50", "reorder_point": "100"}))]
pub(super) struct ItemBody {
    /// 1 to 64 of `A-Z 0-9 . _ -` (trimmed and upper-cased first); the
    /// item's key, never changed. Required on creation.
    #[schema(pattern = r"^\s*[A-Za-z0-9._-]{1,64}\s*$", example = "STEEL")]
    sku: Option<String>,
    /// 1 to 200 characters (after trimming), no control characters.
    /// Required on creation.
    #[schema(min_length = 1, max_length = 200)]
    name: Option<String>,
    /// Required on creation.
    #[schema(value_type = Option<ItemKind>)]
    kind: Option<String>,
    /// True for a bought item (kind `raw_material`) held to be sold as it
    /// is: its category is then `merchandise`. Default false.
    merchandise: Option<bool>,
    /// A unit's code (see `/units`; default `pcs`): 1 to 16 letters or
    /// digits. `unit` is accepted as another name of this field.
    #[serde(alias = "unit")]
    #[schema(pattern = r"^\s*[A-Za-z0-9]{1,16}\s*$", example = "kg")]
    uom: Option<String>,
    /// Per unit, base currency, not negative: a decimal string (or a
    /// JSON number). Default 0.
    #[schema(example = "2.50")]
    standard_cost: Option<Decimal>,
    /// Up to three places, not negative (decimal string or number).
    /// Default 0.
    #[schema(example = "100")]
    reorder_point: Option<Decimal>,
    /// Default true.
    active: Option<bool>,
}

/// What the body sets besides the SKU, validated.
fn changes(f: &AppState, body: &ItemBody) -> ApiResult<ItemChanges> {
    Ok(ItemChanges {
        name: body
            .name
            .as_deref()
            .map(|n| items::parse_name("name", n))
            .transpose()?,
        kind: body.kind.as_deref().map(parse_kind).transpose()?,
        merchandise: body.merchandise,
        uom: body.uom.as_deref().map(items::parse_unit).transpose()?,
        standard_cost: body
            .standard_cost
            .as_ref()
            .map(|d| money::cost(&f.currency, "standard_cost", d))
            .transpose()?,
        reorder_point: body
            .reorder_point
            .as_ref()
            .map(|d| qty::non_negative("reorder_point", d))
            .transpose()?,
        active: body.active,
    })
}

/// Creates an item (status `planned`).
#[utoipa::path(
    post,
    path = "/api/v1/factory/items",
    request_body = ItemBody,
    responses(
        (status = 201, description = "Created.", body = ItemAnswer),
        (status = 409, description = "The SKU is taken.", body = ErrorBody),
    ),
)]
async fn create(
    State(f): State<AppState>,
    Authorized(caller, _): Authorized<ProductionManagers>,
    Json(body): Json<ItemBody>,
) -> ApiResult<(StatusCode, Json<ItemAnswer>)> {
    let sku = items::parse_sku("sku", required("sku", body.sku.as_deref())?)?;
    let c = changes(&f, &body)?;
    let kind = required("kind", c.kind)?;
    Category::check_merchandise(kind, c.merchandise)?;
    let new = Item {
        sku,
        name: required("name", c.name)?,
        kind,
        category: Category::of(kind, c.merchandise.unwrap_or(false)),
        uom: c.uom.unwrap_or_else(|| "pcs".to_owned()),
        standard_cost: c.standard_cost.unwrap_or(0),
        reorder_point: c.reorder_point.unwrap_or(0),
        active: c.active.unwrap_or(true),
        status: ProductStatus::Planned,
    };
    let item = f.create_item(&caller.tenant, &caller.user_id, new).await?;
    tracing::info!(by = %caller.user_id, sku = %item.item.sku, "item created");
    Ok((
        StatusCode::CREATED,
        Json(ItemAnswer {
            success: true,
            item: views::item(&item, &f.currency),
        }),
    ))
}

/// An item with its on hand and its stock per warehouse.
#[utoipa::path(
    get,
    path = "/api/v1/factory/items/{sku}",
    params(("sku" = String, Path, description = "The item's SKU.", example = "STEEL")),
    responses((status = 200, description = "The item.", body = ItemDetailAnswer)),
)]
async fn show(
    State(f): State<AppState>,
    Authorized(caller, _): Authorized<Staff>,
    SkuPath(sku): SkuPath,
) -> ApiResult<Json<ItemDetailAnswer>> {
    let (item, levels) = f.item_with_stock(&caller.tenant, &sku).await?;
    let on_hand = levels.iter().map(|l| l.level.on_hand).sum();
    Ok(Json(ItemDetailAnswer {
        success: true,
        item: ItemDetail {
            item: views::item(&item, &f.currency),
            on_hand: qty::format(on_hand),
            stock: levels
                .iter()
                .map(|l| views::level(&l.sku, &l.warehouse, &l.level, &f.currency))
                .collect(),
        },
    }))
}

/// Changes an item's name, kind, unit, cost, reorder point or activity;
/// the SKU never changes.
#[utoipa::path(
    put,
    path = "/api/v1/factory/items/{sku}",
    params(("sku" = String, Path, description = "The item's SKU.", example = "STEEL")),
    request_body = ItemBody,
    responses(
        (status = 200, description = "Changed.", body = ItemAnswer),
        (status = 409, description = "The unit of an item with moves (`UOM_IN_USE`), or raw material for an item with a BOM (`ITEM_HAS_BOM`).", body = ErrorBody),
    ),
)]
async fn update(
    State(f): State<AppState>,
    Authorized(caller, _): Authorized<ProductionManagers>,
    SkuPath(sku): SkuPath,
    Json(body): Json<ItemBody>,
) -> ApiResult<Json<ItemAnswer>> {
    if let Some(other) = body.sku.as_deref() {
        // The SKU is the item's key in every move and BOM: it never changes.
        if items::parse_sku("sku", other).ok().as_deref() != Some(sku.as_str()) {
            return Err(Invalid::new("sku", "the SKU of an item cannot change").into());
        }
    }
    let changes = changes(&f, &body)?;
    let item = f
        .update_item(&caller.tenant, &caller.user_id, &sku, changes)
        .await?;
    Ok(Json(ItemAnswer {
        success: true,
        item: views::item(&item, &f.currency),
    }))
}

/// The units of measure items may use.
#[utoipa::path(
    get,
    path = "/api/v1/factory/units",
    responses((status = 200, description = "The units.", body = UnitList)),
)]
async fn units(
    State(f): State<AppState>,
    Authorized(caller, _): Authorized<Staff>,
) -> ApiResult<Json<UnitList>> {
    let mut tx = f.db.tenant(&caller.tenant).read().await?;
    let units = store::list_units(&mut *tx, &caller.tenant)
        .await?
        .into_iter()
        .map(|(code, name)| UnitView { code, name })
        .collect();
    Ok(Json(UnitList {
        success: true,
        units,
    }))
}

/// Every warehouse.
#[utoipa::path(
    get,
    path = "/api/v1/factory/warehouses",
    responses((status = 200, description = "The warehouses.", body = WarehouseList)),
)]
async fn list_warehouses(
    State(f): State<AppState>,
    Authorized(caller, _): Authorized<Staff>,
) -> ApiResult<Json<WarehouseList>> {
    let mut tx = f.db.tenant(&caller.tenant).read().await?;
    let warehouses = store::list_warehouses(&mut *tx, &caller.tenant)
        .await?
        .iter()
        .map(views::warehouse)
        .collect();
    Ok(Json(WarehouseList {
        success: true,
        warehouses,
    }))
}

/// A new warehouse.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"code": "EAST", "name": "East depot"}))]
pub(super) struct WarehouseBody {
    /// 1 to 32 of `A-Z 0-9 . _ -` (trimmed and upper-cased first).
    /// Required.
    #[schema(pattern = r"^\s*[A-Za-z0-9._-]{1,32}\s*$", example = "EAST")]
    code: Option<String>,
    /// 1 to 200 characters (after trimming). Required.
    #[schema(min_length = 1, max_length = 200)]
    name: Option<String>,
}

/// Creates a warehouse.
#[utoipa::path(
    post,
    path = "/api/v1/factory/warehouses",
    request_body = WarehouseBody,
    responses(
        (status = 201, description = "Created.", body = WarehouseAnswer),
        (status = 409, description = "The code is taken.", body = ErrorBody),
    ),
)]
async fn create_warehouse(
    State(f): State<AppState>,
    Authorized(caller, _): Authorized<ProductionManagers>,
    Json(body): Json<WarehouseBody>,
) -> ApiResult<(StatusCode, Json<WarehouseAnswer>)> {
    let code = items::parse_warehouse("code", &required("code", body.code)?)?;
    let name = items::parse_name("name", &required("name", body.name)?)?;
    let w = f
        .create_warehouse(&caller.tenant, &caller.user_id, &code, &name)
        .await?;
    Ok((
        StatusCode::CREATED,
        Json(WarehouseAnswer {
            success: true,
            warehouse: views::warehouse(&w),
        }),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_documented_kinds_are_the_parsed_ones() {
        let documented: Vec<String> = [
            ItemKind::RawMaterial,
            ItemKind::Component,
            ItemKind::FinishedGood,
        ]
        .iter()
        .map(|k| {
            serde_json::to_value(k)
                .unwrap()
                .as_str()
                .unwrap()
                .to_owned()
        })
        .collect();
        assert_eq!(documented, Kind::names());
    }
}

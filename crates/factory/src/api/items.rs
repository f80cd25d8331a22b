//! Items, units and warehouses.

use axum::{Router, extract::State, http::StatusCode, routing::get};
use marimo_platform::{
    ApiError, ApiResult, Invalid,
    auth::policy::{Authorized, ProductionManagers, Staff},
    http::{Json, Page, Query},
    invalid::required,
    money::Decimal,
};
use serde::Deserialize;
use serde_json::{Value, json};

use super::{AppState, SkuPath, views};
use crate::{
    domain::{
        items::{self, Item, ItemChanges, Kind, ProductStatus},
        money, qty,
    },
    store::items::{self as store, ItemFilter},
};

pub(super) fn routes() -> Router<AppState> {
    Router::new()
        .route("/api/factory/items", get(list).post(create))
        .route("/api/factory/items/{sku}", get(show).put(update))
        .route("/api/factory/units", get(units))
        .route(
            "/api/factory/warehouses",
            get(list_warehouses).post(create_warehouse),
        )
}

fn parse_kind(raw: &str) -> ApiResult<Kind> {
    raw.parse::<Kind>().map_err(|msg| {
        ApiError::validation(msg).with_details(json!({"field": "kind", "allowed": Kind::names()}))
    })
}

#[derive(Deserialize)]
pub(super) struct ListQuery {
    kind: Option<String>,
    active: Option<bool>,
}

async fn list(
    State(f): State<AppState>,
    _: Authorized<Staff>,
    Query(q): Query<ListQuery>,
    Query(page): Query<Page>,
) -> ApiResult<Json<Value>> {
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
    let (list, total) = store::list_items(f.db.pool(), &filter, limit, offset).await?;
    let items = list.iter().map(|i| views::item(i, &f.currency)).collect();
    Ok(Json(views::page("items", items, total, page, limit)))
}

/// An item as a client writes it, to create or to change. On creation
/// `sku`, `name` and `kind` are required; on a change every field is
/// optional and the SKU, if sent, must be the item's own.
#[derive(Deserialize)]
pub(super) struct ItemBody {
    sku: Option<String>,
    name: Option<String>,
    kind: Option<String>,
    #[serde(alias = "unit")]
    uom: Option<String>,
    standard_cost: Option<Decimal>,
    reorder_point: Option<Decimal>,
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

async fn create(
    State(f): State<AppState>,
    Authorized(caller, _): Authorized<ProductionManagers>,
    Json(body): Json<ItemBody>,
) -> ApiResult<(StatusCode, Json<Value>)> {
    let sku = items::parse_sku("sku", required("sku", body.sku.as_deref())?)?;
    let c = changes(&f, &body)?;
    let new = Item {
        sku,
        name: required("name", c.name)?,
        kind: required("kind", c.kind)?,
        uom: c.uom.unwrap_or_else(|| "pcs".to_owned()),
        standard_cost: c.standard_cost.unwrap_or(0),
        reorder_point: c.reorder_point.unwrap_or(0),
        active: c.active.unwrap_or(true),
        status: ProductStatus::Planned,
    };
    let item = f.create_item(&caller.user_id, new).await?;
    tracing::info!(by = %caller.user_id, sku = %item.item.sku, "item created");
    Ok((
        StatusCode::CREATED,
        Json(json!({"success": true, "item": views::item(&item, &f.currency)})),
    ))
}

async fn show(
    State(f): State<AppState>,
    _: Authorized<Staff>,
    SkuPath(sku): SkuPath,
) -> ApiResult<Json<Value>> {
    let (item, levels) = f.item_with_stock(&sku).await?;
    let on_hand = levels.iter().map(|l| l.level.on_hand).sum();
    let stock: Vec<Value> = levels
        .iter()
        .map(|l| views::level(&l.sku, &l.warehouse, &l.level, &f.currency))
        .collect();
    let mut body = views::item(&item, &f.currency);
    body["on_hand"] = json!(qty::format(on_hand));
    body["stock"] = json!(stock);
    Ok(Json(json!({"success": true, "item": body})))
}

async fn update(
    State(f): State<AppState>,
    Authorized(caller, _): Authorized<ProductionManagers>,
    SkuPath(sku): SkuPath,
    Json(body): Json<ItemBody>,
) -> ApiResult<Json<Value>> {
    if let Some(other) = body.sku.as_deref() {
        // The SKU is the item's key in every move and BOM: it never changes.
        if items::parse_sku("sku", other).ok().as_deref() != Some(sku.as_str()) {
            return Err(Invalid::new("sku", "the SKU of an item cannot change").into());
        }
    }
    let changes = changes(&f, &body)?;
    let item = f.update_item(&caller.user_id, &sku, changes).await?;
    Ok(Json(
        json!({"success": true, "item": views::item(&item, &f.currency)}),
    ))
}

async fn units(State(f): State<AppState>, _: Authorized<Staff>) -> ApiResult<Json<Value>> {
    let units: Vec<Value> = store::list_units(f.db.pool())
        .await?
        .into_iter()
        .map(|(code, name)| json!({"code": code, "name": name}))
        .collect();
    Ok(Json(json!({"success": true, "units": units})))
}

async fn list_warehouses(
    State(f): State<AppState>,
    _: Authorized<Staff>,
) -> ApiResult<Json<Value>> {
    let list: Vec<Value> = store::list_warehouses(f.db.pool())
        .await?
        .iter()
        .map(views::warehouse)
        .collect();
    Ok(Json(json!({"success": true, "warehouses": list})))
}

#[derive(Deserialize)]
pub(super) struct WarehouseBody {
    code: Option<String>,
    name: Option<String>,
}

async fn create_warehouse(
    State(f): State<AppState>,
    Authorized(caller, _): Authorized<ProductionManagers>,
    Json(body): Json<WarehouseBody>,
) -> ApiResult<(StatusCode, Json<Value>)> {
    let code = items::parse_warehouse("code", &required("code", body.code)?)?;
    let name = items::parse_name("name", &required("name", body.name)?)?;
    let w = f.create_warehouse(&caller.user_id, &code, &name).await?;
    Ok((
        StatusCode::CREATED,
        Json(json!({"success": true, "warehouse": views::warehouse(&w)})),
    ))
}

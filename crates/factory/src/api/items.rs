//! Items, units and warehouses.

use axum::{Router, extract::State, http::StatusCode, routing::get};
use marimo_platform::{
    ApiError, ApiResult,
    http::{Json, Query, extract::Page},
    money::Decimal,
};
use serde::Deserialize;
use serde_json::{Value, json};

use super::{AppState, Manager, Reader, SkuPath, invalid, required, views};
use crate::{
    ItemChanges, NewItem,
    domain::{
        Invalid,
        items::{self, Kind, ProductStatus},
        qty,
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
    page: Option<u32>,
    limit: Option<u32>,
    kind: Option<String>,
    active: Option<bool>,
}

async fn list(
    State(f): State<AppState>,
    _: Reader,
    Query(q): Query<ListQuery>,
) -> ApiResult<Json<Value>> {
    let (page, limit, offset) = Page {
        page: q.page,
        limit: q.limit,
    }
    .resolve()?;
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
    let items: Vec<Value> = list.iter().map(|i| views::item(i, &f.currency)).collect();
    Ok(Json(json!({
        "success": true,
        "items": items,
        "total": total,
        "page": page,
        "limit": limit,
    })))
}

#[derive(Deserialize)]
pub(super) struct CreateBody {
    sku: Option<String>,
    name: Option<String>,
    kind: Option<String>,
    #[serde(alias = "unit")]
    uom: Option<String>,
    standard_cost: Option<Decimal>,
    reorder_point: Option<Decimal>,
    active: Option<bool>,
}

async fn create(
    State(f): State<AppState>,
    Manager(caller): Manager,
    Json(body): Json<CreateBody>,
) -> ApiResult<(StatusCode, Json<Value>)> {
    let new = NewItem {
        sku: items::parse_sku("sku", &required("sku", body.sku)?).map_err(invalid)?,
        name: items::parse_name("name", &required("name", body.name)?).map_err(invalid)?,
        kind: parse_kind(&required("kind", body.kind)?)?,
        uom: items::parse_unit(body.uom.as_deref().unwrap_or("pcs")).map_err(invalid)?,
        standard_cost: body
            .standard_cost
            .map(|d| f.currency.cost("standard_cost", &d))
            .transpose()
            .map_err(invalid)?
            .unwrap_or(0),
        reorder_point: body
            .reorder_point
            .map(|d| qty::non_negative("reorder_point", &d))
            .transpose()
            .map_err(invalid)?
            .unwrap_or(0),
        active: body.active.unwrap_or(true),
        status: ProductStatus::Planned,
    };
    let item = f.create_item(&caller.user_id, new).await?;
    tracing::info!(by = %caller.user_id, sku = %item.sku, "item created");
    Ok((
        StatusCode::CREATED,
        Json(json!({"success": true, "item": views::item(&item, &f.currency)})),
    ))
}

async fn show(
    State(f): State<AppState>,
    _: Reader,
    SkuPath(sku): SkuPath,
) -> ApiResult<Json<Value>> {
    let pool = f.db.pool();
    let item = store::find_by_sku(pool, &sku)
        .await?
        .ok_or_else(|| ApiError::not_found("no such item"))?;
    let levels = crate::store::stock::list_levels(pool, &sku, "").await?;
    let on_hand: i64 = levels.iter().map(|l| l.level.on_hand).sum();
    let stock: Vec<Value> = levels
        .iter()
        .map(|l| views::level(&l.sku, &l.warehouse, &l.level, &f.currency))
        .collect();
    let mut body = views::item(&item, &f.currency);
    body["on_hand"] = json!(qty::format(on_hand));
    body["stock"] = json!(stock);
    Ok(Json(json!({"success": true, "item": body})))
}

#[derive(Deserialize)]
pub(super) struct UpdateBody {
    name: Option<String>,
    kind: Option<String>,
    #[serde(alias = "unit")]
    uom: Option<String>,
    standard_cost: Option<Decimal>,
    reorder_point: Option<Decimal>,
    active: Option<bool>,
    sku: Option<String>,
}

async fn update(
    State(f): State<AppState>,
    Manager(caller): Manager,
    SkuPath(sku): SkuPath,
    Json(body): Json<UpdateBody>,
) -> ApiResult<Json<Value>> {
    if let Some(other) = body.sku.as_deref() {
        // The SKU is the item's key in every move and BOM: it never changes.
        if items::parse_sku("sku", other).ok().as_deref() != Some(sku.as_str()) {
            return Err(invalid(Invalid::new(
                "sku",
                "the SKU of an item cannot change",
            )));
        }
    }
    let changes = ItemChanges {
        name: body
            .name
            .as_deref()
            .map(|n| items::parse_name("name", n))
            .transpose()
            .map_err(invalid)?,
        kind: body.kind.as_deref().map(parse_kind).transpose()?,
        uom: body
            .uom
            .as_deref()
            .map(items::parse_unit)
            .transpose()
            .map_err(invalid)?,
        standard_cost: body
            .standard_cost
            .map(|d| f.currency.cost("standard_cost", &d))
            .transpose()
            .map_err(invalid)?,
        reorder_point: body
            .reorder_point
            .map(|d| qty::non_negative("reorder_point", &d))
            .transpose()
            .map_err(invalid)?,
        active: body.active,
    };
    let item = f.update_item(&caller.user_id, &sku, changes).await?;
    Ok(Json(
        json!({"success": true, "item": views::item(&item, &f.currency)}),
    ))
}

async fn units(State(f): State<AppState>, _: Reader) -> ApiResult<Json<Value>> {
    let units: Vec<Value> = store::list_units(f.db.pool())
        .await?
        .into_iter()
        .map(|(code, name)| json!({"code": code, "name": name}))
        .collect();
    Ok(Json(json!({"success": true, "units": units})))
}

async fn list_warehouses(State(f): State<AppState>, _: Reader) -> ApiResult<Json<Value>> {
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
    Manager(caller): Manager,
    Json(body): Json<WarehouseBody>,
) -> ApiResult<(StatusCode, Json<Value>)> {
    let code = items::parse_warehouse("code", &required("code", body.code)?).map_err(invalid)?;
    let name = items::parse_name("name", &required("name", body.name)?).map_err(invalid)?;
    let w = f.create_warehouse(&caller.user_id, &code, &name).await?;
    Ok((
        StatusCode::CREATED,
        Json(json!({"success": true, "warehouse": views::warehouse(&w)})),
    ))
}

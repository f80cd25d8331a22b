//! Bills of materials.

use axum::{Router, extract::State, http::StatusCode, routing::get};
use marimo_platform::{
    ApiError, ApiResult, Invalid,
    auth::policy::{Authorized, ProductionManagers},
    http::{Json, Query},
    invalid::required,
    money::Decimal,
};
use serde::Deserialize;
use serde_json::{Value, json};

use super::{AppState, IdPath, positive_qty, views};
use crate::{
    NewBom,
    app::boms::duplicates,
    domain::{bom::Component, items, qty},
    store::boms as store,
};

/// Components one BOM may list.
const MAX_COMPONENTS: usize = 1000;

pub(super) fn routes() -> Router<AppState> {
    Router::new()
        .route("/api/factory/boms", get(list).post(create))
        .route("/api/factory/boms/{id}", get(show))
        .route("/api/factory/boms/{id}/explode", get(explode))
}

#[derive(Deserialize)]
pub(super) struct ComponentBody {
    sku: Option<String>,
    qty: Option<Decimal>,
}

#[derive(Deserialize)]
pub(super) struct CreateBody {
    product_sku: Option<String>,
    output_qty: Option<Decimal>,
    components: Option<Vec<ComponentBody>>,
}

async fn create(
    State(f): State<AppState>,
    Authorized(caller, _): Authorized<ProductionManagers>,
    Json(b): Json<CreateBody>,
) -> ApiResult<(StatusCode, Json<Value>)> {
    let product_sku = items::parse_sku("product_sku", &required("product_sku", b.product_sku)?)?;
    let output_qty = match b.output_qty {
        Some(d) => qty::positive("output_qty", &d)?,
        None => qty::ONE,
    };
    let list = required("components", b.components)?;
    if list.is_empty() || list.len() > MAX_COMPONENTS {
        return Err(Invalid::new(
            "components",
            format!("components must list 1-{MAX_COMPONENTS} items"),
        )
        .into());
    }
    let mut components = Vec::with_capacity(list.len());
    for c in list {
        components.push(Component {
            sku: items::parse_sku("components.sku", &required("components.sku", c.sku)?)?,
            qty: positive_qty("components.qty", c.qty)?,
        });
    }
    let dups = duplicates(&components);
    if !dups.is_empty() {
        return Err(ApiError::validation(format!(
            "each component may appear once; repeated: {}",
            dups.join(", ")
        ))
        .with_details(json!({"field": "components", "skus": dups})));
    }
    let bom = f
        .create_bom(
            &caller.user_id,
            NewBom {
                product_sku,
                output_qty,
                components,
            },
        )
        .await?;
    tracing::info!(by = %caller.user_id, product = %bom.product_sku, version = bom.version, "BOM created");
    Ok((
        StatusCode::CREATED,
        Json(json!({"success": true, "bom": views::bom(&bom)})),
    ))
}

#[derive(Deserialize)]
pub(super) struct ListQuery {
    product_sku: Option<String>,
}

async fn list(
    State(f): State<AppState>,
    _: Authorized<ProductionManagers>,
    Query(q): Query<ListQuery>,
) -> ApiResult<Json<Value>> {
    let product = match q
        .product_sku
        .as_deref()
        .map(str::trim)
        .filter(|s| !s.is_empty())
    {
        Some(s) => items::parse_sku("product_sku", s)?,
        None => String::new(),
    };
    let mut conn = f.db.pool().acquire().await?;
    let boms: Vec<Value> = store::list(&mut conn, &product)
        .await?
        .iter()
        .map(views::bom)
        .collect();
    Ok(Json(json!({"success": true, "boms": boms})))
}

async fn show(
    State(f): State<AppState>,
    _: Authorized<ProductionManagers>,
    IdPath(id): IdPath,
) -> ApiResult<Json<Value>> {
    let mut conn = f.db.pool().acquire().await?;
    let bom = store::find(&mut conn, &id)
        .await?
        .ok_or_else(|| ApiError::not_found("no such bill of materials"))?;
    Ok(Json(json!({"success": true, "bom": views::bom(&bom)})))
}

#[derive(Deserialize)]
pub(super) struct ExplodeQuery {
    qty: Option<String>,
}

async fn explode(
    State(f): State<AppState>,
    _: Authorized<ProductionManagers>,
    IdPath(id): IdPath,
    Query(q): Query<ExplodeQuery>,
) -> ApiResult<Json<Value>> {
    let amount = match q.qty.as_deref().map(str::trim).filter(|s| !s.is_empty()) {
        Some(raw) => {
            let d = Decimal::parse(raw).map_err(|e| Invalid::new("qty", format!("qty: {e}")))?;
            qty::positive("qty", &d)?
        }
        None => qty::ONE,
    };
    let (bom, explosion) = f.explode(&id, amount).await?;
    let requirements: Vec<Value> = explosion
        .requirements
        .iter()
        .map(|r| {
            json!({
                "sku": r.sku,
                "qty": qty::format(r.qty),
                // False when the exact requirement has more than three
                // places and `qty` is it rounded up.
                "exact": r.exact.is_integer(),
            })
        })
        .collect();
    Ok(Json(json!({
        "success": true,
        "bom_id": bom.id,
        "product_sku": bom.product_sku,
        "version": bom.version,
        "qty": qty::format(amount),
        "depth": explosion.depth,
        "requirements": requirements,
    })))
}

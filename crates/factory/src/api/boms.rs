//! Bills of materials.

use axum::{extract::State, http::StatusCode};
use marimo_platform::{
    ApiError, ApiResult, Invalid,
    auth::policy::{Authorized, ProductionManagers},
    http::{Json, Query},
    invalid::required,
    money::Decimal,
    openapi::ErrorBody,
};
use serde::Deserialize;
use serde_json::json;
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::{router::OpenApiRouter, routes};

use super::{
    AppState, IdPath, positive_qty,
    views::{self, BomAnswer, BomList, Explosion, Requirement},
};
use crate::{
    NewBom,
    app::boms::duplicates,
    domain::{bom::Component, items, qty},
    store::boms as store,
};

/// Components one BOM may list.
const MAX_COMPONENTS: usize = 1000;

pub(super) fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list, create))
        .routes(routes!(show))
        .routes(routes!(explode))
}

/// A component line of a new BOM.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(super) struct ComponentBody {
    /// The component's SKU. Required.
    #[schema(example = "STEEL")]
    sku: Option<String>,
    /// Per `output_qty` of the product; positive, up to three places
    /// (decimal string or number). Required.
    #[schema(example = "2.5")]
    qty: Option<Decimal>,
}

/// A new version of a product's bill of materials.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"product_sku": "WIDGET-1", "output_qty": "1", "components": [{"sku": "STEEL", "qty": "2.5"}, {"sku": "BOLT", "qty": "4"}]}))]
pub(super) struct BomBody {
    /// The product it makes (not a raw material). Required.
    product_sku: Option<String>,
    /// How much of the product the components make; positive (decimal
    /// string or number). Default 1.
    #[schema(example = "1")]
    output_qty: Option<Decimal>,
    /// 1 to 1000 lines, each SKU once. Required.
    components: Option<Vec<ComponentBody>>,
}

/// Creates the product's next BOM version, which becomes its active one.
#[utoipa::path(
    post,
    path = "/api/v1/factory/boms",
    request_body = BomBody,
    responses(
        (status = 201, description = "Created.", body = BomAnswer),
        (status = 404, description = "No such product or component.", body = ErrorBody),
        (status = 422, description = "The product is a raw material (`INVALID_BOM`) or inactive (`ITEM_INACTIVE`), or the BOM would make it need itself (`BOM_CYCLE`).", body = ErrorBody),
    ),
)]
async fn create(
    State(f): State<AppState>,
    Authorized(caller, _): Authorized<ProductionManagers>,
    Json(b): Json<BomBody>,
) -> ApiResult<(StatusCode, Json<BomAnswer>)> {
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
            &caller.tenant,
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
        Json(BomAnswer {
            success: true,
            bom: views::bom(&bom),
        }),
    ))
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub(super) struct ListQuery {
    /// Only this product's versions (empty: every product).
    #[param(example = "WIDGET-1")]
    product_sku: Option<String>,
}

/// Bills of materials, every version.
#[utoipa::path(
    get,
    path = "/api/v1/factory/boms",
    params(ListQuery),
    responses((status = 200, description = "The BOMs.", body = BomList)),
)]
async fn list(
    State(f): State<AppState>,
    Authorized(caller, _): Authorized<ProductionManagers>,
    Query(q): Query<ListQuery>,
) -> ApiResult<Json<BomList>> {
    let product = match q
        .product_sku
        .as_deref()
        .map(str::trim)
        .filter(|s| !s.is_empty())
    {
        Some(s) => items::parse_sku("product_sku", s)?,
        None => String::new(),
    };
    let mut tx = f.db.tenant(&caller.tenant).snapshot().await?;
    let boms = store::list(&mut tx, &caller.tenant, &product)
        .await?
        .iter()
        .map(views::bom)
        .collect();
    Ok(Json(BomList {
        success: true,
        boms,
    }))
}

/// A bill of materials.
#[utoipa::path(
    get,
    path = "/api/v1/factory/boms/{id}",
    params(("id" = String, Path, description = "The BOM's id.")),
    responses((status = 200, description = "The BOM.", body = BomAnswer)),
)]
async fn show(
    State(f): State<AppState>,
    Authorized(caller, _): Authorized<ProductionManagers>,
    IdPath(id): IdPath,
) -> ApiResult<Json<BomAnswer>> {
    let mut tx = f.db.tenant(&caller.tenant).snapshot().await?;
    let bom = store::find(&mut tx, &caller.tenant, &id)
        .await?
        .ok_or_else(|| ApiError::not_found("no such bill of materials"))?;
    Ok(Json(BomAnswer {
        success: true,
        bom: views::bom(&bom),
    }))
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub(super) struct ExplodeQuery {
    /// How much of the product; positive decimal (default 1).
    #[param(example = "10")]
    qty: Option<String>,
}

/// What making `qty` of the product takes in raw materials and bought
/// components, through every level of sub-assemblies (rounded up to
/// three places).
#[utoipa::path(
    get,
    path = "/api/v1/factory/boms/{id}/explode",
    params(("id" = String, Path, description = "The BOM's id."), ExplodeQuery),
    responses(
        (status = 200, description = "The requirements.", body = Explosion),
        (status = 422, description = "A requirement is too large (`TOO_LARGE`), or the BOMs below form a cycle (`BOM_CYCLE`).", body = ErrorBody),
    ),
)]
async fn explode(
    State(f): State<AppState>,
    Authorized(caller, _): Authorized<ProductionManagers>,
    IdPath(id): IdPath,
    Query(q): Query<ExplodeQuery>,
) -> ApiResult<Json<Explosion>> {
    let amount = match q.qty.as_deref().map(str::trim).filter(|s| !s.is_empty()) {
        Some(raw) => {
            let d = Decimal::parse(raw).map_err(|e| Invalid::new("qty", format!("qty: {e}")))?;
            qty::positive("qty", &d)?
        }
        None => qty::ONE,
    };
    let (bom, explosion) = f.explode(&caller.tenant, &id, amount).await?;
    let requirements = explosion
        .requirements
        .iter()
        .map(|r| Requirement {
            sku: r.sku.clone(),
            qty: qty::format(r.qty),
            // False when the exact requirement has more than three
            // places and `qty` is it rounded up.
            exact: r.exact.is_integer(),
        })
        .collect();
    Ok(Json(Explosion {
        success: true,
        bom_id: bom.id,
        product_sku: bom.product_sku,
        version: bom.version,
        qty: qty::format(amount),
        depth: explosion.depth,
        requirements,
    }))
}

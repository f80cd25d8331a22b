//! Tenants: sign-up, the caller's tenants and switching between them, the
//! current tenant's settings, and adding members.

use axum::{extract::State, http::StatusCode};
use marimo_platform::{
    ApiError, ApiResult,
    auth::{
        Caller, Role,
        policy::{Admins, SignedIn},
    },
    http::Json,
    openapi::ErrorBody,
};
use serde::Deserialize;
use serde_json::json;
use utoipa::ToSchema;

use super::{
    AppState, ClientIp, signed_in,
    views::{self, LoginAnswer, MemberAdded, MyTenant, MyTenants, SignedUp, TenantAnswer},
};
use crate::app::tenants::{NewMember, NewTenant, TenantPatch};

fn default_month() -> i64 {
    1
}

/// A new business with its first admin. Unknown fields are refused.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"business_name": "Acme Tools", "slug": "acme", "currency": "EUR", "fiscal_year_start_month": 4, "admin_name": "Ann", "email": "ann@acme.example", "password": "Founder-1"}))]
pub(super) struct SignupBody {
    /// 1 to 200 characters.
    business_name: String,
    /// 3 to 40 lower-case letters, digits or '-', starting with a letter;
    /// unique.
    slug: String,
    /// ISO 4217.
    currency: String,
    /// 1 (January, the default) to 12.
    #[serde(default = "default_month")]
    fiscal_year_start_month: i64,
    /// The admin's display name.
    admin_name: String,
    /// The admin's email: must not have an account yet.
    email: String,
    /// The password policy of registration.
    password: String,
}

/// Self-service sign-up: creates the business (a tenant), its admin
/// account and a session there. 404 when sign-up is turned off
/// (`MARIMO_SIGNUP=off`).
#[utoipa::path(
    post,
    path = "/api/v1/users/signup",
    security(()),
    request_body = SignupBody,
    responses(
        (status = 201, description = "Signed up; tokens in the new tenant.", body = SignedUp),
        (status = 404, description = "Sign-up is turned off.", body = ErrorBody),
        (status = 409, description = "The slug or the email is in use (one answer for both).", body = ErrorBody),
    ),
)]
pub(super) async fn signup(
    State(st): State<AppState>,
    ip: ClientIp,
    Json(body): Json<SignupBody>,
) -> ApiResult<(StatusCode, Json<SignedUp>)> {
    let (tenant, user, tokens) = st
        .signup(
            NewTenant {
                business_name: &body.business_name,
                slug: &body.slug,
                currency: &body.currency,
                fiscal_year_start_month: body.fiscal_year_start_month,
                admin_name: &body.admin_name,
                email: &body.email,
                password: &body.password,
            },
            ip.get(),
        )
        .await?;
    Ok((
        StatusCode::CREATED,
        Json(SignedUp {
            tokens: views::tokens("signed up", tokens),
            user: views::user(&user),
            tenant: views::tenant(&tenant),
        }),
    ))
}

/// The tenants the caller belongs to, with their role in each.
#[utoipa::path(
    get,
    path = "/api/v1/users/tenants",
    responses((status = 200, description = "My tenants.", body = MyTenants)),
)]
pub(super) async fn my_tenants(
    State(st): State<AppState>,
    caller: Caller,
) -> ApiResult<Json<MyTenants>> {
    signed_in::<SignedIn>(&st, &caller).await?;
    let tenants = st
        .my_tenants(&caller.user_id)
        .await?
        .iter()
        .map(|m| MyTenant {
            tenant: views::tenant(&m.tenant),
            role: m.role,
            current: m.tenant.id == caller.tenant,
        })
        .collect();
    Ok(Json(MyTenants {
        success: true,
        tenants,
    }))
}

/// Which tenant to switch to. Unknown fields are refused.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"tenant": "acme"}))]
pub(super) struct SwitchBody {
    /// Slug or id.
    tenant: String,
}

/// A new token pair in another of the caller's tenants. Not a member: 404.
#[utoipa::path(
    post,
    path = "/api/v1/users/tenants/switch",
    request_body = SwitchBody,
    responses(
        (status = 200, description = "Tokens in that tenant.", body = LoginAnswer),
        (status = 404, description = "No such tenant among the caller's.", body = ErrorBody),
    ),
)]
pub(super) async fn switch(
    State(st): State<AppState>,
    caller: Caller,
    Json(body): Json<SwitchBody>,
) -> ApiResult<Json<LoginAnswer>> {
    caller.require_policy::<SignedIn>()?;
    let (user, tenant, tokens) = st.switch_tenant(&caller.user_id, &body.tenant).await?;
    Ok(Json(LoginAnswer {
        tokens: views::tokens("tenant switched", tokens),
        user: views::user(&user),
        tenant: views::tenant(&tenant),
    }))
}

/// The caller's current tenant.
#[utoipa::path(
    get,
    path = "/api/v1/users/tenant",
    responses((status = 200, description = "The current tenant.", body = TenantAnswer)),
)]
pub(super) async fn current(
    State(st): State<AppState>,
    caller: Caller,
) -> ApiResult<Json<TenantAnswer>> {
    signed_in::<SignedIn>(&st, &caller).await?;
    let tenant = st.tenant(&caller.tenant).await?;
    Ok(Json(TenantAnswer {
        success: true,
        tenant: views::tenant(&tenant),
    }))
}

/// What to change in the current tenant; absent fields are kept. Unknown
/// fields are refused.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"name": "Acme Tools Ltd", "currency": "GBP", "fiscal_year_start_month": 4}))]
pub(super) struct TenantBody {
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    currency: Option<String>,
    #[serde(default)]
    fiscal_year_start_month: Option<i64>,
}

/// Changes the current tenant's name, currency or fiscal year start.
/// Admins of the tenant only.
#[utoipa::path(
    put,
    path = "/api/v1/users/tenant",
    request_body = TenantBody,
    responses((status = 200, description = "Changed.", body = TenantAnswer)),
)]
pub(super) async fn update(
    State(st): State<AppState>,
    caller: Caller,
    Json(body): Json<TenantBody>,
) -> ApiResult<Json<TenantAnswer>> {
    signed_in::<Admins>(&st, &caller).await?;
    let tenant = st
        .update_tenant(
            &caller.tenant,
            TenantPatch {
                name: body.name.as_deref(),
                currency: body.currency.as_deref(),
                fiscal_year_start_month: body.fiscal_year_start_month,
            },
            &caller.user_id,
        )
        .await?;
    Ok(Json(TenantAnswer {
        success: true,
        tenant: views::tenant(&tenant),
    }))
}

/// A member to add. Unknown fields are refused.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"email": "bob@example.com", "role": "accountant"}))]
pub(super) struct AddMemberBody {
    email: String,
    #[schema(value_type = Role)]
    role: String,
    /// With `password`: creates the account when no account has the email.
    #[serde(default)]
    name: Option<String>,
    /// The password policy of registration.
    #[serde(default)]
    password: Option<String>,
}

/// Adds a member to the caller's tenant: the existing account with that
/// email, or, given `name` and `password`, a new account. Admins only.
#[utoipa::path(
    post,
    path = "/api/v1/users/admin/members",
    request_body = AddMemberBody,
    responses(
        (status = 201, description = "Added.", body = MemberAdded),
        (status = 404, description = "No account with this email, and no name and password to create one.", body = ErrorBody),
        (status = 409, description = "Already a member.", body = ErrorBody),
    ),
)]
pub(super) async fn add_member(
    State(st): State<AppState>,
    caller: Caller,
    Json(body): Json<AddMemberBody>,
) -> ApiResult<(StatusCode, Json<MemberAdded>)> {
    let admin = signed_in::<Admins>(&st, &caller).await?.user;
    let role: Role = body.role.parse().map_err(|msg: String| {
        let allowed: Vec<&str> = Role::ALL.iter().map(|r| r.as_str()).collect();
        ApiError::validation(msg).with_details(json!({"field": "role", "allowed": allowed}))
    })?;
    let user = st
        .add_member(
            &admin,
            &caller.tenant,
            NewMember {
                email: &body.email,
                role,
                name: body.name.as_deref(),
                password: body.password.as_deref(),
            },
        )
        .await?;
    Ok((
        StatusCode::CREATED,
        Json(MemberAdded {
            success: true,
            message: "member added".to_owned(),
            user: views::user(&user),
        }),
    ))
}

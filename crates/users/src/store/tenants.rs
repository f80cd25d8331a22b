//! Tenants (global registry) and memberships (a business table: every
//! query binds `tenant_id`, except "my tenants", which reads one person's
//! memberships across tenants in an all-tenants transaction).

use marimo_platform::{
    auth::Role,
    db::{Exec, TxConn},
    tenant::TenantId,
};
use sqlx::{Row, any::AnyRow};

use super::{UserRecord, decode_err, record_from};
use crate::domain::{Membership, Tenant, User};

const TENANT_COLUMNS: &str =
    "t.id, t.slug, t.name, t.currency, t.fiscal_year_start_month, t.active, t.created_at";

fn tenant_from(row: &AnyRow) -> Result<Tenant, sqlx::Error> {
    let id: String = row.try_get("id")?;
    let month: i64 = row.try_get("fiscal_year_start_month")?;
    Ok(Tenant {
        id: TenantId::parse(&id).map_err(|e| decode_err(e.message))?,
        slug: row.try_get("slug")?,
        name: row.try_get("name")?,
        currency: row.try_get("currency")?,
        fiscal_year_start_month: u8::try_from(month)
            .map_err(|_| decode_err(format!("bad fiscal month {month}")))?,
        active: row.try_get::<i64, _>("active")? != 0,
        created_at: row.try_get("created_at")?,
    })
}

/// Inserts a tenant; `false` when its slug (or id) is taken.
pub async fn insert_tenant<'e>(ex: impl Exec<'e>, t: &Tenant) -> Result<bool, sqlx::Error> {
    let res = sqlx::query(
        "INSERT INTO tenants (id, slug, name, currency, fiscal_year_start_month, active, created_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7)
         ON CONFLICT DO NOTHING",
    )
    .bind(t.id.as_str())
    .bind(&t.slug)
    .bind(&t.name)
    .bind(&t.currency)
    .bind(i64::from(t.fiscal_year_start_month))
    .bind(i64::from(t.active))
    .bind(&t.created_at)
    .execute(ex)
    .await?;
    Ok(res.rows_affected() == 1)
}

pub async fn find_tenant<'e>(
    ex: impl Exec<'e>,
    id: &TenantId,
) -> Result<Option<Tenant>, sqlx::Error> {
    sqlx::query(sqlx::AssertSqlSafe(format!(
        "SELECT {TENANT_COLUMNS} FROM tenants t WHERE t.id = $1"
    )))
    .bind(id.as_str())
    .fetch_optional(ex)
    .await?
    .as_ref()
    .map(tenant_from)
    .transpose()
}

/// `false` when there is no such tenant.
pub async fn update_tenant<'e>(
    ex: impl Exec<'e>,
    id: &TenantId,
    name: &str,
    currency: &str,
    fiscal_year_start_month: u8,
) -> Result<bool, sqlx::Error> {
    let res = sqlx::query(
        "UPDATE tenants SET name = $2, currency = $3, fiscal_year_start_month = $4 WHERE id = $1",
    )
    .bind(id.as_str())
    .bind(name)
    .bind(currency)
    .bind(i64::from(fiscal_year_start_month))
    .execute(ex)
    .await?;
    Ok(res.rows_affected() == 1)
}

/// Adds `user_id` to `tenant` with `role`; `false` when already a member.
pub async fn insert_membership<'e>(
    ex: impl Exec<'e>,
    tenant: &TenantId,
    user_id: &str,
    role: Role,
    now: &str,
) -> Result<bool, sqlx::Error> {
    let res = sqlx::query(
        "INSERT INTO memberships (tenant_id, user_id, role, active, created_at)
         VALUES ($1, $2, $3, 1, $4)
         ON CONFLICT (tenant_id, user_id) DO NOTHING",
    )
    .bind(tenant.as_str())
    .bind(user_id)
    .bind(role.as_str())
    .bind(now)
    .execute(ex)
    .await?;
    Ok(res.rows_affected() == 1)
}

/// Every membership of one person, oldest first, with its tenant. Run in
/// an all-tenants transaction: it is the one read that crosses tenants,
/// and it is keyed by the (verified) person, never by a request's tenant.
pub async fn memberships_of<'e>(
    ex: impl Exec<'e>,
    user_id: &str,
) -> Result<Vec<Membership>, sqlx::Error> {
    let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
        "SELECT {TENANT_COLUMNS}, m.role AS m_role, m.active AS m_active, m.created_at AS m_created
           FROM memberships m JOIN tenants t ON t.id = m.tenant_id
          WHERE m.user_id = $1
          ORDER BY m.created_at, t.id"
    )))
    .bind(user_id)
    .fetch_all(ex)
    .await?;
    rows.iter()
        .map(|r| {
            let role: String = r.try_get("m_role")?;
            Ok(Membership {
                tenant: tenant_from(r)?,
                role: role.parse::<Role>().map_err(decode_err)?,
                active: r.try_get::<i64, _>("m_active")? != 0,
                created_at: r.try_get("m_created")?,
            })
        })
        .collect()
}

/// The columns of an account as seen in one tenant: its role there, and
/// active only while both the account and the membership are.
macro_rules! member_columns {
    () => {
        "u.id, u.email, u.name, u.password_hash, m.role AS role, \
         (u.active * m.active) AS active, u.created_at, u.updated_at"
    };
}

/// Account `user_id` as a member of `tenant` (`None`: no such account, or
/// not a member there).
pub async fn find_member<'e>(
    ex: impl Exec<'e>,
    tenant: &TenantId,
    user_id: &str,
) -> Result<Option<UserRecord>, sqlx::Error> {
    sqlx::query(concat!(
        "SELECT ",
        member_columns!(),
        " FROM memberships m JOIN users u ON u.id = m.user_id
          WHERE m.tenant_id = $1 AND m.user_id = $2"
    ))
    .bind(tenant.as_str())
    .bind(user_id)
    .fetch_optional(ex)
    .await?
    .as_ref()
    .map(record_from)
    .transpose()
}

/// `false` when `user_id` is not a member of `tenant`.
pub async fn set_member_role<'e>(
    ex: impl Exec<'e>,
    tenant: &TenantId,
    user_id: &str,
    role: Role,
) -> Result<bool, sqlx::Error> {
    let res = sqlx::query("UPDATE memberships SET role = $3 WHERE tenant_id = $1 AND user_id = $2")
        .bind(tenant.as_str())
        .bind(user_id)
        .bind(role.as_str())
        .execute(ex)
        .await?;
    Ok(res.rows_affected() == 1)
}

/// `false` when `user_id` is not a member of `tenant`.
pub async fn set_member_active<'e>(
    ex: impl Exec<'e>,
    tenant: &TenantId,
    user_id: &str,
    active: bool,
) -> Result<bool, sqlx::Error> {
    let res =
        sqlx::query("UPDATE memberships SET active = $3 WHERE tenant_id = $1 AND user_id = $2")
            .bind(tenant.as_str())
            .bind(user_id)
            .bind(i64::from(active))
            .execute(ex)
            .await?;
    Ok(res.rows_affected() == 1)
}

/// One page of `tenant`'s members, oldest membership first, optionally
/// filtered by a lower-cased `LIKE` pattern over email and name; with the
/// total of the filter.
pub async fn list_members(
    tx: &mut TxConn,
    tenant: &TenantId,
    pattern: Option<&str>,
    limit: u32,
    offset: i64,
) -> Result<(Vec<User>, i64), sqlx::Error> {
    let pattern = pattern.unwrap_or("");
    let filter = "($1 = '' OR u.email LIKE $1 ESCAPE '\\' OR lower(u.name) LIKE $1 ESCAPE '\\')";
    let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
        concat!(
            "SELECT ",
            member_columns!(),
            " FROM memberships m JOIN users u ON u.id = m.user_id
              WHERE m.tenant_id = $4 AND {filter}
              ORDER BY m.created_at, u.id LIMIT $2 OFFSET $3"
        ),
        filter = filter
    )))
    .bind(pattern)
    .bind(i64::from(limit))
    .bind(offset)
    .bind(tenant.as_str())
    .fetch_all(&mut *tx)
    .await?;
    let users = rows
        .iter()
        .map(|r| record_from(r).map(|rec| rec.user))
        .collect::<Result<Vec<_>, _>>()?;
    let total: i64 = sqlx::query_scalar(sqlx::AssertSqlSafe(format!(
        "SELECT COUNT(*) FROM memberships m JOIN users u ON u.id = m.user_id
          WHERE m.tenant_id = $2 AND {filter}"
    )))
    .bind(pattern)
    .bind(tenant.as_str())
    .fetch_one(&mut *tx)
    .await?;
    Ok((users, total))
}

/// (role, active, count) of `tenant`'s members for every combination
/// present.
pub async fn member_role_counts<'e>(
    ex: impl Exec<'e>,
    tenant: &TenantId,
) -> Result<Vec<(Role, bool, i64)>, sqlx::Error> {
    let rows = sqlx::query(
        "SELECT m.role AS role, (u.active * m.active) AS active, COUNT(*) AS n
           FROM memberships m JOIN users u ON u.id = m.user_id
          WHERE m.tenant_id = $1
          GROUP BY m.role, (u.active * m.active)",
    )
    .bind(tenant.as_str())
    .fetch_all(ex)
    .await?;
    rows.iter()
        .map(|r| {
            let role: String = r.try_get("role")?;
            Ok((
                role.parse::<Role>().map_err(decode_err)?,
                r.try_get::<i64, _>("active")? != 0,
                r.try_get::<i64, _>("n")?,
            ))
        })
        .collect()
}

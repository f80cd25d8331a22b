//! Tenants: many businesses on one deployment, kept apart by the database.
//!
//! Every business row carries a `tenant_id`. Two layers keep a tenant's
//! rows its own:
//!
//! 1. **The store layer filters.** Every query of a business table says
//!    `tenant_id = $n` (one SQL text for SQLite and PostgreSQL), with the
//!    tenant of the request or event.
//! 2. **PostgreSQL refuses the rest.** Row-Level Security policies
//!    ([`rls_ddl`]) admit only rows whose `tenant_id` equals the
//!    transaction's `marimo.tenant_id` setting, which [`crate::db::Db::tenant`]
//!    sets with `SET LOCAL` semantics (`set_config(.., true)`) at the start
//!    of every tenant transaction. A query that forgot its filter still
//!    sees nothing of another tenant; a transaction that set no tenant sees
//!    no business rows at all.
//!
//! The policies bind every role but superusers (`FORCE ROW LEVEL
//! SECURITY` makes them bind the tables' owner too), so production runs
//! the services as an ordinary role (docs/DEPLOYMENT.md).
//!
//! The installation's first business is the *default tenant*
//! ([`TenantId::DEFAULT`]): data from before tenancy belongs to it, tokens
//! without a tenant claim and anonymous requests without a tenant header
//! act in it, so a single-business `marimo up` needs no tenant set-up.
//!
//! Jobs that work across tenants (sweeps, the relay) open
//! [`crate::db::Db::all_tenants`], whose setting is [`ALL_TENANTS`]; the
//! policies admit it explicitly, and it is never derived from a request.

use std::fmt;

use axum::{extract::FromRequestParts, http::request::Parts};
use serde::{Deserialize, Serialize};

use crate::{auth::caller::MaybeCaller, error::ApiError, invalid::Invalid};

/// The PostgreSQL setting the policies compare `tenant_id` with.
pub const SETTING: &str = "marimo.tenant_id";

/// The setting of a transaction that may see every tenant (system jobs).
pub const ALL_TENANTS: &str = "*";

/// The header an anonymous request names its tenant with (a signed-in
/// caller's tenant comes from the token and the header is ignored).
pub const HEADER: &str = "x-marimo-tenant";

/// A tenant's id: the default tenant's is `default`, every other one a
/// UUIDv7. Lower-case letters, digits and `-` only, at most 64 bytes, so
/// it is safe in keys, routing headers and log lines.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct TenantId(String);

impl TenantId {
    /// The id of the installation's first business.
    pub const DEFAULT: &'static str = "default";

    pub fn default_tenant() -> Self {
        Self(Self::DEFAULT.to_owned())
    }

    /// A fresh id for a new tenant.
    pub fn generate() -> Self {
        Self(crate::ids::new_id())
    }

    /// Checks the text of an id (not whether the tenant exists).
    pub fn parse(text: &str) -> Result<Self, Invalid> {
        let ok = !text.is_empty()
            && text.len() <= 64
            && text
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
        if ok {
            Ok(Self(text.to_owned()))
        } else {
            Err(Invalid::new(
                "tenant",
                "a tenant id is 1 to 64 lower-case letters, digits or '-'",
            ))
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn is_default(&self) -> bool {
        self.0 == Self::DEFAULT
    }

    /// `key` scoped to this tenant: unchanged in the default tenant (so
    /// keys written before tenancy keep their meaning), `<tenant>/<key>`
    /// in any other. For idempotency scopes, cache and rate-limit keys.
    pub fn scope(&self, key: &str) -> String {
        if self.is_default() {
            key.to_owned()
        } else {
            format!("{}/{key}", self.0)
        }
    }
}

impl Default for TenantId {
    fn default() -> Self {
        Self::default_tenant()
    }
}

impl fmt::Display for TenantId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl TryFrom<String> for TenantId {
    type Error = Invalid;
    fn try_from(s: String) -> Result<Self, Invalid> {
        Self::parse(&s)
    }
}

impl From<TenantId> for String {
    fn from(t: TenantId) -> String {
        t.0
    }
}

/// The tenant a request acts in: the signed-in caller's (from the token),
/// else the one an anonymous request names in `X-Marimo-Tenant`, else the
/// default tenant. A malformed header is a 400.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tenant(pub TenantId);

impl<S: Send + Sync> FromRequestParts<S> for Tenant {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        if let MaybeCaller(Some(caller)) = MaybeCaller::from_request_parts(parts, state).await? {
            return Ok(Self(caller.tenant));
        }
        named_in(&parts.headers).map(Self)
    }
}

/// The tenant an anonymous request names in `X-Marimo-Tenant`, else the
/// default tenant; a malformed header is a 400. (A signed-in request's
/// tenant is its token's, never this.)
pub fn named_in(headers: &http::HeaderMap) -> Result<TenantId, ApiError> {
    match headers.get(HEADER) {
        None => Ok(TenantId::default_tenant()),
        Some(value) => value
            .to_str()
            .map_err(|_| Invalid::new("tenant", "the tenant header is not text"))
            .and_then(TenantId::parse)
            .map_err(ApiError::from),
    }
}

/// PostgreSQL DDL that puts `tables` (each with a `tenant_id TEXT` column)
/// under the tenant policy. Idempotent, for a PostgreSQL-only schema part.
pub fn rls_ddl(tables: &[&str]) -> String {
    let mut ddl = String::new();
    for table in tables {
        debug_assert!(table.bytes().all(|b| b.is_ascii_lowercase() || b == b'_'));
        let admits = format!(
            "tenant_id = current_setting('{SETTING}', true) \
             OR current_setting('{SETTING}', true) = '{ALL_TENANTS}'"
        );
        ddl.push_str(&format!(
            "ALTER TABLE {table} ENABLE ROW LEVEL SECURITY;\n\
             ALTER TABLE {table} FORCE ROW LEVEL SECURITY;\n\
             DROP POLICY IF EXISTS tenant_isolation ON {table};\n\
             CREATE POLICY tenant_isolation ON {table} USING ({admits}) WITH CHECK ({admits});\n"
        ));
    }
    ddl
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_checked() {
        assert!(TenantId::parse("default").is_ok());
        assert!(TenantId::parse("0193f1d2-7c1e-7a00-8000-000000000001").is_ok());
        for bad in ["", "Acme", "a/b", "a b", "x'--", &"a".repeat(65)] {
            assert!(TenantId::parse(bad).is_err(), "{bad:?}");
        }
        let json: Result<TenantId, _> = serde_json::from_str("\"DROP\"");
        assert!(json.is_err());
    }

    #[test]
    fn the_default_tenant_keeps_old_keys() {
        assert_eq!(TenantId::default_tenant().scope("u1"), "u1");
        let acme = TenantId::parse("acme-1").unwrap();
        assert_eq!(acme.scope("u1"), "acme-1/u1");
    }

    #[test]
    fn the_policy_names_the_setting_and_every_table() {
        let ddl = rls_ddl(&["orders", "products"]);
        assert_eq!(ddl.matches("FORCE ROW LEVEL SECURITY").count(), 2);
        assert!(ddl.contains("CREATE POLICY tenant_isolation ON products"));
        assert!(ddl.contains("current_setting('marimo.tenant_id', true)"));
    }
}

//! The config service's use cases. Writes: each one a transaction that
//! changes the row, appends history and publishes the event together
//! (nothing is published by a write that rolls back). Optimistic
//! concurrency is a conditional UPDATE/DELETE on the version that was
//! read; its row count says whether we won.
//!
//! Every use case acts in one tenant (docs/TENANCY.md): writes change
//! that tenant's rows only, in a transaction of the tenant, so their
//! events carry it. Reads answer the tenant's own row, else the default
//! tenant's (the installation default), read in a transaction of the
//! default tenant so that the row policy never admits two tenants at once.
//!
//! - [`consul_mirror`]: the loop that mirrors settings into Consul KV.

pub mod consul_mirror;

use std::collections::BTreeMap;

use marimo_platform::{bus::Outbox, clock, db::Db, tenant::TenantId};

use crate::{
    ConfigError,
    domain::{self, Scope, ValueType},
    events,
    store::{self, Action, Change, RefItem, Setting},
};

/// How often an unconditional write re-reads and retries after losing a
/// race to a concurrent writer before it reports a conflict.
const RACE_RETRIES: usize = 5;

/// A validated write of one setting; `None` fields keep their current
/// value (or take the default when the key is new).
#[derive(Debug, Clone)]
pub struct SettingWrite {
    pub key: String,
    pub value: String,
    pub scope: Option<Scope>,
    pub value_type: Option<ValueType>,
    pub description: Option<String>,
    /// The version the writer last saw; a different current version is a
    /// conflict. `None`: last writer wins.
    pub expected: Option<i64>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Created,
    Updated,
    /// Same value, type and description: nothing changed, no version
    /// bump, no event.
    Unchanged,
}

fn conflict(key: &str, expected: Option<i64>, current: Option<i64>) -> ConfigError {
    ConfigError::VersionConflict {
        key: key.to_owned(),
        expected,
        current,
    }
}

// --------------------------------------------------------------- reads

/// `tenant`'s value of `key`: its own row, else the installation default.
pub async fn setting(
    db: &Db,
    tenant: &TenantId,
    key: &str,
) -> Result<Option<Setting>, ConfigError> {
    let mut tx = db.tenant(tenant).read().await?;
    if let Some(own) = store::get_setting(&mut *tx, tenant, key).await? {
        return Ok(Some(own));
    }
    drop(tx);
    if tenant.is_default() {
        return Ok(None);
    }
    let default = TenantId::default_tenant();
    let mut tx = db.tenant(&default).read().await?;
    Ok(store::get_setting(&mut *tx, &default, key).await?)
}

/// Every setting `tenant` sees, by key: the installation defaults with its
/// own rows in their place.
pub async fn settings(db: &Db, tenant: &TenantId) -> Result<Vec<Setting>, ConfigError> {
    let own = {
        let mut tx = db.tenant(tenant).read().await?;
        store::list_settings(&mut *tx, tenant).await?
    };
    if tenant.is_default() {
        return Ok(own);
    }
    let default = TenantId::default_tenant();
    let mut tx = db.tenant(&default).read().await?;
    let inherited = store::list_settings(&mut *tx, &default).await?;
    Ok(overlay(inherited, own, |s| s.key.clone()))
}

/// The reference rows of `kind` `tenant` sees: every currency; the
/// installation's units and tax rates with the tenant's own in their place.
pub async fn reference(
    db: &Db,
    tenant: &TenantId,
    kind: domain::RefKind,
) -> Result<Vec<RefItem>, ConfigError> {
    let own = {
        let mut tx = db.tenant(tenant).read().await?;
        store::list_reference(&mut *tx, tenant, kind).await?
    };
    if tenant.is_default() || kind == domain::RefKind::Currencies {
        return Ok(own);
    }
    let default = TenantId::default_tenant();
    let mut tx = db.tenant(&default).read().await?;
    let inherited = store::list_reference(&mut *tx, &default, kind).await?;
    Ok(overlay(inherited, own, |r| ref_code(r).to_owned()))
}

/// `inherited` with every row of `own` in place of the one of the same
/// key (or added), sorted by key.
fn overlay<T>(inherited: Vec<T>, own: Vec<T>, key: impl Fn(&T) -> String) -> Vec<T> {
    let mut rows: BTreeMap<String, T> = inherited.into_iter().map(|r| (key(&r), r)).collect();
    rows.extend(own.into_iter().map(|r| (key(&r), r)));
    rows.into_values().collect()
}

fn ref_code(item: &RefItem) -> &str {
    match item {
        RefItem::Currency { code, .. }
        | RefItem::Unit { code, .. }
        | RefItem::TaxRate { code, .. } => code,
    }
}

// -------------------------------------------------------------- writes

/// Creates or updates `tenant`'s setting (a tenant's first write of a key
/// it inherits creates its own row, at its own version 1).
pub async fn upsert(
    db: &Db,
    outbox: &Outbox,
    tenant: &TenantId,
    w: &SettingWrite,
    actor: Option<&str>,
) -> Result<(Setting, Outcome), ConfigError> {
    // A tenant overriding a key it inherits keeps the installation's type,
    // scope and description unless it sends its own, so `tax_rate` stays a
    // decimal for every tenant.
    let inherited = if tenant.is_default() {
        None
    } else {
        let default = TenantId::default_tenant();
        let mut tx = db.tenant(&default).read().await?;
        store::get_setting(&mut *tx, &default, &w.key).await?
    };
    let inherited_type = inherited.as_ref().and_then(|s| s.value_type.parse().ok());
    let inherited_scope = inherited.as_ref().and_then(|s| s.scope.parse().ok());
    let inherited_description = inherited.map(|s| s.description);
    for _ in 0..RACE_RETRIES {
        let mut tx = db.tenant(tenant).begin().await?;
        let now = clock::now_text();
        let current = store::get_setting(&mut *tx, tenant, &w.key).await?;
        let (setting, change, outcome) = match current {
            None => {
                if w.expected.is_some() {
                    return Err(conflict(&w.key, w.expected, None));
                }
                let value_type = w.value_type.or(inherited_type).unwrap_or(ValueType::String);
                domain::check_value(value_type, &w.value)?;
                domain::check_known(&w.key, value_type, &w.value)?;
                let scope = w.scope.or(inherited_scope).unwrap_or(Scope::App);
                let description = w.description.clone().or(inherited_description.clone());
                let setting = Setting {
                    key: w.key.clone(),
                    value: w.value.clone(),
                    scope: scope.as_str().to_owned(),
                    value_type: value_type.as_str().to_owned(),
                    description: description.unwrap_or_default(),
                    version: store::next_version(&mut tx, tenant, &w.key).await?,
                    updated_by: actor.map(str::to_owned),
                    updated_at: now.clone(),
                };
                if !store::insert_setting(&mut tx, tenant, &setting).await? {
                    // Created concurrently (PostgreSQL): re-read, update.
                    continue;
                }
                let change = history_row(&setting, Action::Create, None, Some(&setting.value));
                (setting, change, Outcome::Created)
            }
            Some(cur) => {
                if w.expected.is_some_and(|e| e != cur.version) {
                    return Err(conflict(&w.key, w.expected, Some(cur.version)));
                }
                // The CHECK constraint keeps stored types valid; a value
                // outside it would be a bug, and "string" validates nothing.
                let cur_type = cur.value_type.parse().unwrap_or(ValueType::String);
                let value_type = w.value_type.unwrap_or(cur_type);
                domain::check_value(value_type, &w.value)?;
                domain::check_known(&w.key, value_type, &w.value)?;
                let setting = Setting {
                    key: cur.key.clone(),
                    value: w.value.clone(),
                    scope: w.scope.map_or(cur.scope.clone(), |s| s.as_str().to_owned()),
                    value_type: value_type.as_str().to_owned(),
                    description: w.description.clone().unwrap_or(cur.description.clone()),
                    version: cur.version + 1,
                    updated_by: actor.map(str::to_owned),
                    updated_at: now.clone(),
                };
                if setting.value == cur.value
                    && setting.scope == cur.scope
                    && setting.value_type == cur.value_type
                    && setting.description == cur.description
                {
                    return Ok((cur, Outcome::Unchanged));
                }
                if !store::update_setting(&mut tx, tenant, &setting, cur.version).await? {
                    if w.expected.is_some() {
                        return Err(conflict(&w.key, w.expected, None));
                    }
                    continue;
                }
                let change = history_row(
                    &setting,
                    Action::Update,
                    Some(&cur.value),
                    Some(&setting.value),
                );
                (setting, change, Outcome::Updated)
            }
        };
        store::append_history(&mut tx, tenant, &change).await?;
        outbox
            .publish(
                &mut tx,
                &events::setting_changed(&change, &setting.scope, actor),
            )
            .await?;
        tx.commit().await?;
        outbox.wake();
        return Ok((setting, outcome));
    }
    Err(conflict(&w.key, w.expected, None))
}

/// Deletes `tenant`'s own setting (it then reads the installation
/// default again, if there is one); `expected` as in
/// [`SettingWrite::expected`].
pub async fn delete(
    db: &Db,
    outbox: &Outbox,
    tenant: &TenantId,
    key: &str,
    expected: Option<i64>,
    actor: Option<&str>,
) -> Result<Setting, ConfigError> {
    for _ in 0..RACE_RETRIES {
        let mut tx = db.tenant(tenant).begin().await?;
        let Some(cur) = store::get_setting(&mut *tx, tenant, key).await? else {
            return Err(ConfigError::NotFound(key.to_owned()));
        };
        if expected.is_some_and(|e| e != cur.version) {
            return Err(conflict(key, expected, Some(cur.version)));
        }
        if !store::delete_setting(&mut tx, tenant, key, cur.version).await? {
            if expected.is_some() {
                return Err(conflict(key, expected, None));
            }
            continue;
        }
        // The deletion is a version of its own, so a consumer that sees it
        // after a late update event still ends up with "deleted".
        let gone = Setting {
            version: cur.version + 1,
            updated_by: actor.map(str::to_owned),
            updated_at: clock::now_text(),
            ..cur.clone()
        };
        let change = history_row(&gone, Action::Delete, Some(&cur.value), None);
        store::append_history(&mut tx, tenant, &change).await?;
        outbox
            .publish(
                &mut tx,
                &events::setting_changed(&change, &cur.scope, actor),
            )
            .await?;
        tx.commit().await?;
        outbox.wake();
        return Ok(cur);
    }
    Err(conflict(key, expected, None))
}

fn history_row(s: &Setting, action: Action, old: Option<&str>, new: Option<&str>) -> Change {
    Change {
        key: s.key.clone(),
        version: s.version,
        action: action.as_str().to_owned(),
        old_value: old.map(str::to_owned),
        new_value: new.map(str::to_owned),
        value_type: s.value_type.clone(),
        changed_by: s.updated_by.clone(),
        changed_at: s.updated_at.clone(),
    }
}

/// Inserts or replaces a reference row of `tenant` and publishes
/// `config.reference.changed` in its transaction (so the event carries
/// the tenant; a currency, everyone's, is written and published in the
/// default tenant). With `only_new` (seeds) an existing row is kept and
/// nothing is published.
pub async fn upsert_reference(
    db: &Db,
    outbox: &Outbox,
    tenant: &TenantId,
    kind: domain::RefKind,
    item: &RefItem,
    only_new: bool,
    actor: Option<&str>,
) -> Result<bool, ConfigError> {
    let code = ref_code(item).to_owned();
    let default = TenantId::default_tenant();
    let tenant = if kind == domain::RefKind::Currencies {
        &default
    } else {
        tenant
    };
    let mut tx = db.tenant(tenant).begin().await?;
    let written = store::upsert_reference(&mut tx, tenant, item, only_new).await?;
    if written {
        outbox
            .publish(
                &mut tx,
                &events::reference_changed(kind, &code, item, actor),
            )
            .await?;
    }
    tx.commit().await?;
    if written {
        outbox.wake();
    }
    Ok(written)
}

/// The seeded settings: `(key, value, type, value_type, description)`.
pub const SEED_SETTINGS: &[(&str, &str, Scope, ValueType, &str)] = &[
    (
        "app_name",
        "Marimo ERP",
        Scope::System,
        ValueType::String,
        "The application's name",
    ),
    (
        "currency",
        "USD",
        Scope::System,
        ValueType::String,
        "The business's currency (ISO 4217)",
    ),
    (
        "timezone",
        "UTC",
        Scope::System,
        ValueType::String,
        "The business's time zone",
    ),
    (
        "tax_rate",
        "0",
        Scope::App,
        ValueType::Decimal,
        "The shop's sales tax, in percent",
    ),
    (
        "order_ttl_minutes",
        "30",
        Scope::App,
        ValueType::Int,
        "Minutes an unpaid shop order is held",
    ),
    (
        "access_token_ttl_minutes",
        "15",
        Scope::System,
        ValueType::Int,
        "Lifetime of access tokens, in minutes",
    ),
    (
        "refresh_token_ttl_days",
        "7",
        Scope::System,
        ValueType::Int,
        "Lifetime of refresh tokens (a session without activity), in days",
    ),
];

/// Creates the seeded settings that never existed (a key an admin deleted
/// stays deleted) and the reference data that is missing, as the
/// installation defaults (the default tenant's rows; other tenants inherit
/// them and need no seed). Safe when replicas start together: inserts are
/// conditional.
pub async fn seed(db: &Db, outbox: &Outbox) -> Result<(), ConfigError> {
    let default = TenantId::default_tenant();
    for (key, value, scope, value_type, description) in SEED_SETTINGS {
        let mut tx = db.tenant(&default).read().await?;
        if store::ever_existed(&mut tx, &default, key).await? {
            continue;
        }
        drop(tx);
        let write = SettingWrite {
            key: (*key).to_owned(),
            value: (*value).to_owned(),
            scope: Some(*scope),
            value_type: Some(*value_type),
            description: Some((*description).to_owned()),
            expected: None,
        };
        upsert(db, outbox, &default, &write, None).await?;
    }
    let now = clock::now_text();
    let currencies = [
        ("USD", "US Dollar", 2),
        ("EUR", "Euro", 2),
        ("GBP", "Pound Sterling", 2),
        ("JPY", "Yen", 0),
        ("CHF", "Swiss Franc", 2),
        ("CAD", "Canadian Dollar", 2),
    ];
    for (code, name, minor_units) in currencies {
        let item = RefItem::Currency {
            code: code.into(),
            name: name.into(),
            minor_units,
            updated_by: None,
            updated_at: now.clone(),
        };
        upsert_reference(
            db,
            outbox,
            &default,
            domain::RefKind::Currencies,
            &item,
            true,
            None,
        )
        .await?;
    }
    let units = [
        ("pcs", "Pieces"),
        ("kg", "Kilogram"),
        ("g", "Gram"),
        ("m", "Metre"),
        ("l", "Litre"),
        ("h", "Hour"),
    ];
    for (code, name) in units {
        let item = RefItem::Unit {
            code: code.into(),
            name: name.into(),
            updated_by: None,
            updated_at: now.clone(),
        };
        upsert_reference(
            db,
            outbox,
            &default,
            domain::RefKind::Units,
            &item,
            true,
            None,
        )
        .await?;
    }
    // Rates are zero until the business sets them: no jurisdiction is
    // assumed.
    let rates = [
        ("standard", "Standard rate"),
        ("reduced", "Reduced rate"),
        ("zero", "Zero rate"),
    ];
    for (code, name) in rates {
        let item = RefItem::TaxRate {
            code: code.into(),
            name: name.into(),
            rate: "0.00".into(),
            rate_scaled: 0,
            updated_by: None,
            updated_at: now.clone(),
        };
        upsert_reference(
            db,
            outbox,
            &default,
            domain::RefKind::TaxRates,
            &item,
            true,
            None,
        )
        .await?;
    }
    Ok(())
}

//! Chart of accounts operations: create and change accounts under the
//! chart's rules (unique codes, parents of the same type without cycles, a
//! type that is fixed once the account has postings).

use marimo_platform::tenant::TenantId;
use serde_json::json;

use super::Ledger;
use crate::{
    domain::{
        Rejection, RejectionKind,
        accounts::{Account, AccountType, check_parent},
    },
    error::LedgerResult,
    store::accounts::{self, AccountRecord},
};

/// A partial update; `parent: Some(None)` removes the parent.
#[derive(Debug, Clone, Default)]
pub struct AccountChanges {
    pub name: Option<String>,
    pub account_type: Option<AccountType>,
    pub parent: Option<Option<String>>,
    pub active: Option<bool>,
}

fn no_such_account(code: &str) -> Rejection {
    Rejection::new(
        RejectionKind::NotFound,
        "NOT_FOUND",
        format!("no account {code}"),
    )
}

impl Ledger {
    /// Every account of tenant `t`, by code.
    pub async fn accounts(&self, t: &TenantId) -> LedgerResult<Vec<AccountRecord>> {
        let mut tx = self.db.tenant(t).read().await?;
        let all = accounts::list(&mut tx, t).await?;
        tx.rollback().await?;
        Ok(all)
    }

    /// Account `code` of tenant `t`.
    pub async fn account(&self, t: &TenantId, code: &str) -> LedgerResult<Option<AccountRecord>> {
        let mut tx = self.db.tenant(t).read().await?;
        let record = accounts::get(&mut *tx, t, code).await?;
        tx.rollback().await?;
        Ok(record)
    }

    pub async fn create_account(&self, t: &TenantId, a: Account) -> LedgerResult<AccountRecord> {
        let now = marimo_platform::clock::now_text();
        let mut tx = self.db.tenant(t).begin().await?;
        let tree = accounts::tree(&mut tx, t).await?;
        let duplicate = || {
            Rejection::new(
                RejectionKind::Conflict,
                "DUPLICATE_ACCOUNT",
                format!("account {} already exists", a.code),
            )
            .with_details(json!({ "field": "code" }))
        };
        if tree.contains_key(&a.code) {
            return Err(duplicate().into());
        }
        if let Some(parent) = &a.parent {
            check_parent(&a.code, a.account_type, parent, |c| tree.get(c).cloned())?;
        }
        if !accounts::insert(&mut tx, t, &a, &now).await? {
            return Err(duplicate().into());
        }
        let record = accounts::get(&mut *tx, t, &a.code)
            .await?
            .ok_or_else(|| no_such_account(&a.code))?;
        tx.commit().await?;
        Ok(record)
    }

    pub async fn update_account(
        &self,
        t: &TenantId,
        code: &str,
        changes: AccountChanges,
    ) -> LedgerResult<AccountRecord> {
        let now = marimo_platform::clock::now_text();
        let mut tx = self.db.tenant(t).begin().await?;
        let current = accounts::get(&mut *tx, t, code)
            .await?
            .ok_or_else(|| no_such_account(code))?
            .account;
        let mut next = current.clone();
        if let Some(name) = changes.name {
            next.name = name;
        }
        if let Some(active) = changes.active {
            next.active = active;
        }
        if let Some(parent) = changes.parent {
            next.parent = parent;
        }
        if let Some(t) = changes.account_type {
            next.account_type = t;
        }
        if next.account_type != current.account_type {
            if accounts::has_postings(&mut tx, t, code).await? {
                return Err(Rejection::new(
                    RejectionKind::Conflict,
                    "ACCOUNT_HAS_POSTINGS",
                    format!(
                        "account {code} has postings; its type can no longer change (open a new account instead)"
                    ),
                )
                .with_details(json!({ "field": "type" }))
                .into());
            }
            let children =
                accounts::children_of_other_type(&mut tx, t, code, next.account_type).await?;
            if !children.is_empty() {
                return Err(Rejection::new(
                    RejectionKind::Unprocessable,
                    "INVALID_PARENT",
                    format!(
                        "sub-accounts of {code} ({}) have its current type; change them first",
                        children.join(", ")
                    ),
                )
                .with_details(json!({ "field": "type", "children": children }))
                .into());
            }
        }
        if let Some(parent) = &next.parent
            && (next.parent != current.parent || next.account_type != current.account_type)
        {
            let tree = accounts::tree(&mut tx, t).await?;
            check_parent(code, next.account_type, parent, |c| tree.get(c).cloned())?;
        }
        if next != current {
            accounts::update(&mut tx, t, &next, &now).await?;
        }
        let record = accounts::get(&mut *tx, t, code)
            .await?
            .ok_or_else(|| no_such_account(code))?;
        tx.commit().await?;
        Ok(record)
    }
}

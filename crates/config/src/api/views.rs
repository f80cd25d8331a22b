//! Response views: a setting's history as the original API named its
//! fields, and the answers of writes, as typed structs (schemas of the
//! OpenAPI document). Settings themselves answer as their contract type
//! (`marimo_contracts::config::Setting`, `type` being the scope), and
//! reference rows keep their one serialisation on `store::RefItem`, since
//! `config.reference.changed` carries the row exactly as
//! `GET /reference/{kind}` answers it.

use marimo_contracts::config::{ReferenceItem, Setting};
use marimo_platform::openapi::PageFields;
use serde::Serialize;
use utoipa::ToSchema;

use crate::store::{Change, RefItem};

/// One change of a setting.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct ChangeView {
    pub key: String,
    /// The setting's version after the change.
    pub version: i64,
    /// `created`, `updated` or `deleted`.
    pub action: String,
    /// `null` for a creation (secrets are masked).
    pub old_value: Option<String>,
    /// `null` for a deletion (secrets are masked).
    pub new_value: Option<String>,
    pub value_type: String,
    pub changed_by: Option<String>,
    /// RFC 3339, UTC.
    pub changed_at: String,
}

pub(crate) fn change(c: &Change) -> ChangeView {
    ChangeView {
        key: c.key.clone(),
        version: c.version,
        action: c.action.clone(),
        old_value: c.old_value.clone(),
        new_value: c.new_value.clone(),
        value_type: c.value_type.clone(),
        changed_by: c.changed_by.clone(),
        changed_at: c.changed_at.clone(),
    }
}

/// A page of a setting's history, newest first.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct History {
    pub success: bool,
    pub key: String,
    pub history: Vec<ChangeView>,
    #[serde(flatten)]
    pub page: PageFields,
}

/// `{success, message, config}`: a setting written (with `ETag`).
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct Written {
    pub success: bool,
    /// `configuration created`, `configuration updated` or
    /// `configuration unchanged`.
    pub message: String,
    pub config: Setting,
}

/// `{success, message, kind, item}`: a reference row saved.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct RefSaved {
    pub success: bool,
    pub message: String,
    /// `currencies`, `units` or `tax-rates`.
    pub kind: &'static str,
    /// The row as `GET /reference/{kind}` lists it.
    #[schema(value_type = ReferenceItem)]
    pub item: RefItem,
}

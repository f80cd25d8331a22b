//! A value a client sent that breaks a rule: which field, and why.
//!
//! Domain rules return [`Invalid`] (no HTTP in sight); the API answers it
//! as 400 `VALIDATION_ERROR` with `details.field` naming the field, so a
//! form can put the message next to the right input.

use std::borrow::Cow;

use serde_json::json;

use crate::ApiError;

/// A rejected input (answered as 400, naming the field).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct Invalid {
    /// The field as the client named it (`items[2].quantity`, `email`).
    pub field: Cow<'static, str>,
    /// What is wrong, for a person.
    pub message: String,
}

impl Invalid {
    pub fn new(field: impl Into<Cow<'static, str>>, message: impl Into<String>) -> Self {
        Self {
            field: field.into(),
            message: message.into(),
        }
    }

    /// `{field} is required`.
    pub fn required(field: impl Into<Cow<'static, str>>) -> Self {
        let field = field.into();
        let message = format!("{field} is required");
        Self { field, message }
    }
}

impl From<Invalid> for ApiError {
    fn from(i: Invalid) -> Self {
        ApiError::validation(i.message).with_details(json!({ "field": i.field }))
    }
}

/// The value of a required field, or [`Invalid::required`].
pub fn required<T>(field: &'static str, v: Option<T>) -> Result<T, Invalid> {
    v.ok_or_else(|| Invalid::required(field))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn answers_400_naming_the_field() {
        let e: ApiError =
            Invalid::new(String::from("items[1].quantity"), "must be positive").into();
        assert_eq!(e.status, http::StatusCode::BAD_REQUEST);
        assert_eq!(e.code, "VALIDATION_ERROR");
        assert_eq!(e.message, "must be positive");
        assert_eq!(e.details, Some(json!({"field": "items[1].quantity"})));
        assert_eq!(
            required::<u8>("sku", None).unwrap_err().message,
            "sku is required"
        );
    }
}

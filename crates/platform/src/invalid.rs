//! A value a client sent that breaks a rule: which field, and why.
//!
//! Domain rules return [`Invalid`] (no HTTP in sight); the API answers it
//! as 400 `VALIDATION_ERROR` with `details.field` naming the field, so a
//! form can put the message next to the right input. A rule that clients
//! may want to tell apart by machine (which password rule failed) is
//! named too, as `details.rule`.

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
    /// Which rule was broken, for a program (`min_length`, `format`):
    /// set where a service documents its rule names.
    pub rule: Option<&'static str>,
}

impl Invalid {
    pub fn new(field: impl Into<Cow<'static, str>>, message: impl Into<String>) -> Self {
        Self {
            field: field.into(),
            message: message.into(),
            rule: None,
        }
    }

    /// `{field} is required`.
    pub fn required(field: impl Into<Cow<'static, str>>) -> Self {
        let field = field.into();
        let message = format!("{field} is required");
        Self::new(field, message)
    }

    /// The same refusal, naming the rule it broke.
    pub fn with_rule(mut self, rule: &'static str) -> Self {
        self.rule = Some(rule);
        self
    }
}

impl From<Invalid> for ApiError {
    fn from(i: Invalid) -> Self {
        let details = match i.rule {
            Some(rule) => json!({ "field": i.field, "rule": rule }),
            None => json!({ "field": i.field }),
        };
        ApiError::validation(i.message).with_details(details)
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

    #[test]
    fn a_named_rule_is_in_the_details() {
        let e: ApiError = Invalid::new("password", "password must contain a digit")
            .with_rule("digit")
            .into();
        assert_eq!(
            e.details,
            Some(json!({"field": "password", "rule": "digit"}))
        );
    }
}

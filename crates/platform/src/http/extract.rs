//! Extractors whose rejections answer in the one error shape: malformed
//! JSON → 400, wrong field types → 400 naming the problem, missing JSON
//! content type → 415, body over the limit → 413. [`OptionalJson`] is the
//! same for bodies that may be left out; [`Page`] is the one pagination
//! rule.

use axum::{
    body::Bytes,
    extract::{
        FromRequest, FromRequestParts, Request, rejection::JsonRejection, rejection::QueryRejection,
    },
    http::{StatusCode, request::Parts},
    response::{IntoResponse, Response},
};
use serde::{Serialize, de::DeserializeOwned};

use crate::error::{ApiError, ErrorCode};

/// JSON body extractor and response.
#[derive(Debug, Clone, Copy, Default)]
pub struct Json<T>(pub T);

impl<T, S> FromRequest<S> for Json<T>
where
    T: DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        match axum::Json::<T>::from_request(req, state).await {
            Ok(axum::Json(v)) => Ok(Json(v)),
            Err(rejection) => Err(json_rejection(rejection)),
        }
    }
}

impl<T: Serialize> IntoResponse for Json<T> {
    fn into_response(self) -> Response {
        axum::Json(self.0).into_response()
    }
}

/// A JSON body that may be left out: an empty (or all-whitespace) body is
/// `T::default()`; a non-empty one follows [`Json`]'s rules (415 without a
/// JSON content type, 400 when malformed, 413 when too large).
#[derive(Debug, Clone, Copy, Default)]
pub struct OptionalJson<T>(pub T);

impl<T, S> FromRequest<S> for OptionalJson<T>
where
    T: DeserializeOwned + Default,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let (parts, body) = req.into_parts();
        let bytes = Bytes::from_request(Request::from_parts(parts.clone(), body), state)
            .await
            .map_err(|r| {
                if r.status() == StatusCode::PAYLOAD_TOO_LARGE {
                    ApiError::of(ErrorCode::PayloadTooLarge, "the request body is too large")
                } else {
                    ApiError::validation(r.body_text())
                }
            })?;
        if bytes.iter().all(u8::is_ascii_whitespace) {
            return Ok(Self(T::default()));
        }
        let Json(value) =
            Json::<T>::from_request(Request::from_parts(parts, bytes.into()), state).await?;
        Ok(Self(value))
    }
}

fn json_rejection(r: JsonRejection) -> ApiError {
    match &r {
        JsonRejection::MissingJsonContentType(_) => ApiError::of(
            ErrorCode::UnsupportedMediaType,
            "expected a JSON body with Content-Type: application/json",
        ),
        JsonRejection::JsonSyntaxError(_) => ApiError::of(
            ErrorCode::InvalidJson,
            format!("malformed JSON: {}", r.body_text()),
        ),
        JsonRejection::JsonDataError(_) => {
            let text = r.body_text();
            match unknown_field(&text) {
                Some(field) => ApiError::validation(text.clone())
                    .with_details(serde_json::json!({ "field": field })),
                None => ApiError::validation(text),
            }
        }
        _ if r.status() == StatusCode::PAYLOAD_TOO_LARGE => {
            ApiError::of(ErrorCode::PayloadTooLarge, "the request body is too large")
        }
        _ => ApiError::validation(r.body_text()),
    }
}

/// The field serde names in "unknown field `x`" (a body field the type
/// does not know, refused by `#[serde(deny_unknown_fields)]`).
pub fn unknown_field(message: &str) -> Option<String> {
    let rest = message.split("unknown field `").nth(1)?;
    rest.split('`').next().map(str::to_owned)
}

/// Query-string extractor; bad parameters → 400 naming the problem.
#[derive(Debug, Clone, Copy, Default)]
pub struct Query<T>(pub T);

impl<T, S> FromRequestParts<S> for Query<T>
where
    T: DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        axum::extract::Query::<T>::from_request_parts(parts, state)
            .await
            .map(|axum::extract::Query(v)| Query(v))
            .map_err(|r: QueryRejection| {
                ApiError::validation(format!("bad query: {}", r.body_text()))
            })
    }
}

/// `?page=&limit=`: 1-based page, limit 1..=100, default 20 (a list with
/// larger pages states its own bounds with [`Page::resolve_within`]).
#[derive(Debug, Clone, Copy, Default, serde::Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct Page {
    /// The page, from 1 (default 1).
    #[param(minimum = 1, example = 1)]
    pub page: Option<u32>,
    /// Items per page, 1 to 100 (default 20).
    #[param(minimum = 1, maximum = 100, example = 20)]
    pub limit: Option<u32>,
}

impl Page {
    pub const DEFAULT_LIMIT: u32 = 20;
    pub const MAX_LIMIT: u32 = 100;

    /// (page, limit, offset) after validation, with the default bounds.
    pub fn resolve(self) -> Result<(u32, u32, i64), ApiError> {
        self.resolve_within(Self::DEFAULT_LIMIT, Self::MAX_LIMIT)
    }

    /// (page, limit, offset) after validation: page from 1, limit
    /// 1..=`max`, `default` when absent.
    pub fn resolve_within(self, default: u32, max: u32) -> Result<(u32, u32, i64), ApiError> {
        let page = self.page.unwrap_or(1);
        let limit = self.limit.unwrap_or(default);
        if page == 0 {
            return Err(ApiError::validation("page starts at 1")
                .with_details(serde_json::json!({"field": "page"})));
        }
        if limit == 0 || limit > max {
            return Err(ApiError::validation(format!("limit must be 1..={max}"))
                .with_details(serde_json::json!({"field": "limit"})));
        }
        Ok((page, limit, i64::from(page - 1) * i64::from(limit)))
    }
}

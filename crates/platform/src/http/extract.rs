//! Extractors whose rejections answer in the one error shape: malformed
//! JSON → 400, wrong field types → 400 naming the problem, missing JSON
//! content type → 415, body over the limit → 413.

use axum::{
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
        JsonRejection::JsonDataError(_) => ApiError::validation(r.body_text()),
        _ if r.status() == StatusCode::PAYLOAD_TOO_LARGE => {
            ApiError::of(ErrorCode::PayloadTooLarge, "the request body is too large")
        }
        _ => ApiError::validation(r.body_text()),
    }
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

/// `?page=&limit=`: 1-based page, limit 1..=100, default 20.
#[derive(Debug, Clone, Copy, serde::Deserialize)]
pub struct Page {
    pub page: Option<u32>,
    pub limit: Option<u32>,
}

impl Page {
    pub const DEFAULT_LIMIT: u32 = 20;
    pub const MAX_LIMIT: u32 = 100;

    /// (page, limit, offset) after validation.
    pub fn resolve(self) -> Result<(u32, u32, i64), ApiError> {
        let page = self.page.unwrap_or(1);
        let limit = self.limit.unwrap_or(Self::DEFAULT_LIMIT);
        if page == 0 {
            return Err(ApiError::validation("page starts at 1"));
        }
        if limit == 0 || limit > Self::MAX_LIMIT {
            return Err(ApiError::validation(format!(
                "limit must be 1..={}",
                Self::MAX_LIMIT
            )));
        }
        Ok((page, limit, i64::from(page - 1) * i64::from(limit)))
    }
}

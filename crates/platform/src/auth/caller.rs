//! The signed-in caller, extracted from `Authorization: Bearer <jwt>`.
//!
//! Every service verifies the token itself (defence in depth: the gateway
//! verifies it too) and checks roles with [`Caller::require`].

use std::sync::Arc;

use axum::{extract::FromRequestParts, http::request::Parts};

use super::{
    jwt::{Identity, JwtKeys, TokenError},
    roles::Role,
};
use crate::{error::ApiError, tenant::TenantId};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Caller {
    pub user_id: String,
    pub email: String,
    /// The role in `tenant`.
    pub role: Role,
    /// The tenant the caller acts in (from the token).
    pub tenant: TenantId,
}

impl Caller {
    /// 403 unless the caller has one of `roles`.
    pub fn require(&self, roles: &[Role]) -> Result<(), ApiError> {
        if roles.contains(&self.role) {
            Ok(())
        } else {
            Err(ApiError::forbidden("your role does not allow this action"))
        }
    }

    pub fn is(&self, role: Role) -> bool {
        self.role == role
    }
}

impl From<Identity> for Caller {
    fn from(i: Identity) -> Self {
        Self {
            user_id: i.user_id,
            email: i.email,
            role: i.role,
            tenant: i.tenant,
        }
    }
}

/// The bearer token of a request, if it has one.
pub fn bearer(parts: &Parts) -> Option<&str> {
    let value = parts
        .headers
        .get(http::header::AUTHORIZATION)?
        .to_str()
        .ok()?;
    let (scheme, token) = value.split_once(' ')?;
    scheme
        .eq_ignore_ascii_case("bearer")
        .then(|| token.trim())
        .filter(|t| !t.is_empty())
}

fn keys(parts: &Parts) -> Result<&Arc<JwtKeys>, ApiError> {
    parts
        .extensions
        .get::<Arc<JwtKeys>>()
        .ok_or_else(|| ApiError::internal("token keys are not configured for this service"))
}

impl<S: Send + Sync> FromRequestParts<S> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        let token = bearer(parts)
            .ok_or_else(|| ApiError::unauthorized("sign in first: missing bearer token"))?;
        match keys(parts)?.verify_identity(token) {
            Ok(identity) => {
                crate::telemetry::trace::set_user(&identity.user_id);
                Ok(identity.into())
            }
            Err(TokenError::Expired) => Err(ApiError::unauthorized(
                "the access token has expired; refresh it",
            )),
            Err(TokenError::Invalid) => Err(ApiError::unauthorized("the access token is invalid")),
            Err(TokenError::Revoked) => Err(ApiError::unauthorized(
                "the session has ended; sign in again",
            )),
        }
    }
}

/// The caller when a valid token is present; `None` otherwise. For public
/// endpoints whose answer depends on who asks.
#[derive(Debug, Clone)]
pub struct MaybeCaller(pub Option<Caller>);

impl<S: Send + Sync> FromRequestParts<S> for MaybeCaller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        let Some(token) = bearer(parts) else {
            return Ok(Self(None));
        };
        let caller = keys(parts)?.verify_identity(token).ok().map(Caller::from);
        if let Some(c) = &caller {
            crate::telemetry::trace::set_user(&c.user_id);
        }
        Ok(Self(caller))
    }
}

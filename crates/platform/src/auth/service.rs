//! Service credentials: how one Marimo service proves to another that a
//! call comes from it, not from a client.
//!
//! Some endpoints exist for services only (the factory's stock holds,
//! which the shop places while it places an order). A customer's token
//! would let a customer call them straight through the gateway, and the
//! edge signature (`http::edge`) proves only that a call passed the
//! gateway. So the calling service signs a short-lived *service token*
//! with the installation's `JWT_SECRET` — every service holds it to verify
//! access tokens — for a different audience (`marimo-internal`):
//!
//! - an access token is never accepted as a service token, nor a service
//!   token as an access token (each verification pins its audience), so a
//!   service token that leaked into a client's hands opens no user
//!   endpoint, and a user's token opens no service endpoint;
//! - it names the service (`svc`), the tenant it acts in (`tid`) and, when
//!   it acts on a person's request, that person (`act`, for audit);
//! - it lives [`SERVICE_TOKEN_TTL`]: minted per call, never stored.
//!
//! A handler states which services may call it in its signature, like a
//! role policy: `FromService(caller, _): FromService<ShopService>`.

use std::{marker::PhantomData, sync::Arc, time::Duration};

use axum::{extract::FromRequestParts, http::request::Parts};
use jsonwebtoken::{Algorithm, Header, Validation, decode, encode};
use serde::{Deserialize, Serialize};

use super::jwt::{ISSUER, JwtKeys, LEEWAY_SECS, TokenError};
use crate::{ApiError, service::ServiceName, tenant::TenantId};

/// The audience of service tokens; access tokens carry `marimo-api`.
pub const INTERNAL_AUDIENCE: &str = "marimo-internal";
/// How long a service token is believed: one call, with room for retries
/// on another instance and for clock skew.
pub const SERVICE_TOKEN_TTL: Duration = Duration::from_secs(60);

#[derive(Debug, Clone, Serialize, Deserialize)]
struct ServiceClaims {
    /// `service:<name>`.
    sub: String,
    svc: String,
    tid: TenantId,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    act: Option<String>,
    iss: String,
    aud: String,
    iat: i64,
    exp: i64,
    jti: String,
}

/// A verified service caller.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServiceCaller {
    pub service: ServiceName,
    /// The tenant the call acts in.
    pub tenant: TenantId,
    /// The user whose request the service is serving, if any.
    pub on_behalf_of: Option<String>,
}

impl JwtKeys {
    /// Signs a service token for `service` acting in `tenant`, on behalf
    /// of user `on_behalf_of` when a person's request caused the call.
    pub fn issue_service(
        &self,
        service: ServiceName,
        tenant: &TenantId,
        on_behalf_of: Option<&str>,
    ) -> String {
        let now = crate::clock::unix_now_ms().div_euclid(1000);
        let claims = ServiceClaims {
            sub: format!("service:{service}"),
            svc: service.as_str().into(),
            tid: tenant.clone(),
            act: on_behalf_of.map(str::to_owned),
            iss: ISSUER.into(),
            aud: INTERNAL_AUDIENCE.into(),
            iat: now,
            exp: now + SERVICE_TOKEN_TTL.as_secs() as i64,
            jti: crate::ids::new_id(),
        };
        let mut header = Header::new(Algorithm::HS256);
        header.kid = Some(self.kid().to_owned());
        encode(&header, &claims, self.signing_key())
            .expect("HS256 signing of serialisable claims cannot fail")
    }

    /// Verifies a service token (signature, `exp`, `iss`, the internal
    /// audience, a known service).
    pub fn verify_service(&self, token: &str) -> Result<ServiceCaller, TokenError> {
        use jsonwebtoken::errors::ErrorKind;
        let mut validation = Validation::new(Algorithm::HS256);
        validation.set_issuer(&[ISSUER]);
        validation.set_audience(&[INTERNAL_AUDIENCE]);
        validation.set_required_spec_claims(&["exp", "iat", "iss", "sub", "aud"]);
        validation.leeway = LEEWAY_SECS;
        let claims = decode::<ServiceClaims>(token, self.verifying_key(token), &validation)
            .map(|data| data.claims)
            .map_err(|e| match e.kind() {
                ErrorKind::ExpiredSignature => TokenError::Expired,
                _ => TokenError::Invalid,
            })?;
        let service: ServiceName = claims.svc.parse().map_err(|_| TokenError::Invalid)?;
        if claims.sub != format!("service:{service}") {
            return Err(TokenError::Invalid);
        }
        Ok(ServiceCaller {
            service,
            tenant: claims.tid,
            on_behalf_of: claims.act,
        })
    }
}

/// A named set of services allowed to call an endpoint.
pub trait ServicePolicy: Send + Sync + 'static {
    const SERVICES: &'static [ServiceName];
}

/// The shop alone (stock holds for its orders).
#[derive(Debug, Clone, Copy)]
pub struct ShopService;
impl ServicePolicy for ShopService {
    const SERVICES: &'static [ServiceName] = &[ServiceName::Shop];
}

/// A service caller admitted by policy `P`: 401 without a valid service
/// token (an access token is not one), 403 for a service `P` does not
/// name. Checked before the body is read.
#[derive(Debug, Clone)]
pub struct FromService<P: ServicePolicy>(pub ServiceCaller, pub PhantomData<P>);

impl<S: Send + Sync, P: ServicePolicy> FromRequestParts<S> for FromService<P> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        let token = super::caller::bearer(parts)
            .ok_or_else(|| ApiError::unauthorized("a service credential is required"))?;
        let keys = parts
            .extensions
            .get::<Arc<JwtKeys>>()
            .ok_or_else(|| ApiError::internal("token keys are not configured for this service"))?;
        let caller = keys
            .verify_service(token)
            .map_err(|_| ApiError::unauthorized("a valid service credential is required"))?;
        if !P::SERVICES.contains(&caller.service) {
            return Err(ApiError::forbidden(
                "this endpoint is not open to the calling service",
            ));
        }
        Ok(Self(caller, PhantomData))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::auth::{Role, jwt::Identity};

    fn keys() -> JwtKeys {
        JwtKeys::new(&[9u8; 32])
    }

    #[test]
    fn a_service_token_names_its_service_tenant_and_person() {
        let k = keys();
        let t = TenantId::default();
        let token = k.issue_service(ServiceName::Shop, &t, Some("u-1"));
        assert_eq!(
            k.verify_service(&token),
            Ok(ServiceCaller {
                service: ServiceName::Shop,
                tenant: t,
                on_behalf_of: Some("u-1".into()),
            })
        );
    }

    #[test]
    fn access_and_service_tokens_never_stand_in_for_each_other() {
        let k = keys();
        let (access, _) = k.issue(&Identity {
            user_id: "u-1".into(),
            email: "a@example.com".into(),
            role: Role::Admin,
            tenant: TenantId::default(),
        });
        assert_eq!(k.verify_service(&access), Err(TokenError::Invalid));
        let service = k.issue_service(ServiceName::Shop, &TenantId::default(), None);
        assert_eq!(k.verify(&service), Err(TokenError::Invalid));
    }

    #[test]
    fn a_token_of_another_key_is_refused() {
        let other = JwtKeys::new(&[1u8; 32]);
        let token = other.issue_service(ServiceName::Shop, &TenantId::default(), None);
        assert_eq!(keys().verify_service(&token), Err(TokenError::Invalid));
    }
}

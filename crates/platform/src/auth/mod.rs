//! Authentication and authorization shared by every service: access tokens
//! ([`jwt`]), password hashing ([`password`]), the five roles ([`roles`]) and
//! the signed-in caller extracted from a request ([`caller`]), the
//! credentials services call each other with ([`service`]), the named
//! role policies handlers are guarded by ([`policy`]) and the per-user
//! revocation marks tokens are checked against ([`revocation`]).

pub mod caller;
pub mod jwt;
pub mod password;
pub mod policy;
pub mod revocation;
pub mod roles;
pub mod service;

pub use caller::{Caller, MaybeCaller};
pub use jwt::{Claims, JwtKeys};
pub use policy::{Authorized, Policy};
pub use roles::Role;
pub use service::{FromService, ServiceCaller};

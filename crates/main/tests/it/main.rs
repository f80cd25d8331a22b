//! The main service's integration tests: fake summary upstreams (one per
//! service, counting their calls), one that is down and one that is slow,
//! driven over HTTP. Main has no database, so there is no backend loop.

mod dashboard;
mod db_metrics;
mod openapi;
mod tenancy;

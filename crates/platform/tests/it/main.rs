//! Platform integration tests: the event bus on real databases and brokers
//! (and through their outages); transaction conflicts; the Redis cache
//! store and the locks; the `Idempotency-Key` layer.

mod bus;
mod conflicts;
mod consul;
mod dlq;
mod idempotency;
mod outage;
mod rabbit;
mod redis;
mod support;
mod telemetry;
mod tenancy;
mod versions;

//! Platform integration tests: the event bus on real databases and brokers;
//! the Redis cache store and the locks; the `Idempotency-Key` layer.

mod bus;
mod consul;
mod dlq;
mod idempotency;
mod rabbit;
mod redis;
mod support;
mod telemetry;

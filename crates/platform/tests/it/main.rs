//! Platform integration tests: the event bus on real databases and brokers;
//! the Redis cache store and the locks.

mod bus;
mod consul;
mod dlq;
mod rabbit;
mod redis;
mod support;
mod telemetry;
mod versions;

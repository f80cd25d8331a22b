//! Platform integration tests: the event bus on real databases and brokers.

mod bus;
mod consul;
mod dlq;
mod rabbit;
mod telemetry;

//! Platform integration tests: the event bus on real databases.

mod bus;

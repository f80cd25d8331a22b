//! The main service's one use case: asking the other services for their
//! summaries ([`fanout`]) to compose the dashboard and statistics. It is
//! the only place main talks to another service; main owns no tables, so
//! it has no store and no transactions.

pub mod fanout;

//! The `marimo` binary's library half: starting services, alone or all in
//! one process. The CLI (`main.rs`) and the system tests share it.

pub mod system;

pub use system::{System, bind, start};

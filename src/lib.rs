//! The `tessera` binary's library half: configuration, command line and server wiring. The
//! integration tests start servers through it.

pub mod cli;
pub mod config;
pub mod server;
pub mod telemetry;
pub mod tenancy;

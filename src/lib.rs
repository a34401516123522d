//! keepwatch: self-hosted monitoring for small businesses.
//!
//! Data flows one way: **collect → store → evaluate → notify / report / serve**.
//!
//! - [`collect`] reads host metrics (CPU, memory, disks, network, load, uptime)
//!   through a [`collect::MetricsSource`], and decides when the agent should
//!   throttle itself on a busy host.
//! - [`store`] keeps the observations in one SQLite file, compactly, with
//!   retention and a disk-space cap.
//! - [`agent`] is the runtime of `keepwatch run`: it schedules collection, writes
//!   to the store and reloads the configuration.
//! - [`alert`] turns service states and threshold rules into alerts, classified
//!   as emergency or not, and decides who is told when: business hours,
//!   escalation steps, the summary at opening, maintenance, flapping,
//!   grouping and `depends_on` folding.
//! - [`notify`] delivers composed messages through channels (email, SMS,
//!   webhook, chat, log) from a durable outbox that retries.
//! - [`config`] is the typed `keepwatch.toml`, its loading and validation, and
//!   the commented file `keepwatch init` writes.
//! - [`clock`] is where time comes from, so tests can simulate days in milliseconds.
//! - [`printable`] makes text from outside safe to show (escaped, cut).
//!
//! The binary (`src/main.rs`) only parses the command line and calls into these.

pub mod agent;
pub mod alert;
pub mod calendar;
pub mod checks;
pub mod clock;
pub mod collect;
pub mod config;
pub mod deploy;
pub mod notify;
pub mod observation;
pub mod plain;
pub mod printable;
pub mod secret;
pub mod status;
pub mod store;
pub mod tls;
pub mod units;
pub mod vocabulary;

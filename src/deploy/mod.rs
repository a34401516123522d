//! Helpers that set keepwatch up on a machine: the `init` wizard and `doctor`.

pub mod doctor;
pub mod init;
mod mail_setup;
mod prompt;
pub mod service;

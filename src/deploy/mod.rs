//! Helpers that set keepwatch up on a machine: the `init` wizard (and the
//! services it finds), `doctor`, the background service and `update`.

pub mod discover;
pub mod doctor;
pub mod init;
mod mail_setup;
mod prompt;
pub mod service;
pub mod update;

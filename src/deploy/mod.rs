//! Helpers that set keepwatch up on a machine: the `init` wizard.

pub mod init;

//! The alert engine: rules over observations become alert events (opened,
//! escalated, resolved), each classified as an emergency or not; then who is
//! told, when and in what words.
//!
//! Everything but [`engine`] is pure: the caller passes the samples, the
//! settings, whether it is business hours (from
//! [`crate::calendar::Calendar::period_at`]) and the time. [`engine`] applies
//! those decisions to the alerts, notices and outbox kept in the store;
//! [`crate::notify`] delivers.

pub mod compose;
pub mod engine;
mod escalation;
mod maintenance;
pub mod problems;
mod rules;
pub mod upcoming;

pub use maintenance::{Every, MaintenanceConfig, Target, Window, covering};
pub use problems::{Decision, OwnedProblem, Problem, service_fingerprint};

pub use escalation::{AlertingConfig, Due, LOG_CHANNEL, Progress, Step, due, next_slot};

pub use rules::{AlertEvent, Class, Emergencies, Evaluator, RuleConfig, Thresholds};

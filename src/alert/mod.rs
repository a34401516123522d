//! The alert engine: rules over observations become alert events (opened,
//! escalated, resolved), each classified as an emergency or not.
//!
//! Everything here is pure: the caller passes the samples, whether it is
//! business hours (from [`crate::calendar::Calendar::period_at`]) and, through
//! the samples' timestamps, the time. Delivery, escalation and storage are
//! elsewhere.

mod maintenance;
mod rules;

pub use maintenance::{Every, MaintenanceConfig, Target, Window, covering};
pub use rules::{
    AlertEvent, Class, Delivery, Evaluator, RuleConfig, Severity, Thresholds, classify,
    classify_host, delivery, metric_names,
};

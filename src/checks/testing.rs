//! What the checks' unit tests share.

use super::{CheckOutcome, Common};

use crate::vocabulary::FailureKind;

/// A service's common settings: its name, and defaults for the rest.
pub(crate) fn named(name: &str) -> Common {
    Common {
        name: name.into(),
        ..Common::default()
    }
}

/// `outcome` is a failure of `kind`, its explanation starting with `start`
/// and saying `says`.
#[track_caller]
pub(crate) fn assert_explains(outcome: &CheckOutcome, kind: FailureKind, start: &str, says: &str) {
    assert_eq!(outcome.kind, Some(kind), "{}", outcome.explanation);
    assert!(
        outcome.explanation.starts_with(start),
        "{}",
        outcome.explanation
    );
    assert!(
        outcome.explanation.contains(says),
        "{}",
        outcome.explanation
    );
}

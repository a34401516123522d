//! Trouble on this computer, not at the service: when keepwatch itself has
//! run out of file descriptors, memory, socket buffers or local ports, a
//! check fails whatever the service is doing. Calling the service DOWN then
//! would be a false alert, so such a failure becomes "could not be run"
//! ([`FailureKind::NotRun`]), which the agent reports to the admin as
//! keepwatch's own problem and which never changes a service's state.
//!
//! A failure is local when its explanation carries one of those system
//! errors (the checks quote the system's message), or when, right after the
//! failure, this process cannot open a socket itself: some clients word the
//! error their own way, but the probe fails with the real cause.

use std::io;

use super::CheckOutcome;

use crate::vocabulary::FailureKind;

/// The system errors that mean "this computer ran out of something": the
/// code on Linux, and the message Unix systems print for it (matched on
/// every system).
const LOCAL_ERRORS: [(i32, &str); 5] = [
    (24, "Too many open files"),
    (23, "Too many open files in system"),
    (12, "Cannot allocate memory"),
    (105, "No buffer space available"),
    (99, "Cannot assign requested address"),
];

/// The outcome of a failed check, or "could not be run" when the failure
/// came from this computer's limits rather than from the service.
pub fn judge(name: &str, outcome: CheckOutcome) -> CheckOutcome {
    if outcome.is_up() {
        return outcome;
    }
    let cause = quoted_cause(&outcome.explanation).or_else(|| probe().err());
    match cause {
        Some(cause) => not_run(name, &cause),
        None => outcome,
    }
}

/// The outcome that says `name`'s check could not be run because of `cause`.
pub fn not_run(name: &str, cause: &str) -> CheckOutcome {
    CheckOutcome::failed(
        FailureKind::NotRun,
        format!(
            "{name} could not be checked: this computer is out of resources ({cause}). This is keepwatch's own problem, not the service's: see what uses the file descriptors or memory (`ls /proc/$(pidof keepwatch)/fd | wc -l`, `free -m`), or raise the limit (LimitNOFILE= in the service file, `ulimit -n`)."
        ),
    )
}

/// The local system error that `explanation` quotes, if any.
fn quoted_cause(explanation: &str) -> Option<String> {
    LOCAL_ERRORS.iter().find_map(|(code, message)| {
        (explanation.contains(&format!("os error {code})")) || explanation.contains(message))
            .then(|| (*message).to_owned())
    })
}

/// Whether this process can still open a socket; the local error if not.
fn probe() -> Result<(), String> {
    match std::net::UdpSocket::bind(("127.0.0.1", 0)) {
        Ok(_) => Ok(()),
        Err(err) if is_local(&err) => Err(err.to_string()),
        Err(_) => Ok(()),
    }
}

/// `true` for the errors that mean this computer ran out of something.
fn is_local(err: &io::Error) -> bool {
    err.raw_os_error()
        .is_some_and(|code| LOCAL_ERRORS.iter().any(|(local, _)| *local == code))
        || err.kind() == io::ErrorKind::OutOfMemory
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_quoted_local_error_makes_the_check_not_run() {
        let down = CheckOutcome::failed(
            FailureKind::Other,
            "Shop could not be reached: Too many open files (os error 24).",
        );
        let judged = judge("Shop", down);
        assert_eq!(judged.kind, Some(FailureKind::NotRun));
        assert!(
            judged.explanation.starts_with("Shop could not be checked"),
            "{}",
            judged.explanation
        );
        assert!(judged.explanation.contains("Too many open files"));
    }

    #[test]
    fn a_failure_of_the_service_stays_the_services() {
        let refused = CheckOutcome::failed(FailureKind::ConnectionRefused, "Shop refused.");
        assert_eq!(judge("Shop", refused.clone()), refused);
        let up = CheckOutcome::up("Shop is up.");
        assert_eq!(judge("Shop", up.clone()), up);
    }

    #[test]
    fn local_errors_are_told_by_their_code() {
        assert!(is_local(&io::Error::from_raw_os_error(24)));
        assert!(is_local(&io::Error::from_raw_os_error(105)));
        assert!(!is_local(&io::Error::from_raw_os_error(111)));
        assert!(!is_local(&io::ErrorKind::ConnectionRefused.into()));
    }
}

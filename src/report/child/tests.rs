//! The child's side of a scheduled report on a real SQLite file, and the
//! agent's side with real processes that fail in each way a child can.
//! (`tests/report_delivery.rs` runs the real keepwatch binary as the child.)

use crate::config::ReportConfig;
use crate::report::tests::{at, config, october};

use super::*;

fn job(store: &Store) -> Job {
    let mut config = config();
    config.reports = vec![ReportConfig {
        every: "month 1st 08:00".to_owned(),
        to: vec!["boss@example.com".to_owned()],
        ..ReportConfig::default()
    }];
    Job {
        report: config.reports[0].key(),
        config,
        database: store.path().to_path_buf(),
        due: at("2026-11-01T08:00"),
        now: at("2026-11-01T08:00"),
    }
}

#[test]
fn the_child_makes_the_same_message_from_the_job_it_reads() {
    let (store, _dir) = october();
    let job = job(&store);
    let sent = serde_json::to_vec(&job).unwrap();
    let read: Job = serde_json::from_slice(&sent).unwrap();
    assert_eq!(read, job, "the config and the rest arrive intact");

    let mut answer = Vec::new();
    serve(&mut sent.as_slice(), &mut answer).unwrap();
    let message: Message = serde_json::from_slice(&answer).unwrap();
    let calendar = Calendar::from_config(&job.config.business, TimeZone::system()).unwrap();
    let here = message_of(&store, &job, &calendar);
    assert_eq!(message, here);
    assert!(
        message
            .subject
            .ends_with("How our systems did: October 2026")
    );
    let pdf = &message.enclosure.as_ref().unwrap().files[0];
    assert!(pdf.data.starts_with(b"%PDF-"));
}

fn message_of(store: &Store, job: &Job, calendar: &Calendar) -> Message {
    message(
        store,
        &job.config,
        calendar,
        &job.config.reports[0],
        job.due,
        job.now,
    )
    .unwrap()
}

#[test]
fn a_job_the_child_cannot_do_is_refused_with_the_reason() {
    let (store, _dir) = october();
    let mut unknown = job(&store);
    unknown.report = "weekly".to_owned();
    assert_eq!(
        unknown.run().unwrap_err(),
        "no [[report]] is known as \"weekly\""
    );
    let err = serve(&mut &b"{\"config\": 1}"[..], &mut Vec::new()).unwrap_err();
    assert!(
        err.starts_with(
            "`keepwatch report make-scheduled` reads what keepwatch run sends it: invalid type"
        ),
        "{err}"
    );
    let mut nowhere = job(&store);
    nowhere.database = store.path().parent().unwrap().to_path_buf();
    assert!(nowhere.run().is_err(), "a folder is not a database");
}

#[test]
fn a_child_that_cannot_run_fails_or_answers_nonsense_is_an_error() {
    let (store, _dir) = october();
    let job = job(&store);
    let err = job.run_in(Path::new("/nonexistent/keepwatch")).unwrap_err();
    assert!(
        err.starts_with("cannot run /nonexistent/keepwatch: "),
        "{err}"
    );
    if cfg!(unix) {
        // `sh report make-scheduled`: no such script, said on standard error.
        let err = job.run_in(Path::new("sh")).unwrap_err();
        assert!(
            err.starts_with("the report process ended with exit status: 2: ")
                && err.contains("cannot open report"),
            "{err}"
        );
        // `echo report make-scheduled`: an answer that is not a message.
        let err = job.run_in(Path::new("echo")).unwrap_err();
        assert!(
            err.starts_with("the report process answered something that is not a report: "),
            "{err}"
        );
    }
}

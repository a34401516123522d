//! Where log lines go. Each starts with the time in the business time zone
//! with its offset (`2026-12-02T09:47:57.123+01:00`), so a log line, `status`
//! and an alert mail name the same moment the same way. Lines are written by
//! a thread of their own ([`LogPipe`]): a log pipe that is closed (`run | tee`
//! after Ctrl-C) or full (nobody reads it) drops lines, and monitoring never
//! waits for it.

use std::io::{self, Write as _};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{Receiver, SyncSender, TrySendError};

use jiff::tz::TimeZone;
use tracing_subscriber::fmt::format::Writer;
use tracing_subscriber::fmt::time::FormatTime;

use crate::clock::Clock;

/// Formats log times from `clock` in `zone`.
pub struct LogTime {
    clock: Arc<dyn Clock>,
    zone: TimeZone,
}

impl LogTime {
    /// Log times read from `clock`, shown in `zone` (the business time zone).
    pub fn new(clock: Arc<dyn Clock>, zone: TimeZone) -> Self {
        Self { clock, zone }
    }
}

impl FormatTime for LogTime {
    fn format_time(&self, w: &mut Writer<'_>) -> std::fmt::Result {
        let local = self.clock.now().to_zoned_datetime(self.zone.clone());
        write!(w, "{}", local.strftime("%Y-%m-%dT%H:%M:%S%.3f%:z"))
    }
}

/// Log records waiting for the writer thread; more are dropped (and counted)
/// rather than held up.
const WAITING: usize = 1_024;

/// How long the last lines are given to reach the output at exit.
const FLUSH_AT_EXIT: std::time::Duration = std::time::Duration::from_secs(2);

/// A log destination that never blocks the caller: records go to a writer
/// thread through a bounded queue. Give it to `tracing_subscriber::fmt()`
/// with `with_writer`; keep the [`LogFlush`] until the program ends.
#[derive(Clone)]
pub struct LogPipe {
    queue: SyncSender<Vec<u8>>,
    dropped: Arc<AtomicU64>,
}

/// Gives the writer thread a moment to write the last lines when dropped.
pub struct LogFlush {
    queue: SyncSender<Vec<u8>>,
    written: Receiver<()>,
}

impl LogPipe {
    /// A pipe whose thread writes to `output`, made safe with
    /// [`crate::printable::LogRecords`].
    pub fn new<W: io::Write + Send + 'static>(output: W) -> (Self, LogFlush) {
        let (queue, records) = std::sync::mpsc::sync_channel(WAITING);
        let (done, written) = std::sync::mpsc::sync_channel(1);
        let dropped = Arc::new(AtomicU64::new(0));
        let spawned = std::thread::Builder::new()
            .name("keepwatch-log".to_owned())
            .spawn({
                let dropped = dropped.clone();
                move || write_records(&records, output, &dropped, &done)
            });
        if let Err(err) = spawned {
            // Without the thread, records are dropped; say so once, directly.
            let _ = writeln!(io::stderr(), "keepwatch cannot start its log writer: {err}");
        }
        let flush = LogFlush {
            queue: queue.clone(),
            written,
        };
        (Self { queue, dropped }, flush)
    }
}

/// Writes each record as it comes; a write that fails (a closed pipe) is
/// forgotten, and lines dropped meanwhile are counted in the next one.
/// An empty record asks to be told (on `done`) that everything before it is
/// written.
fn write_records<W: io::Write>(
    records: &Receiver<Vec<u8>>,
    output: W,
    dropped: &AtomicU64,
    done: &SyncSender<()>,
) {
    let mut output = crate::printable::LogRecords(output);
    for record in records {
        if record.is_empty() {
            let _ = done.try_send(());
            continue;
        }
        let lost = dropped.swap(0, Ordering::Relaxed);
        if lost > 0 {
            let note = format!(
                "({lost} log lines were dropped: the log output was not read fast enough)\n"
            );
            let _ = output.write_all(note.as_bytes());
        }
        let _ = output.write_all(&record);
        let _ = output.flush();
    }
}

impl io::Write for LogPipe {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self.queue.try_send(buf.to_vec()) {
            Ok(()) | Err(TrySendError::Disconnected(_)) => {}
            Err(TrySendError::Full(_)) => {
                self.dropped.fetch_add(1, Ordering::Relaxed);
            }
        }
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl<'a> tracing_subscriber::fmt::MakeWriter<'a> for LogPipe {
    type Writer = LogPipe;

    fn make_writer(&'a self) -> Self::Writer {
        self.clone()
    }
}

impl Drop for LogFlush {
    fn drop(&mut self) {
        // Wait a little for the last lines, never forever: the output may be
        // a full pipe nobody reads.
        let deadline = std::time::Instant::now() + FLUSH_AT_EXIT;
        while let Err(TrySendError::Full(_)) = self.queue.try_send(Vec::new()) {
            if std::time::Instant::now() >= deadline {
                return;
            }
            std::thread::sleep(std::time::Duration::from_millis(10));
        }
        let left = deadline.saturating_duration_since(std::time::Instant::now());
        let _ = self.written.recv_timeout(left);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::SimClock;

    fn shown(at: &str, zone: &str) -> String {
        let clock = Arc::new(SimClock::new(at.parse().unwrap()));
        let time = LogTime::new(clock, TimeZone::get(zone).unwrap());
        let mut text = String::new();
        time.format_time(&mut Writer::new(&mut text)).unwrap();
        text
    }

    #[test]
    fn log_times_are_business_times_with_their_offset() {
        assert_eq!(
            shown("2026-12-02T20:47:57.5Z", "Europe/Berlin"),
            "2026-12-02T21:47:57.500+01:00"
        );
        assert_eq!(
            shown("2026-07-02T20:47:57Z", "Europe/Berlin"),
            "2026-07-02T22:47:57.000+02:00"
        );
        assert_eq!(
            shown("2026-12-02T20:47:57Z", "UTC"),
            "2026-12-02T20:47:57.000+00:00"
        );
    }

    fn record(pipe: &mut LogPipe, text: &str) {
        pipe.write_all(text.as_bytes()).unwrap();
    }

    #[test]
    fn records_arrive_in_order_and_the_last_ones_before_exit() {
        let (reader, writer) = io::pipe().unwrap();
        let (mut pipe, flush) = LogPipe::new(writer);
        for n in 0..100 {
            record(&mut pipe, &format!("INFO line {n}\n"));
        }
        record(&mut pipe, "WARN forged\nERROR line\n");
        drop(flush);
        drop(pipe);
        let text = io::read_to_string(reader).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines[0], "INFO line 0");
        assert_eq!(lines[99], "INFO line 99");
        assert_eq!(lines[100], "WARN forged");
        assert_eq!(
            lines[101], "    ERROR line",
            "a record cannot forge another"
        );
    }

    #[test]
    fn a_pipe_nobody_reads_drops_lines_and_never_holds_the_caller() {
        let (reader, writer) = io::pipe().unwrap();
        let (mut pipe, flush) = LogPipe::new(writer);
        // Far more than the pipe's buffer and the queue hold together.
        let line = format!("INFO {}\n", "x".repeat(200));
        for _ in 0..20_000 {
            record(&mut pipe, &line);
        }
        // Nobody has read yet: exiting waits a moment, not forever.
        let started = std::time::Instant::now();
        drop(flush);
        assert!(started.elapsed() < FLUSH_AT_EXIT * 2);
        // Reading again lets the writer go on and say what was lost.
        record(&mut pipe, "INFO after\n");
        drop(pipe);
        let mut reader = io::BufReader::new(reader);
        let mut text = String::new();
        let mut chunk = String::new();
        while io::BufRead::read_line(&mut reader, &mut chunk).unwrap_or(0) > 0 {
            text.push_str(&chunk);
            if chunk.starts_with("INFO after") {
                break;
            }
            chunk.clear();
        }
        assert!(
            text.contains("log lines were dropped"),
            "{}",
            &text[text.len().saturating_sub(300)..]
        );
        assert!(text.lines().count() < 20_000);
    }

    #[test]
    fn a_closed_log_output_is_no_failure() {
        let (reader, writer) = io::pipe().unwrap();
        drop(reader);
        let (mut pipe, flush) = LogPipe::new(writer);
        for _ in 0..10 {
            record(&mut pipe, "INFO into a closed pipe\n");
        }
        drop(flush);
    }
}

use std::sync::Arc;

use jiff::SignedDuration;

use super::*;
use crate::clock::SimClock;
use crate::notify::test_message;
use crate::store::StorageConfig;

fn start() -> Timestamp {
    "2026-11-23T09:00:00Z".parse().unwrap()
}

fn outbox() -> (Outbox, Arc<SimClock>, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(&dir.path().join("k.db"), &StorageConfig::default()).unwrap();
    let clock = Arc::new(SimClock::new(start()));
    (Outbox::new(store, clock.clone()), clock, dir)
}

fn queue(outbox: &mut Outbox, channel: &str, body: &str) -> i64 {
    outbox
        .store
        .enqueue_message(channel, body, &[], start())
        .unwrap()
}

fn entry(outbox: &Outbox, id: i64) -> OutboxEntry {
    outbox
        .store()
        .recent_messages(100)
        .unwrap()
        .into_iter()
        .find(|e| e.id == id)
        .unwrap()
}

#[tokio::test]
async fn a_delivered_message_is_marked_and_never_sent_again() {
    let (mut outbox, _clock, _dir) = outbox();
    let message = serde_json::to_string(&test_message("Shop", "log", start())).unwrap();
    let id = queue(&mut outbox, "log", &message);
    let channels = channels(&[]);
    let pass = outbox.deliver(&channels).await.unwrap();
    assert_eq!((pass.delivered, pass.failed, pass.next), (1, 0, None));
    assert_eq!(entry(&outbox, id).delivered_at, Some(start()));
    let again = outbox.deliver(&channels).await.unwrap();
    assert_eq!(again.delivered, 0);
}

fn message(channel: &str) -> String {
    serde_json::to_string(&test_message("Shop", channel, start())).unwrap()
}

#[tokio::test]
async fn a_failure_is_retried_with_backoff_and_later_messages_to_it_wait_their_turn() {
    let (mut outbox, clock, _dir) = outbox();
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = closed.local_addr().unwrap().port();
    drop(closed);
    let hook: Channel = toml::from_str(&format!(
        "name = \"hook\"\ntype = \"webhook\"\nurl = \"http://127.0.0.1:{port}/\""
    ))
    .unwrap();
    let channels = channels(&[hook]);
    let first = queue(&mut outbox, "hook", &message("hook"));
    let second = queue(&mut outbox, "hook", &message("hook"));
    let logged = queue(&mut outbox, "log", &message("log"));
    let pass = outbox.deliver(&channels).await.unwrap();
    assert_eq!(
        (pass.delivered, pass.failed),
        (1, 1),
        "the log channel is not held up"
    );
    assert_eq!(entry(&outbox, logged).delivered_at, Some(start()));
    let failed = entry(&outbox, first);
    assert_eq!(failed.attempts, 1);
    assert!(failed.last_error.unwrap().contains(&port.to_string()));
    assert_eq!(failed.next_at, start() + SignedDuration::from_secs(10));
    assert_eq!(entry(&outbox, second).attempts, 0, "waits behind the first");
    assert_eq!(pass.next, Some(start() + SignedDuration::from_secs(10)));
    // Not due yet: nothing is tried.
    let pass = outbox.deliver(&channels).await.unwrap();
    assert_eq!((pass.delivered, pass.failed), (0, 0));
    clock.advance(SignedDuration::from_secs(10));
    let pass = outbox.deliver(&channels).await.unwrap();
    assert_eq!(pass.failed, 1);
    let failed = entry(&outbox, first);
    assert_eq!(failed.attempts, 2);
    assert_eq!(
        failed.next_at,
        start() + SignedDuration::from_secs(30),
        "doubled"
    );
}

#[tokio::test]
async fn a_damaged_message_is_set_aside_and_does_not_block_the_next() {
    let (mut outbox, _clock, _dir) = outbox();
    let damaged = queue(&mut outbox, "log", "not a message");
    let good = queue(&mut outbox, "log", &message("log"));
    let pass = outbox.deliver(&channels(&[])).await.unwrap();
    assert_eq!(pass.delivered, 1);
    let set_aside = entry(&outbox, damaged);
    assert_eq!(set_aside.gave_up_at, Some(start()));
    assert!(set_aside.last_error.unwrap().contains("damaged"));
    assert!(entry(&outbox, good).delivered_at.is_some());
}

#[tokio::test]
async fn a_message_for_a_channel_no_longer_configured_is_set_aside_with_the_reason() {
    let (mut outbox, _clock, _dir) = outbox();
    let id = queue(&mut outbox, "pager", "{}");
    outbox.deliver(&channels(&[])).await.unwrap();
    let entry = entry(&outbox, id);
    assert_eq!(entry.gave_up_at, Some(start()));
    assert!(
        entry
            .last_error
            .unwrap()
            .contains("\"pager\" is no longer in the config")
    );
    assert!(outbox.store().undelivered().unwrap().is_empty());
}

#[tokio::test]
async fn run_delivers_when_woken_and_stops_when_asked() {
    let (mut outbox, _clock, dir) = outbox();
    let message = serde_json::to_string(&test_message("Shop", "log", start())).unwrap();
    queue(&mut outbox, "log", &message);
    let wake = Arc::new(Notify::new());
    let (_tx, rx) = watch::channel(channels(&[]));
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let task = tokio::spawn(outbox.run(wake.clone(), rx, async {
        let _ = stop_rx.await;
    }));
    let reader = Store::open(&dir.path().join("k.db"), &StorageConfig::default()).unwrap();
    for _ in 0..200 {
        if reader.undelivered().unwrap().is_empty() {
            break;
        }
        tokio::task::yield_now().await;
        wake.notify_one();
    }
    assert!(reader.undelivered().unwrap().is_empty());
    stop_tx.send(()).unwrap();
    task.await.unwrap();
}

#[test]
fn retries_back_off_to_a_cap() {
    let secs = |attempts, permanent| retry_after(attempts, permanent).as_secs();
    assert_eq!(secs(1, false), 10);
    assert_eq!(secs(2, false), 20);
    assert_eq!(secs(4, false), 80);
    assert_eq!(secs(10, false), 600);
    assert_eq!(secs(10, true), 3600);
    assert_eq!(secs(0, false), 10);
    assert_eq!(secs(u32::MAX, true), 3600);
}

/// A webhook receiver on loopback that answers 200 to every request and,
/// for each, notes which messages the database held as delivered when the
/// request came.
async fn receiver_noting_deliveries(
    database: std::path::PathBuf,
) -> (u16, Arc<std::sync::Mutex<Vec<usize>>>) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let noted = Arc::new(std::sync::Mutex::new(Vec::new()));
    let notes = noted.clone();
    tokio::spawn(async move {
        loop {
            let (mut socket, _) = listener.accept().await.unwrap();
            let mut request = Vec::new();
            let mut buffer = [0u8; 4096];
            // Headers, then as many bytes as Content-Length says.
            loop {
                let read = socket.read(&mut buffer).await.unwrap();
                request.extend_from_slice(&buffer[..read]);
                let text = String::from_utf8_lossy(&request).to_lowercase();
                if let Some(end) = text.find("\r\n\r\n") {
                    let length = text
                        .lines()
                        .find_map(|l| l.strip_prefix("content-length:"))
                        .and_then(|n| n.trim().parse::<usize>().ok())
                        .unwrap_or(0);
                    if request.len() >= end + 4 + length || read == 0 {
                        break;
                    }
                }
            }
            let store = Store::open(&database, &StorageConfig::default()).unwrap();
            let delivered = store
                .recent_messages(100)
                .unwrap()
                .iter()
                .filter(|e| e.delivered_at.is_some())
                .count();
            notes.lock().unwrap().push(delivered);
            socket
                .write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
                .await
                .unwrap();
        }
    });
    (port, noted)
}

#[tokio::test]
async fn each_delivery_is_recorded_before_the_next_message_to_its_channel_goes_out() {
    let (mut outbox, _clock, dir) = outbox();
    let (port, noted) = receiver_noting_deliveries(dir.path().join("k.db")).await;
    let hook: Channel = toml::from_str(&format!(
        "name = \"hook\"\ntype = \"webhook\"\nurl = \"http://127.0.0.1:{port}/\""
    ))
    .unwrap();
    let channels = channels(&[hook]);
    for _ in 0..3 {
        queue(&mut outbox, "hook", &message("hook"));
    }
    let pass = outbox.deliver(&channels).await.unwrap();
    assert_eq!(pass.delivered, 3);
    // A kill while the third is on its way would send only the third again.
    assert_eq!(*noted.lock().unwrap(), vec![0, 1, 2]);
}

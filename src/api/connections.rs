//! The API's connections to the database: one kept open while the API is
//! idle, and more under load, up to one per core, so concurrent requests
//! are answered side by side instead of one after another. A 30-day history
//! costs a few milliseconds of CPU; with one connection, ten clients waited
//! for each other and the tenth waited ten times as long.

use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use tokio::sync::Semaphore;

use super::ApiError;
use crate::store::{StorageConfig, Store};

/// Open connections not in use, and how many may be in use at once.
pub(super) struct Connections {
    database: PathBuf,
    storage: StorageConfig,
    idle: Mutex<Vec<Store>>,
    in_use: Arc<Semaphore>,
}

impl Connections {
    /// Starts with `first`, opening more (to the same file, as `storage`
    /// says) when requests overlap, up to `most` at a time.
    pub(super) fn new(first: Store, storage: StorageConfig, most: usize) -> Arc<Self> {
        Arc::new(Connections {
            database: first.path().to_path_buf(),
            storage,
            idle: Mutex::new(vec![first]),
            in_use: Arc::new(Semaphore::new(most.max(1))),
        })
    }

    /// At most one per core (four at most: more would only share the same
    /// cores and keep more page caches in memory).
    pub(super) fn per_core() -> usize {
        std::thread::available_parallelism().map_or(1, |n| n.get().min(4))
    }

    /// Runs `work` on a connection of its own on a blocking thread, so the
    /// agent's runtime keeps running checks meanwhile. Waits while every
    /// connection it may open is busy.
    pub(super) async fn with<T: Send + 'static>(
        self: &Arc<Self>,
        work: impl FnOnce(&mut Store) -> T + Send + 'static,
    ) -> Result<T, ApiError> {
        let permit = self.in_use.clone().acquire_owned().await.map_err(|err| {
            ApiError::internal(format!("the database connections are closed: {err}"))
        })?;
        let connections = self.clone();
        tokio::task::spawn_blocking(move || {
            let taken = connections.lock().pop();
            let mut store = match taken {
                Some(store) => store,
                None => Store::open(&connections.database, &connections.storage)?,
            };
            let done = work(&mut store);
            connections.lock().push(store);
            drop(permit);
            Ok(done)
        })
        .await
        .map_err(|err| ApiError::internal(format!("a database request failed: {err}")))?
    }

    /// How many connections are open and not in use.
    #[cfg(test)]
    fn idle(&self) -> usize {
        self.lock().len()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<Store>> {
        self.idle.lock().unwrap_or_else(|p| p.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::time::{Duration, Instant};

    fn first(dir: &tempfile::TempDir) -> Store {
        Store::open(&dir.path().join("k.db"), &StorageConfig::default()).unwrap()
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn overlapping_requests_get_connections_of_their_own_up_to_the_limit() {
        let dir = tempfile::tempdir().unwrap();
        let connections = Connections::new(first(&dir), StorageConfig::default(), 2);
        // Two requests at once, each holding its connection until it sees
        // the other one inside too (or 5 s have passed).
        let inside = Arc::new(AtomicUsize::new(0));
        let mut requests = Vec::new();
        for _ in 0..2 {
            let inside = inside.clone();
            let connections = connections.clone();
            requests.push(tokio::spawn(async move {
                connections
                    .with(move |_| {
                        inside.fetch_add(1, Ordering::SeqCst);
                        let deadline = Instant::now() + Duration::from_secs(5);
                        while inside.load(Ordering::SeqCst) < 2 && Instant::now() < deadline {
                            std::thread::yield_now();
                        }
                        inside.load(Ordering::SeqCst)
                    })
                    .await
            }));
        }
        for request in requests {
            assert_eq!(
                request.await.unwrap().unwrap(),
                2,
                "ran one after the other"
            );
        }
        // Both stay open for the next requests.
        assert_eq!(connections.idle(), 2);
        // The third waits for a free one rather than opening a third.
        let path = connections.with(|store| store.path().to_path_buf()).await;
        assert_eq!(path.unwrap(), dir.path().join("k.db"));
        assert_eq!(connections.idle(), 2);
    }

    #[tokio::test]
    async fn a_connection_that_cannot_be_opened_is_an_error_not_a_hang() {
        let dir = tempfile::tempdir().unwrap();
        let connections = Connections::new(first(&dir), StorageConfig::default(), 2);
        let held = connections.lock().pop();
        std::fs::remove_dir_all(dir.path()).unwrap();
        std::fs::write(dir.path(), "not a folder").unwrap();
        let result = connections.with(|_| ()).await;
        assert!(result.is_err());
        drop(held);
        // The slot it took is free again.
        assert_eq!(connections.in_use.available_permits(), 2);
    }
}

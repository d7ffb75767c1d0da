//! The dedicated hashing threads (lowest scheduling priority) that every
//! Argon2 run and policy check goes to, and the count of callers waiting
//! for a permit to use them.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, mpsc};

use crate::error::{Error, Result};

/// A unit of hashing work for a worker thread.
pub(super) type Job = Box<dyn FnOnce() + Send>;

/// The dedicated hashing threads; they exit when the last handle is dropped.
pub(super) struct Workers {
    jobs: Mutex<mpsc::Sender<Job>>,
}

impl Workers {
    pub(super) fn start(count: usize) -> Result<Self> {
        let (tx, rx) = mpsc::channel::<Job>();
        let rx = Arc::new(Mutex::new(rx));
        for i in 0..count {
            let rx = Arc::clone(&rx);
            std::thread::Builder::new()
                .name(format!("authd-hash-{i}"))
                .spawn(move || {
                    if let Err(e) = thread_priority::set_current_thread_priority(
                        thread_priority::ThreadPriority::Min,
                    ) {
                        tracing::debug!(?e, "could not lower the hashing thread's priority");
                    }
                    loop {
                        // A poisoned lock only means another worker panicked
                        // while holding it; the receiver itself is intact.
                        let job = rx
                            .lock()
                            .unwrap_or_else(std::sync::PoisonError::into_inner)
                            .recv();
                        match job {
                            Ok(job) => job(),
                            Err(_) => return,
                        }
                    }
                })
                .map_err(|e| Error::internal("starting the hashing threads", e))?;
        }
        Ok(Self {
            jobs: Mutex::new(tx),
        })
    }

    pub(super) fn submit(&self, job: Job) -> Result<()> {
        self.jobs
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .send(job)
            .map_err(|_| {
                Error::internal_msg("running a password hash", "the hashing threads are gone")
            })
    }
}

/// Counts a caller as waiting for as long as it lives (cancellation included).
pub(super) struct Waiting(pub(super) Arc<AtomicUsize>);

impl Drop for Waiting {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::AcqRel);
    }
}

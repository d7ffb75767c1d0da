//! Whether this authd can serve right now, in one place.
//!
//! Three facts decide it: start-up is done (migrations applied, signing keys
//! loaded), the database answered the last readiness probe, and shutdown
//! has not begun. This is the only place any of the three is held: gRPC
//! health (through the app's mirror), `/readyz`, the start-up gate in front
//! of the services, the key refresher, the drain deadline and the task
//! supervisor all read it ([`Readiness::state`], [`Readiness::subscribe`],
//! [`Readiness::stopping`]); the start-up task, the probe and the shutdown
//! path write it. No other channel or flag may say "stopping". It owns no
//! I/O: the probing and the health reporter live in [`crate::app`].

use std::sync::Arc;

use tokio::sync::watch;

use crate::error::{Error, Result};

/// A snapshot of what readiness depends on.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ReadyState {
    /// Migrations are applied and the signing keys are loaded.
    pub started: bool,
    /// The database answered the last probe.
    pub database_up: bool,
    /// Shutdown has begun; never turns back.
    pub stopping: bool,
}

impl ReadyState {
    /// Whether health should say SERVING.
    #[must_use]
    pub fn serving(self) -> bool {
        self.started && self.database_up && !self.stopping
    }
}

/// Shared, cheap-to-clone readiness; see the module docs.
#[derive(Debug, Clone)]
pub struct Readiness {
    state: Arc<watch::Sender<ReadyState>>,
}

impl Default for Readiness {
    fn default() -> Self {
        Self::new()
    }
}

impl Readiness {
    /// Not started, database not (yet) seen, not stopping.
    #[must_use]
    pub fn new() -> Self {
        Self {
            state: Arc::new(watch::Sender::new(ReadyState::default())),
        }
    }

    /// The current state.
    #[must_use]
    pub fn state(&self) -> ReadyState {
        *self.state.borrow()
    }

    /// A receiver that sees every change, for whoever mirrors it (health).
    #[must_use]
    pub fn subscribe(&self) -> watch::Receiver<ReadyState> {
        self.state.subscribe()
    }

    /// Resolves once shutdown has begun (at once if it already has). Owns
    /// its receiver, so it can be handed to a task that outlives the caller.
    pub fn stopping(&self) -> impl std::future::Future<Output = ()> + Send + 'static {
        let mut changes = self.subscribe();
        async move {
            // The sender lives as long as any `Readiness`; if every one is
            // gone nobody can stop us any more, so treat it as stopping.
            let _ = changes.wait_for(|s| s.stopping).await;
        }
    }

    /// Start-up finished; the database has just answered.
    pub fn mark_started(&self) {
        self.update(|s| {
            s.started = true;
            s.database_up = true;
        });
    }

    /// Records the outcome of a readiness probe.
    pub fn set_database_up(&self, up: bool) {
        self.update(|s| s.database_up = up);
    }

    /// Shutdown has begun.
    pub fn mark_stopping(&self) {
        self.update(|s| s.stopping = true);
    }

    fn update(&self, change: impl FnOnce(&mut ReadyState)) {
        self.state.send_if_modified(|s| {
            let before = *s;
            change(s);
            *s != before
        });
    }

    /// Passes once start-up is done.
    ///
    /// # Errors
    /// [`Error::Unavailable`] while authd is still waiting for its database
    /// to apply migrations and load keys: the caller should retry later.
    pub fn check_started(&self) -> Result<()> {
        if self.state().started {
            Ok(())
        } else {
            Err(Error::Unavailable {
                context: "starting up",
                source: "the database has not been reached since start-up; \
                         migrations and signing keys are not loaded yet"
                    .into(),
            })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn serving_needs_start_up_and_a_live_database_and_no_shutdown() {
        let r = Readiness::new();
        assert!(!r.state().serving());
        assert!(r.check_started().is_err());
        r.mark_started();
        assert!(r.state().serving());
        assert!(r.check_started().is_ok());
        r.set_database_up(false);
        assert!(!r.state().serving());
        r.set_database_up(true);
        assert!(r.state().serving());
        r.mark_stopping();
        assert!(!r.state().serving());
    }

    #[test]
    fn subscribers_see_changes_but_not_repeats() {
        let r = Readiness::new();
        let mut rx = r.subscribe();
        r.set_database_up(false);
        assert!(!rx.has_changed().unwrap(), "nothing changed");
        r.mark_started();
        assert!(rx.has_changed().unwrap());
        assert!(rx.borrow_and_update().serving());
    }

    #[tokio::test]
    async fn stopping_resolves_once_shutdown_begins_and_at_once_after() {
        let r = Readiness::new();
        let waiting = tokio::spawn(r.stopping());
        tokio::task::yield_now().await;
        assert!(!waiting.is_finished());
        r.mark_stopping();
        waiting.await.unwrap();
        r.stopping().await;
    }
}

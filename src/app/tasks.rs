//! The one supervisor of authd's background tasks.
//!
//! Every task the server runs beside its listeners (start-up retry, change
//! feed, feed heartbeat, the two purges, key refresher, HTTP listener,
//! readiness mirror, database probe) is spawned through [`Tasks::spawn`] or
//! [`Tasks::spawn_job`] under a name, and every end is logged here and
//! nowhere else, the same way for all of them:
//!
//! | end | level |
//! |---|---|
//! | a job ([`Tasks::spawn_job`]) finishes its work | debug |
//! | a task ends by itself once [`Readiness`] says stopping | info |
//! | a task ends by itself while not stopping | **warn** (`ended unexpectedly`) |
//! | a task panics | **error** |
//! | [`Tasks::shutdown`] (or dropping the supervisor) stops it | debug |
//!
//! Whether an end is expected is read from [`Readiness`], the one holder of
//! "stopping"; the supervisor keeps no flag of its own. It owns no policy
//! about what runs: the app decides that, and the order of
//! [`Tasks::shutdown`] is the reverse of the order of spawning (like
//! destructors). The app starts them so that, once the gRPC drain is over,
//! the HTTP listener stops first, then the key refresher, the database
//! probe and the readiness mirror, then the shared-state tasks (purges,
//! heartbeat, change feed) the others read, and the start-up retry last.
//!
//! Each task runs in its own tokio task, watched by a second small task that
//! awaits its end: that is what lets a panic be logged with the task's name
//! when it happens, rather than at shutdown or never.

use std::future::Future;

use tokio::task::{AbortHandle, JoinHandle};

use crate::readiness::Readiness;

/// How a task is expected to end.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    /// Runs until shutdown; ending earlier is a fault.
    UntilShutdown,
    /// Finishes when its work is done (the start-up retry).
    Job,
}

/// One supervised task.
#[derive(Debug)]
struct Task {
    name: &'static str,
    /// Stops the task itself.
    work: AbortHandle,
    /// The watcher, which logs the end; awaited on shutdown.
    watcher: JoinHandle<()>,
}

/// Named, supervised background tasks; see the module docs.
#[derive(Debug)]
pub(crate) struct Tasks {
    readiness: Readiness,
    /// In spawn order.
    tasks: Vec<Task>,
}

impl Tasks {
    /// An empty supervisor reading "stopping" from `readiness`.
    pub(crate) fn new(readiness: Readiness) -> Self {
        Self {
            readiness,
            tasks: Vec::new(),
        }
    }

    /// Starts `task`, which should run until shutdown.
    pub(crate) fn spawn(
        &mut self,
        name: &'static str,
        task: impl Future<Output = ()> + Send + 'static,
    ) {
        self.start(name, Kind::UntilShutdown, task);
    }

    /// Starts `task`, which ends by itself when its work is done.
    pub(crate) fn spawn_job(
        &mut self,
        name: &'static str,
        task: impl Future<Output = ()> + Send + 'static,
    ) {
        self.start(name, Kind::Job, task);
    }

    fn start(
        &mut self,
        name: &'static str,
        kind: Kind,
        task: impl Future<Output = ()> + Send + 'static,
    ) {
        let work = tokio::spawn(task);
        let abort = work.abort_handle();
        let readiness = self.readiness.clone();
        let watcher = tokio::spawn(async move {
            match work.await {
                Ok(()) if kind == Kind::Job => {
                    tracing::debug!(task = name, "background task finished");
                }
                Ok(()) if readiness.state().stopping => {
                    tracing::info!(task = name, "background task ended for shutdown");
                }
                Ok(()) => tracing::warn!(task = name, "background task ended unexpectedly"),
                Err(e) if e.is_cancelled() => {
                    tracing::debug!(task = name, "background task stopped");
                }
                Err(e) => tracing::error!(task = name, error = %e, "background task panicked"),
            }
        });
        tracing::debug!(task = name, "background task started");
        self.tasks.push(Task {
            name,
            work: abort,
            watcher,
        });
    }

    /// The names of the tasks that have not ended yet, in spawn order.
    #[cfg(test)]
    pub(crate) fn running(&self) -> Vec<&'static str> {
        self.tasks
            .iter()
            .filter(|t| !t.watcher.is_finished())
            .map(|t| t.name)
            .collect()
    }

    /// Stops every task, last spawned first, and returns once each has
    /// ended (and its end is logged): nothing is left running.
    pub(crate) async fn shutdown(mut self) {
        while let Some(task) = self.tasks.pop() {
            task.work.abort();
            if let Err(e) = task.watcher.await {
                tracing::error!(task = task.name, error = %e, "background task watcher failed");
            }
        }
    }
}

/// For an app that is built but never run (tests, a failed start): the
/// tasks are aborted without waiting; their watchers still log the stop.
impl Drop for Tasks {
    fn drop(&mut self) {
        for task in self.tasks.drain(..).rev() {
            task.work.abort();
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Mutex};

    use tracing::field::{Field, Visit};
    use tracing::{Event, Level, Subscriber};
    use tracing_subscriber::layer::{Context, SubscriberExt as _};
    use tracing_subscriber::{Layer, Registry};

    use super::*;

    /// Events as `(level, task, message)`.
    #[derive(Clone, Default)]
    struct Captured(Arc<Mutex<Vec<(Level, String, String)>>>);

    impl Captured {
        fn lines(&self) -> Vec<(Level, String, String)> {
            self.0.lock().unwrap().clone()
        }

        fn find(&self, task: &str, message: &str) -> Option<Level> {
            self.lines()
                .into_iter()
                .find(|(_, t, m)| t == task && m == message)
                .map(|(level, _, _)| level)
        }
    }

    #[derive(Default)]
    struct Fields {
        task: String,
        message: String,
    }

    impl Visit for Fields {
        fn record_str(&mut self, field: &Field, value: &str) {
            if field.name() == "task" {
                value.clone_into(&mut self.task);
            }
        }

        fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
            match field.name() {
                "message" => self.message = format!("{value:?}"),
                "task" => self.task = format!("{value:?}"),
                _ => {}
            }
        }
    }

    impl<S: Subscriber> Layer<S> for Captured {
        fn on_event(&self, event: &Event<'_>, _: Context<'_, S>) {
            let mut fields = Fields::default();
            event.record(&mut fields);
            self.0
                .lock()
                .unwrap()
                .push((*event.metadata().level(), fields.task, fields.message));
        }
    }

    /// Runs `test` on a current-thread runtime with `captured` as the
    /// thread's subscriber, so every spawned task logs into it too.
    fn with_capture(test: impl AsyncFnOnce(Captured)) {
        let captured = Captured::default();
        let subscriber = Registry::default().with(captured.clone());
        let _guard = tracing::subscriber::set_default(subscriber);
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap()
            .block_on(test(captured));
    }

    /// Drops its sender when the task holding it is dropped (stopped).
    fn alive() -> (
        tokio::sync::oneshot::Sender<()>,
        tokio::sync::oneshot::Receiver<()>,
    ) {
        tokio::sync::oneshot::channel()
    }

    #[test]
    fn a_task_ending_while_not_stopping_is_logged_as_unexpected_with_its_name() {
        with_capture(async |captured| {
            let mut tasks = Tasks::new(Readiness::new());
            tasks.spawn("change-feed", async {});
            tasks.spawn_job("start-up", async {});
            tokio::task::yield_now().await;
            tokio::task::yield_now().await;
            assert_eq!(
                captured.find("change-feed", "background task ended unexpectedly"),
                Some(Level::WARN)
            );
            assert_eq!(
                captured.find("start-up", "background task finished"),
                Some(Level::DEBUG),
                "a job that is done is not a fault"
            );
            assert!(tasks.running().is_empty());
            tasks.shutdown().await;
        });
    }

    #[test]
    fn a_panicking_task_is_logged_with_its_name() {
        with_capture(async |captured| {
            let mut tasks = Tasks::new(Readiness::new());
            tasks.spawn("session-purge", async { panic!("boom") });
            tokio::task::yield_now().await;
            tokio::task::yield_now().await;
            assert_eq!(
                captured.find("session-purge", "background task panicked"),
                Some(Level::ERROR),
                "logged when it happens, not at shutdown"
            );
            tasks.shutdown().await;
        });
    }

    #[test]
    fn shutdown_stops_every_task_last_spawned_first_and_leaves_none_running() {
        with_capture(async |captured| {
            let readiness = Readiness::new();
            let mut tasks = Tasks::new(readiness.clone());
            let mut held = Vec::new();
            for name in ["change-feed", "readiness-mirror", "http"] {
                let (tx, rx) = alive();
                held.push(rx);
                tasks.spawn(name, async move {
                    let _tx = tx;
                    std::future::pending::<()>().await;
                });
            }
            // Like the key refresher: ends by itself once stopping.
            let stopping = readiness.stopping();
            tasks.spawn("key-refresher", stopping);
            tokio::task::yield_now().await;
            assert_eq!(
                tasks.running(),
                ["change-feed", "readiness-mirror", "http", "key-refresher"]
            );

            readiness.mark_stopping();
            tokio::task::yield_now().await;
            tokio::task::yield_now().await;
            assert_eq!(
                captured.find("key-refresher", "background task ended for shutdown"),
                Some(Level::INFO)
            );
            tasks.shutdown().await;
            for mut rx in held {
                assert!(
                    matches!(
                        rx.try_recv(),
                        Err(tokio::sync::oneshot::error::TryRecvError::Closed)
                    ),
                    "the task was dropped"
                );
            }
            let stopped: Vec<String> = captured
                .lines()
                .into_iter()
                .filter(|(_, _, m)| m == "background task stopped")
                .map(|(_, t, _)| t)
                .collect();
            assert_eq!(stopped, ["http", "readiness-mirror", "change-feed"]);
            assert!(
                captured
                    .lines()
                    .iter()
                    .all(|(level, _, _)| *level > Level::WARN),
                "nothing above info at an orderly shutdown: {:?}",
                captured.lines()
            );
        });
    }

    #[test]
    fn dropping_the_supervisor_stops_its_tasks() {
        with_capture(async |_| {
            let mut tasks = Tasks::new(Readiness::new());
            let (tx, mut rx) = alive();
            tasks.spawn("feed-heartbeat", async move {
                let _tx = tx;
                std::future::pending::<()>().await;
            });
            tokio::task::yield_now().await;
            drop(tasks);
            tokio::task::yield_now().await;
            assert!(matches!(
                rx.try_recv(),
                Err(tokio::sync::oneshot::error::TryRecvError::Closed)
            ));
        });
    }
}

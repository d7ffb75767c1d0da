//! One subscriber's stream: its [`Subscription`] to the hub (left when
//! dropped) and the [`Streaming`] state that yields the hello and snapshot,
//! then live events, heartbeats every [`HEARTBEAT_INTERVAL`], and the error
//! that ends it (too slow, resync, shutdown).

use std::collections::VecDeque;
use std::pin::Pin;
use std::sync::{Arc, OnceLock};

use tokio::sync::mpsc;

use crate::error::{Error, Result};

use super::{Cursor, End, HEARTBEAT_INTERVAL, RevocationHub, Sequenced, WatchItem};

/// Whether a subscription resumed its cursor.
#[derive(Debug)]
pub(super) enum Resume {
    /// No cursor: a snapshot follows.
    Fresh,
    /// The history after the cursor follows.
    Resumed,
    /// The cursor could not resume, for this reason: a snapshot follows.
    Reset(String),
}

/// One subscriber's end of the hub; leaving the hub when dropped (the
/// caller went away, or the stream ended).
#[derive(Debug)]
pub(super) struct Subscription {
    pub(super) hub: Arc<RevocationHub>,
    pub(super) id: u64,
    pub(super) rx: mpsc::Receiver<Arc<Sequenced>>,
    pub(super) end: Arc<OnceLock<End>>,
    /// History after a resumed cursor, sent before live events.
    pub(super) backlog: VecDeque<Arc<Sequenced>>,
    pub(super) generation: u64,
    /// The sequence number of the last event this stream delivered (or the
    /// subscription point).
    pub(super) position: u64,
}

impl Subscription {
    pub(super) fn cursor(&self) -> Cursor {
        self.hub.cursor(self.generation, self.position)
    }
}

impl Drop for Subscription {
    fn drop(&mut self) {
        self.hub.unsubscribe(self.id);
    }
}

/// The state of one stream between items.
pub(super) struct Streaming {
    /// Hello and snapshot items not sent yet.
    pub(super) queue: VecDeque<WatchItem>,
    pub(super) subscription: Subscription,
    pub(super) stopping: Pin<Box<dyn std::future::Future<Output = ()> + Send>>,
    /// When the last heartbeat was due (the stream's start at first).
    pub(super) last_sent: tokio::time::Instant,
    pub(super) done: bool,
}

impl Streaming {
    pub(super) async fn next(mut self) -> Option<(Result<WatchItem>, Self)> {
        if self.done {
            return None;
        }
        if let Some(item) = self.queue.pop_front() {
            return Some((Ok(item), self));
        }
        loop {
            if let Some(end) = self.subscription.end.get().copied() {
                return Some(self.finish(end.error()));
            }
            // A heartbeat every interval whatever else is sent: under a
            // steady stream of events it is still the proof a client that
            // resumed late needs that it is caught up and live.
            let deadline = self.last_sent + HEARTBEAT_INTERVAL;
            if tokio::time::Instant::now() >= deadline {
                self.last_sent = tokio::time::Instant::now();
                if self.subscription.hub.cache.is_trusted() {
                    let cursor = self.subscription.cursor().encode();
                    return Some((Ok(WatchItem::Heartbeat { cursor }), self));
                }
                continue;
            }
            if let Some(event) = self.subscription.backlog.pop_front() {
                return Some(self.deliver(&event));
            }
            tokio::select! {
                biased;
                () = &mut self.stopping => {
                    return Some(self.finish(Error::Interrupted(
                        "authd is shutting down; resubscribe (to another replica) with your \
                         last cursor"
                            .to_owned(),
                    )));
                }
                event = self.subscription.rx.recv() => {
                    let Some(event) = event else {
                        let end = self.subscription.end.get().copied().unwrap_or(End::Resync);
                        return Some(self.finish(end.error()));
                    };
                    if let Some(end) = self.subscription.end.get().copied() {
                        return Some(self.finish(end.error()));
                    }
                    return Some(self.deliver(&event));
                }
                () = tokio::time::sleep_until(deadline) => {
                    self.last_sent = tokio::time::Instant::now();
                    // Silent while the feed is not trusted: the subscriber's
                    // staleness bound then turns it unavailable.
                    if self.subscription.hub.cache.is_trusted() {
                        let cursor = self.subscription.cursor().encode();
                        return Some((Ok(WatchItem::Heartbeat { cursor }), self));
                    }
                }
            }
        }
    }

    fn deliver(mut self, event: &Sequenced) -> (Result<WatchItem>, Self) {
        self.subscription.position = event.seq;
        let item = WatchItem::Revocation {
            cursor: Some(self.subscription.cursor().encode()),
            revocation: event.revocation.clone(),
        };
        (Ok(item), self)
    }

    fn finish(mut self, error: Error) -> (Result<WatchItem>, Self) {
        self.done = true;
        (Err(error), self)
    }
}

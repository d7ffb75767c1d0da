//! What a store reports about its connection pool, and the pool settings
//! both databases share.

use std::time::Duration;

/// A point-in-time view of a store's connection pool, for metrics.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PoolStats {
    /// Connections open now, in use or idle.
    pub size: u32,
    /// Open connections waiting to be used.
    pub idle: usize,
    /// Most connections the pool opens.
    pub max: u32,
}

impl PoolStats {
    /// Connections held by a query or transaction now.
    #[must_use]
    pub fn in_use(&self) -> u64 {
        u64::from(self.size).saturating_sub(u64::try_from(self.idle).unwrap_or(u64::MAX))
    }
}

/// Reports on a store's connection pool. A supertrait of [`Store`], kept
/// apart so each backend implements it next to its pool (`postgres.rs`,
/// `sqlite.rs`) rather than in the shared SQL.
pub trait PoolStatus {
    /// The pool's connections now; reads counters only, never waits.
    fn pool_stats(&self) -> PoolStats;
}

/// Pool settings common to both databases.
#[derive(Debug, Clone, Copy)]
pub struct PoolSettings {
    /// Most connections.
    pub max_connections: u32,
    /// Bound on waiting for a connection.
    pub acquire_timeout: Duration,
}

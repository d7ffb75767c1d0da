//! A bounded cache of tokens whose signature and claims already checked out.
//!
//! Verify is called on every request a service handles, and most of its
//! cost is the signature check and JSON parsing of a token it has seen
//! before. This cache remembers, per token, the claims that verification
//! produced, keyed by the token's SHA-256 (the token itself is not kept).
//!
//! What it does not remember is whether the token is still *allowed*: the
//! session, user and revocation checks run on every call (against the
//! server's state cache or a client's revocation stream), so a revoked token is never
//! answered valid from here. A hit also re-checks that the token's key is
//! still held (a retired key makes its tokens unknown at once) and that the
//! token has not expired. Entries live until the token's `exp` (plus leeway)
//! or the configured TTL, whichever is first; the cache is split in shards
//! whose bounds add up to the configured one exactly (so it is never
//! exceeded, whatever the number), and a full shard is emptied rather than
//! grown.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};

use aws_lc_rs::digest::{SHA256, digest};

use crate::Claims;

const SHARDS: usize = 16;

/// A token's verified claims and what a hit must re-check.
#[derive(Debug)]
struct Entry {
    claims: Arc<Claims>,
    kid: Arc<str>,
    /// Unix seconds after which the entry is not used.
    until: i64,
}

/// The cache; shared by clones of the token service.
#[derive(Debug)]
pub struct VerifiedTokens {
    shards: Vec<RwLock<HashMap<[u8; 32], Entry>>>,
    /// The configured bound; shard `i` holds at most [`Self::shard_bound`]`(i)`.
    max_entries: usize,
    ttl_secs: i64,
    hits: AtomicU64,
    misses: AtomicU64,
}

impl VerifiedTokens {
    /// A cache of at most `max_entries` tokens, each kept at most `ttl_secs`.
    /// `max_entries == 0` disables it.
    #[must_use]
    pub fn new(max_entries: usize, ttl_secs: i64) -> Self {
        Self {
            shards: (0..SHARDS).map(|_| RwLock::new(HashMap::new())).collect(),
            max_entries,
            ttl_secs,
            hits: AtomicU64::new(0),
            misses: AtomicU64::new(0),
        }
    }

    fn key(token: &str) -> [u8; 32] {
        let mut key = [0u8; 32];
        key.copy_from_slice(digest(&SHA256, token.as_bytes()).as_ref());
        key
    }

    fn shard_index(key: &[u8; 32]) -> usize {
        usize::from(key[0]) % SHARDS
    }

    /// Shard `i`'s share of the bound: the bound split evenly, the first
    /// `max_entries % SHARDS` shards one more, so the shares sum to it.
    fn shard_bound(&self, i: usize) -> usize {
        self.max_entries / SHARDS + usize::from(i < self.max_entries % SHARDS)
    }

    /// The claims of `token` if it was verified before and its entry is
    /// still good at `now`, with the key id to re-check.
    #[must_use]
    pub fn get(&self, token: &str, now: i64) -> Option<(Arc<Claims>, Arc<str>)> {
        if self.max_entries == 0 {
            return None;
        }
        let key = Self::key(token);
        let hit = self.shards[Self::shard_index(&key)]
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .get(&key)
            .filter(|entry| now < entry.until)
            .map(|entry| (Arc::clone(&entry.claims), Arc::clone(&entry.kid)));
        let counter = if hit.is_some() {
            &self.hits
        } else {
            &self.misses
        };
        counter.fetch_add(1, Ordering::Relaxed);
        hit
    }

    /// Remembers that `token` verified to `claims` with key `kid`, until
    /// `expires` (its `exp` plus leeway) or the TTL from `now`.
    pub fn put(&self, token: &str, claims: Arc<Claims>, kid: &str, expires: i64, now: i64) {
        let key = Self::key(token);
        let index = Self::shard_index(&key);
        let bound = self.shard_bound(index);
        if bound == 0 {
            // Off, or a bound below the shard count that gave this shard none.
            return;
        }
        let mut shard = self.shards[index]
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if shard.len() >= bound {
            shard.clear();
        }
        shard.insert(
            key,
            Entry {
                claims,
                kid: kid.into(),
                until: expires.min(now.saturating_add(self.ttl_secs)),
            },
        );
    }

    /// Forgets everything.
    pub fn clear(&self) {
        for shard in &self.shards {
            shard
                .write()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .clear();
        }
    }

    /// Entries held now.
    #[must_use]
    pub fn len(&self) -> usize {
        self.shards
            .iter()
            .map(|s| {
                s.read()
                    .unwrap_or_else(std::sync::PoisonError::into_inner)
                    .len()
            })
            .sum()
    }

    /// Whether the cache holds nothing.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The most entries held, exactly as configured (0: the cache is off).
    #[must_use]
    pub fn max_entries(&self) -> usize {
        self.max_entries
    }

    /// The longest an entry is kept, in seconds.
    #[must_use]
    pub fn ttl_secs(&self) -> i64 {
        self.ttl_secs
    }

    /// Lookups answered from the cache since start-up.
    #[must_use]
    pub fn hits(&self) -> u64 {
        self.hits.load(Ordering::Relaxed)
    }

    /// Lookups that had to verify since start-up.
    #[must_use]
    pub fn misses(&self) -> u64 {
        self.misses.load(Ordering::Relaxed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Audience;

    fn claims(exp: i64) -> Arc<Claims> {
        Arc::new(Claims {
            iss: "authd".into(),
            sub: "u".into(),
            aud: Audience::One("authd".into()),
            exp,
            nbf: 0,
            iat: 0,
            jti: "j".into(),
            sid: "s".into(),
            roles: vec![],
            ptyp: None,
            client_id: None,
            ext: None,
        })
    }

    #[test]
    fn entries_expire_with_the_token_or_the_ttl() {
        let cache = VerifiedTokens::new(100, 60);
        cache.put("a", claims(100), "k", 110, 0);
        assert!(cache.get("a", 59).is_some(), "within the TTL");
        assert!(cache.get("a", 60).is_none(), "TTL over");
        cache.put("b", claims(20), "k", 30, 0);
        assert!(cache.get("b", 29).is_some());
        assert!(cache.get("b", 30).is_none(), "token expired");
        assert!(cache.get("c", 0).is_none());
        assert_eq!(cache.hits(), 2);
        assert_eq!(cache.misses(), 3);
    }

    #[test]
    fn the_cache_is_bounded_and_can_be_turned_off() {
        let cache = VerifiedTokens::new(32, 60);
        for i in 0..10_000 {
            cache.put(&format!("t{i}"), claims(100), "k", 100, 0);
        }
        assert!(cache.len() <= 32, "{}", cache.len());
        let off = VerifiedTokens::new(0, 60);
        off.put("a", claims(100), "k", 100, 0);
        assert!(off.get("a", 0).is_none());
        assert!(off.is_empty());
    }

    #[test]
    fn the_bound_holds_when_it_is_not_a_multiple_of_the_shards() {
        for bound in [1, 5, 15, 17, 100, 1000] {
            let cache = VerifiedTokens::new(bound, 60);
            let mut most = 0;
            for i in 0..(bound * 50).max(2_000) {
                cache.put(&format!("t{i}"), claims(100), "k", 100, 0);
                most = most.max(cache.len());
            }
            assert!(most <= bound, "bound {bound}: held {most}");
            assert!(most > bound / 2, "bound {bound}: held only {most}");
            assert_eq!(cache.max_entries(), bound);
        }
    }

    #[test]
    fn the_key_is_a_digest_not_the_token() {
        let cache = VerifiedTokens::new(100, 60);
        cache.put("secret-token", claims(100), "k", 100, 0);
        let debug = format!("{cache:?}");
        assert!(!debug.contains("secret-token"));
    }
}

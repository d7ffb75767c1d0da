//! Login throttling: how many failed logins an account name or a client
//! address may have before further attempts are refused for a while.
//!
//! This module owns the policy only (keys, free failures, exponential
//! back-off, its cap and the window after which failures are forgotten); the
//! counters live in the database ([`crate::store::Store::login_failures`]),
//! so every replica sharing it sees the same counts and `authd user unlock`
//! can clear them. Time is a parameter (`now`, Unix seconds).
//!
//! Two kinds of key are counted:
//!
//! - the **account**: the login name as presented, folded the way
//!   [`crate::store::Store::find_credentials`] matches it
//!   ([`crate::user::login_key`]), whether or not such an account exists,
//!   so a throttled unknown name and a throttled real one look the same;
//!   and, when the name names an account, that account's id too
//!   ([`account_id_key`]), so its username and its email share one
//!   allowance instead of each having their own;
//! - the **address**: the client's IP address (IPv6 by its /64 prefix, the
//!   smallest block one customer usually gets), with a higher allowance,
//!   against one client spraying a common password over many accounts.
//!
//! An attempt is claimed *before* its password is checked
//! ([`crate::store::Store::claim_login_attempt`]: the counts are read,
//! judged by [`ThrottlePolicy::judge`] and the claim recorded in one
//! transaction), so guesses fired in parallel are judged one after the
//! other, each seeing the ones before it. A claim is an attempt *in flight*,
//! kept apart from the failures: while a key's failures plus its attempts in
//! flight fill its free allowance, a further attempt waits for one of them
//! to be resolved ([`Judgement::Wait`]) instead of being checked, so a burst
//! gets at most the free failures checked, no more than the same guesses sent
//! one at a time; and since an attempt in flight is no failure, parallel
//! *right* passwords only wait their turn and are never refused while the
//! real failures are under the allowance. A wrong password turns its claim
//! into a failure; a right one (or a check that never ran) takes only its
//! own claim back (see [`crate::service`]'s login), never undoing another
//! attempt's failure. A claim older than [`STALE_CLAIM_SECS`] (its process
//! died mid-check) no longer counts.
//!
//! The free allowance means what it says: after `N` free failures the next
//! attempt is refused unchecked until the first block (the base delay) has
//! passed; each failure after that doubles the block.
//!
//! A block never outlasts [`ThrottlePolicy::max_delay_secs`], and a key's
//! count is forgotten [`ThrottlePolicy::window_secs`] after its last failure:
//! there is no permanent lock-out.

use std::net::IpAddr;
use std::str::FromStr as _;
use std::time::Duration;

use crate::client_addr::TrustedProxies;
use crate::settings::{Checked, duration, int, invalid};
use crate::store::LoginFailures;
use crate::user::login_key;

/// The numbers of the throttling policy.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ThrottlePolicy {
    /// Failures per account name that cost nothing: the last of them starts
    /// the back-off, so the attempt after them is refused unchecked.
    pub account_free_failures: u32,
    /// Failures per client address that cost nothing (higher: many users may share a NAT).
    pub address_free_failures: u32,
    /// A key's failures are forgotten this long after its last failure, seconds.
    pub window_secs: i64,
    /// The first block, seconds; each further failure doubles it.
    pub base_delay_secs: i64,
    /// The longest block, seconds; never more than the window.
    pub max_delay_secs: i64,
}

impl Default for ThrottlePolicy {
    /// The settings' default: 5 free failures per account and 50 per address
    /// within an hour, then blocks of 1 s doubling up to 15 minutes.
    fn default() -> Self {
        crate::settings::defaults::<ThrottleSettings>().policy()
    }
}

/// The throttling settings, and the proxies trusted to name the client address.
#[derive(Debug, Clone, clap::Args)]
pub struct ThrottleSettings {
    /// Failed logins per login name (existing or not) checked freely; the last starts the back-off.
    #[arg(long, env, default_value = "5", value_parser = int(1_u32, 1000))]
    pub login_free_failures: u32,

    /// The same per client address (higher: users may share a NAT).
    #[arg(long, env, default_value = "50", value_parser = int(1_u32, 1_000_000))]
    pub login_free_failures_per_address: u32,

    /// A login name's or address's failures are forgotten this long after its last failure.
    #[arg(long, env, default_value = "1h", value_parser = duration("1s", "30d"))]
    pub login_failure_window: Duration,

    /// The block the last free failure starts; each further failure doubles it.
    #[arg(long, env, default_value = "1s", value_parser = duration("1s", "1h"))]
    pub login_backoff_base: Duration,

    /// Longest block; at most the failure window, so no lock-out is permanent.
    #[arg(long, env, default_value = "15m", value_parser = duration("1s", "30d"))]
    pub login_backoff_max: Duration,

    /// Proxies (IPs, CIDRs) that append the real peer to `x-forwarded-for` [default: none].
    #[arg(long, env, value_name = "LIST", default_value = "", hide_default_value = true,
          value_parser = TrustedProxies::from_str)]
    pub trusted_proxies: TrustedProxies,
}

impl ThrottleSettings {
    /// The policy these settings describe.
    #[must_use]
    pub fn policy(&self) -> ThrottlePolicy {
        let secs = |d: Duration| i64::try_from(d.as_secs()).unwrap_or(i64::MAX);
        ThrottlePolicy {
            account_free_failures: self.login_free_failures,
            address_free_failures: self.login_free_failures_per_address,
            window_secs: secs(self.login_failure_window),
            base_delay_secs: secs(self.login_backoff_base),
            max_delay_secs: secs(self.login_backoff_max),
        }
    }

    /// Checks that the longest block lies between the first and the window.
    ///
    /// # Errors
    /// Blames `login_backoff_max`.
    pub fn check(&self) -> Checked {
        if self.login_backoff_max < self.login_backoff_base {
            return invalid("login_backoff_max", "must be at least --login-backoff-base");
        }
        if self.login_backoff_max > self.login_failure_window {
            let fix = "must be at most --login-failure-window (failures are forgotten after the \
                window, so a longer block could not happen); lower it or lengthen the window";
            return invalid("login_backoff_max", fix);
        }
        Ok(())
    }
}

/// What a throttle key counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyKind {
    /// A login name (username or email), existing or not.
    Account,
    /// A client address.
    Address,
}

impl KeyKind {
    /// The name used in logs.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Account => "account",
            Self::Address => "address",
        }
    }
}

/// The stored key of a login name: `account:` and the folded name.
#[must_use]
pub fn account_key(login: &str) -> String {
    format!("account:{}", login_key(login))
}

/// The stored key of an account by its id: `user:` and the id. Counted
/// besides the login name's key once a name resolves to an account, so
/// every spelling of that account (username, email) adds to one count.
#[must_use]
pub fn account_id_key(id: &str) -> String {
    format!("user:{id}")
}

/// The stored key of a client address: `address:` and the IP address, or
/// for IPv6 its /64 network (an attacker usually has a whole /64; counting
/// each address alone would give them 2^64 allowances). IPv4-mapped IPv6
/// addresses count as their IPv4 address. Text that is not an IP address is
/// used as it is.
#[must_use]
pub fn address_key(addr: &str) -> String {
    match addr.parse::<IpAddr>().map(|ip| ip.to_canonical()) {
        Ok(IpAddr::V4(v4)) => format!("address:{v4}"),
        Ok(IpAddr::V6(v6)) => {
            let s = v6.segments();
            format!("address:{:x}:{:x}:{:x}:{:x}::/64", s[0], s[1], s[2], s[3])
        }
        Err(_) => format!("address:{addr}"),
    }
}

/// The throttle keys of one login attempt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AttemptKeys {
    /// The account name's key.
    pub account: String,
    /// The account id's key, when the name names an account.
    pub user: Option<String>,
    /// The client address's key, when the address is known.
    pub address: Option<String>,
}

impl AttemptKeys {
    /// The keys of a login as `login` from `addr`.
    #[must_use]
    pub fn new(login: &str, addr: Option<&str>) -> Self {
        Self {
            account: account_key(login),
            user: None,
            address: addr.map(address_key),
        }
    }

    /// The same, for a name that names the account with id `id`.
    #[must_use]
    pub fn with_user(mut self, id: &str) -> Self {
        self.user = Some(account_id_key(id));
        self
    }

    /// All keys, account first.
    #[must_use]
    pub fn all(&self) -> Vec<&str> {
        std::iter::once(self.account.as_str())
            .chain(self.user.as_deref())
            .chain(self.address.as_deref())
            .collect()
    }

    /// The keys a right password clears: the account's (name and id), not the address's.
    #[must_use]
    pub fn account_keys(&self) -> Vec<&str> {
        std::iter::once(self.account.as_str())
            .chain(self.user.as_deref())
            .collect()
    }

    /// The kind of `key`, if it is one of these keys.
    #[must_use]
    pub fn kind_of(&self, key: &str) -> Option<KeyKind> {
        if key == self.account || self.user.as_deref() == Some(key) {
            Some(KeyKind::Account)
        } else if self.address.as_deref() == Some(key) {
            Some(KeyKind::Address)
        } else {
            None
        }
    }
}

/// A refused attempt: which key blocked it and for how much longer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Blocked {
    /// The key kind whose block ends last.
    pub kind: KeyKind,
    /// Seconds until an attempt will be checked again (at least 1).
    pub retry_after_secs: i64,
}

/// What [`ThrottlePolicy::judge`] makes of a new attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Judgement {
    /// Its password may be checked now.
    Admit,
    /// Not blocked, but a key of this kind has its free allowance filled by
    /// failures and attempts in flight: the attempt must wait until one of
    /// those is resolved, then be judged again.
    Wait(KeyKind),
    /// Refused unchecked: a block.
    Refuse(Blocked),
}

/// How long a claimed attempt counts as in flight at most, seconds: longer
/// than any check takes (the hashing queue waits at most a minute), so
/// only the claim of a process that died during its check outlives it.
pub const STALE_CLAIM_SECS: i64 = 120;

/// A block that a failure starts (or lengthens): see [`ThrottlePolicy::blocks_started`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BlockStart {
    /// The kind of the blocked key.
    pub kind: KeyKind,
    /// The blocked key.
    pub key: String,
    /// The key's failures, this one included.
    pub failures: i64,
    /// How long the block lasts, seconds.
    pub secs: i64,
}

impl ThrottlePolicy {
    /// The Unix time before which a key's last failure is forgotten at `now`:
    /// a count whose last failure is at or before it starts again from zero.
    #[must_use]
    pub fn forget_before(&self, now: i64) -> i64 {
        now.saturating_sub(self.window_secs)
    }

    fn free_failures(&self, kind: KeyKind) -> i64 {
        i64::from(match kind {
            KeyKind::Account => self.account_free_failures,
            KeyKind::Address => self.address_free_failures,
        })
    }

    /// How long a key with `failures` failures is blocked after the last one:
    /// zero before the free allowance is used up, the base delay once it is
    /// (so the attempt after the free failures is refused), then doubling
    /// with each further failure, never more than the cap.
    #[must_use]
    pub fn delay_after(&self, kind: KeyKind, failures: i64) -> i64 {
        let over = failures
            .saturating_sub(self.free_failures(kind))
            .saturating_add(1);
        if over <= 0 {
            return 0;
        }
        // 2^62 already exceeds any cap; stop doubling before it overflows.
        let doublings = u32::try_from((over - 1).min(62)).unwrap_or(62);
        self.base_delay_secs
            .saturating_mul(1_i64 << doublings)
            .min(self.max_delay_secs)
    }

    /// The Unix time at or before which a claim no longer counts as in
    /// flight at `now` ([`STALE_CLAIM_SECS`]).
    #[must_use]
    pub fn stale_before(&self, now: i64) -> i64 {
        now.saturating_sub(STALE_CLAIM_SECS)
    }

    /// What to do with a new attempt with `keys` at `now`, given the keys'
    /// stored counts (others are ignored): refuse it if a key is blocked
    /// ([`Self::check`]); make it wait if a key's failures plus its
    /// attempts in flight leave no room (its free allowance less its
    /// failures, and at least one, so after a block one attempt at a time is
    /// checked); else admit it.
    #[must_use]
    pub fn judge(&self, keys: &AttemptKeys, counts: &[LoginFailures], now: i64) -> Judgement {
        if let Some(blocked) = self.check(keys, counts, now) {
            return Judgement::Refuse(blocked);
        }
        let (forget_before, stale_before) = (self.forget_before(now), self.stale_before(now));
        for c in counts {
            let Some(kind) = keys.kind_of(&c.key) else {
                continue;
            };
            let failures = if c.last_failure_at > forget_before {
                c.failures
            } else {
                0
            };
            let in_flight = if c.pending_since > stale_before {
                c.pending
            } else {
                0
            };
            let room = self.free_failures(kind).saturating_sub(failures).max(1);
            if in_flight >= room {
                return Judgement::Wait(kind);
            }
        }
        Judgement::Admit
    }

    /// The blocks that a failure started, given the counts it left `after`
    /// ([`crate::store::Store::fail_login_attempt`]) at `now`: at most one
    /// per key kind (an account's name and id keys are one account: the
    /// longer block stands for both), with how long: what the audit log
    /// records once per block.
    #[must_use]
    pub fn blocks_started(
        &self,
        keys: &AttemptKeys,
        after: &[LoginFailures],
        now: i64,
    ) -> Vec<BlockStart> {
        let forget_before = self.forget_before(now);
        keys.all()
            .into_iter()
            .filter_map(|key| {
                let kind = keys.kind_of(key)?;
                let failures = after
                    .iter()
                    .find(|c| c.key == key && c.last_failure_at > forget_before)?
                    .failures;
                let delay = self.delay_after(kind, failures);
                (delay > 0).then(|| BlockStart {
                    kind,
                    key: key.to_owned(),
                    failures,
                    secs: delay,
                })
            })
            .fold(Vec::<BlockStart>::new(), |mut starts, start| {
                match starts.iter_mut().find(|s| s.kind == start.kind) {
                    // The id key names the account; keep it for the row.
                    Some(s) if start.secs > s.secs || start.key.starts_with("user:") => {
                        *s = BlockStart {
                            secs: s.secs.max(start.secs),
                            failures: s.failures.max(start.failures),
                            ..start
                        };
                    }
                    Some(s) => {
                        s.secs = s.secs.max(start.secs);
                        s.failures = s.failures.max(start.failures);
                    }
                    None => starts.push(start),
                }
                starts
            })
    }

    /// Whether an attempt with `keys` is refused at `now`, given the stored
    /// counts of those keys (others are ignored). Of two blocks, the longer wins.
    #[must_use]
    pub fn check(&self, keys: &AttemptKeys, counts: &[LoginFailures], now: i64) -> Option<Blocked> {
        let forget_before = self.forget_before(now);
        counts
            .iter()
            .filter(|c| c.last_failure_at > forget_before)
            .filter_map(|c| {
                let kind = keys.kind_of(&c.key)?;
                let until = c
                    .last_failure_at
                    .saturating_add(self.delay_after(kind, c.failures));
                (now < until).then(|| Blocked {
                    kind,
                    retry_after_secs: until - now,
                })
            })
            .max_by_key(|b| b.retry_after_secs)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn count(key: &str, failures: i64, last_failure_at: i64) -> LoginFailures {
        LoginFailures {
            key: key.to_owned(),
            failures,
            last_failure_at,
            pending: 0,
            pending_since: 0,
        }
    }

    #[test]
    fn account_keys_fold_case_like_the_credentials_lookup() {
        assert_eq!(account_key("Alice"), account_key("aLICE"));
        assert_eq!(
            account_key("Alice@Example.COM"),
            "account:alice@example.com"
        );
    }

    #[test]
    fn ipv6_addresses_are_keyed_by_their_64_prefix() {
        assert_eq!(
            address_key("2001:db8:1:2:aaaa::1"),
            address_key("2001:db8:1:2:bbbb::2")
        );
        assert_ne!(
            address_key("2001:db8:1:2::1"),
            address_key("2001:db8:1:3::1")
        );
        assert_eq!(address_key("::ffff:10.0.0.1"), "address:10.0.0.1");
        assert_eq!(address_key("192.0.2.7"), "address:192.0.2.7");
    }

    #[test]
    fn the_delay_doubles_after_the_free_failures_up_to_the_cap() {
        let policy = ThrottlePolicy::default();
        let delays: Vec<i64> = (0..=18)
            .map(|n| policy.delay_after(KeyKind::Account, n))
            .collect();
        assert_eq!(
            delays,
            [
                0, 0, 0, 0, 0, 1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 900, 900, 900, 900
            ]
        );
        assert_eq!(policy.delay_after(KeyKind::Address, 49), 0);
        assert_eq!(policy.delay_after(KeyKind::Address, 50), 1);
        assert_eq!(policy.delay_after(KeyKind::Account, i64::MAX), 900);
    }

    #[test]
    fn a_block_ends_by_itself_and_the_longer_block_wins() {
        let policy = ThrottlePolicy::default();
        let keys = AttemptKeys::new("alice", Some("192.0.2.7"));
        // The account is blocked 4 s (7 failures), the address 8 s (53).
        let counts = [
            count(&keys.account, 7, 1000),
            count(keys.address.as_deref().unwrap(), 53, 1000),
            count("account:someone-else", 99, 1000),
        ];
        assert_eq!(
            policy.check(&keys, &counts, 1000),
            Some(Blocked {
                kind: KeyKind::Address,
                retry_after_secs: 8
            })
        );
        let account_only = AttemptKeys::new("alice", Some("198.51.100.1"));
        assert_eq!(
            policy.check(&account_only, &counts, 1001),
            Some(Blocked {
                kind: KeyKind::Account,
                retry_after_secs: 3
            })
        );
        assert_eq!(policy.check(&account_only, &counts, 1004), None);
        assert_eq!(
            policy
                .check(&keys, &counts, 1007)
                .map(|b| b.retry_after_secs),
            Some(1)
        );
        assert_eq!(policy.check(&keys, &counts, 1008), None);
    }

    #[test]
    fn counts_older_than_the_window_are_forgotten() {
        let policy = ThrottlePolicy {
            max_delay_secs: 3600,
            ..ThrottlePolicy::default()
        };
        let keys = AttemptKeys::new("alice", None);
        let counts = [count(&keys.account, 60, 1000)];
        assert!(policy.check(&keys, &counts, 1000 + 3599).is_some());
        assert_eq!(policy.check(&keys, &counts, 1000 + 3600), None);
    }

    fn in_flight(mut c: LoginFailures, pending: i64, since: i64) -> LoginFailures {
        c.pending = pending;
        c.pending_since = since;
        c
    }

    #[test]
    fn the_attempt_after_the_free_failures_is_refused() {
        let policy = ThrottlePolicy::default();
        let keys = AttemptKeys::new("alice", None);
        let judge = |failures| policy.judge(&keys, &[count(&keys.account, failures, 1000)], 1000);
        assert_eq!(judge(4), Judgement::Admit);
        assert_eq!(
            judge(5),
            Judgement::Refuse(Blocked {
                kind: KeyKind::Account,
                retry_after_secs: 1
            })
        );
    }

    #[test]
    fn attempts_in_flight_fill_the_allowance_and_make_others_wait() {
        let policy = ThrottlePolicy::default();
        let keys = AttemptKeys::new("alice", Some("192.0.2.7"));
        let account = |failures, pending| {
            [in_flight(
                count(&keys.account, failures, 990),
                pending,
                1000,
            )]
        };
        // 2 failures and 2 in flight leave room for one more; 3 in flight fill it.
        assert_eq!(policy.judge(&keys, &account(2, 2), 1000), Judgement::Admit);
        assert_eq!(
            policy.judge(&keys, &account(2, 3), 1000),
            Judgement::Wait(KeyKind::Account)
        );
        // In flight only, no failure: five at once, the sixth waits (not refused).
        assert_eq!(policy.judge(&keys, &account(0, 4), 1000), Judgement::Admit);
        assert_eq!(
            policy.judge(&keys, &account(0, 5), 1000),
            Judgement::Wait(KeyKind::Account)
        );
        // After a block has passed, one attempt at a time.
        assert_eq!(policy.judge(&keys, &account(6, 0), 1000), Judgement::Admit);
        assert_eq!(
            policy.judge(&keys, &account(6, 1), 1000),
            Judgement::Wait(KeyKind::Account)
        );
        // A claim past the stale horizon no longer counts.
        let stale = [in_flight(count(&keys.account, 0, 0), 5, 1000)];
        assert_eq!(
            policy.judge(&keys, &stale, 1000 + STALE_CLAIM_SECS),
            Judgement::Admit
        );
        // Failures forgotten after the window leave the whole allowance.
        let old = [in_flight(count(&keys.account, 9, 1), 4, 5000)];
        assert_eq!(policy.judge(&keys, &old, 5000), Judgement::Admit);
    }

    #[test]
    fn the_failure_that_uses_up_the_allowance_starts_one_block_per_kind() {
        let policy = ThrottlePolicy::default();
        let keys = AttemptKeys::new("alice", Some("192.0.2.7")).with_user("u1");
        let address = keys.address.clone().unwrap();
        let after = [
            count(&keys.account, 4, 1000),
            count("user:u1", 5, 1000),
            count(&address, 50, 1000),
        ];
        let starts = policy.blocks_started(&keys, &after, 1000);
        assert_eq!(
            starts,
            vec![
                BlockStart {
                    kind: KeyKind::Account,
                    key: "user:u1".to_owned(),
                    failures: 5,
                    secs: 1
                },
                BlockStart {
                    kind: KeyKind::Address,
                    key: address,
                    failures: 50,
                    secs: 1
                },
            ]
        );
        assert!(policy.blocks_started(&keys, &after[..1], 1000).is_empty());
    }
}

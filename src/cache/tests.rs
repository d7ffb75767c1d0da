//! Unit tests of the state cache: trust bounds, feed changes, read-through.

use super::*;
use crate::clock::ManualClock;

fn user(id: &str) -> User {
    User {
        id: id.into(),
        username: id.into(),
        email: None,
        active: true,
        roles: vec![],
        created_at: 0,
        last_login_at: None,
        external_id: None,
    }
}

fn session(id: &str, user_id: &str) -> Session {
    Session {
        id: id.into(),
        user_id: user_id.into(),
        created_at: 0,
        last_used_at: 0,
        expires_at: 10,
        client_addr: None,
        user_agent: None,
        ended: None,
    }
}

fn cache() -> StateCache {
    StateCache::new(
        Duration::from_secs(60),
        Duration::from_secs(60),
        100,
        Clock::system(),
    )
}

/// A trusted cache on a manual clock: bound 3 s, entries kept 60 s.
fn on_manual_clock() -> (StateCache, ManualClock) {
    let manual = ManualClock::new();
    let c = StateCache::new(
        Duration::from_secs(3),
        Duration::from_secs(60),
        100,
        manual.clock(),
    );
    c.mark_alive();
    (c, manual)
}

#[test]
fn nothing_is_kept_or_served_until_the_feed_proves_alive() {
    let c = cache();
    c.put_user("u", Some(user("u")), c.epoch());
    assert_eq!(c.user("u"), None, "untrusted");
    c.mark_alive();
    assert_eq!(
        c.user("u"),
        None,
        "what was read while untrusted was not kept"
    );
    c.put_user("u", Some(user("u")), c.epoch());
    assert_eq!(c.user("u"), Some(Some(user("u"))));
    c.distrust();
    assert_eq!(c.user("u"), None);
}

#[test]
fn a_read_that_raced_a_change_is_not_cached() {
    let c = cache();
    c.mark_alive();
    let epoch = c.epoch();
    c.apply(&Change::User("u".into()));
    c.put_user("u", Some(user("u")), epoch);
    assert_eq!(c.user("u"), None);
}

#[test]
fn changes_drop_exactly_what_they_touch() {
    let c = cache();
    c.mark_alive();
    let e = c.epoch();
    c.put_session("s1", Some(session("s1", "alice")), e);
    c.put_session("s2", Some(session("s2", "bob")), e);
    c.put_user("alice", Some(user("alice")), e);
    c.apply(&Change::UserSessions("alice".into()));
    assert_eq!(c.session("s1"), None);
    assert!(c.session("s2").is_some());
    assert_eq!(c.user("alice"), None);
    c.apply(&Change::Session("s2".into()));
    assert_eq!(c.session("s2"), None);
}

#[tokio::test]
async fn a_deleted_service_account_is_read_again_after_its_change() {
    let (c, _clock) = on_manual_clock();
    let account = ServiceAccount {
        id: "sa".into(),
        name: "ci".into(),
        description: String::new(),
        roles: vec![],
        client_id: "sa-x".into(),
        created_at: 0,
        last_used_at: None,
    };
    let loads = std::cell::Cell::new(0);
    let load = || {
        loads.set(loads.get() + 1);
        let account = account.clone();
        async { Ok(Some(account)) }
    };
    assert!(
        c.read_through::<ServiceAccount, _, _>("sa", load)
            .await
            .unwrap()
            .is_some()
    );
    assert!(
        c.read_through::<ServiceAccount, _, _>("sa", load)
            .await
            .unwrap()
            .is_some()
    );
    assert_eq!(loads.get(), 1, "the second lookup was a hit");
    c.apply(&Change::ServiceAccount("sa".into()));
    let gone = c
        .read_through::<ServiceAccount, _, _>("sa", || async { Ok(None) })
        .await
        .unwrap();
    assert_eq!(
        gone, None,
        "the change dropped the entry, so the deletion is seen"
    );
}

#[test]
fn trust_lapses_after_the_bound() {
    let c = StateCache::new(
        Duration::ZERO,
        Duration::from_secs(60),
        100,
        Clock::system(),
    );
    c.mark_alive();
    assert!(!c.is_trusted(), "a zero bound never trusts");

    let (c, clock) = on_manual_clock();
    c.put_user("u", Some(user("u")), c.epoch());
    clock.advance(Duration::from_millis(2_999));
    assert!(c.is_trusted(), "within the bound");
    assert_eq!(c.user("u"), Some(Some(user("u"))));
    clock.advance(Duration::from_millis(1));
    assert!(
        !c.is_trusted(),
        "the bound is measured by the injected clock"
    );
    assert_eq!(c.user("u"), None, "an untrusted cache answers nothing");
    c.mark_alive();
    assert!(c.is_trusted(), "a sign of life renews the bound from now");
    assert_eq!(c.user("u"), Some(Some(user("u"))));
}

#[test]
fn entries_expire_after_their_ttl_even_while_trusted() {
    let (c, clock) = on_manual_clock();
    c.put_session("s", Some(session("s", "alice")), c.epoch());
    for _ in 0..19 {
        clock.advance(Duration::from_secs(3));
        c.mark_alive();
    }
    assert!(c.session("s").is_some(), "57 s old");
    clock.advance(Duration::from_secs(3));
    c.mark_alive();
    assert_eq!(c.session("s"), None, "60 s old: read again");
    c.put_session("s", None, c.epoch());
    assert_eq!(c.session("s"), Some(None), "re-read and cached afresh");
}

#[tokio::test(start_paused = true)]
async fn paused_tokio_time_drives_the_system_clock_too() {
    let c = StateCache::new(
        Duration::from_secs(3),
        Duration::from_secs(60),
        100,
        Clock::system(),
    );
    c.mark_alive();
    tokio::time::advance(Duration::from_millis(2_999)).await;
    assert!(c.is_trusted());
    tokio::time::advance(Duration::from_millis(1)).await;
    assert!(!c.is_trusted(), "the bound lapsed on tokio's paused clock");
}

#[tokio::test]
async fn a_read_through_loads_once_then_answers_from_the_cache() {
    let (c, _clock) = on_manual_clock();
    let loads = std::cell::Cell::new(0);
    let load = || {
        loads.set(loads.get() + 1);
        async { Ok(Some(user("u"))) }
    };
    assert_eq!(c.read_through("u", load).await.unwrap(), Some(user("u")));
    assert_eq!(c.read_through("u", load).await.unwrap(), Some(user("u")));
    assert_eq!(loads.get(), 1);
    assert_eq!(c.lookups().user_misses, 1, "one miss, one database read");
}

#[tokio::test]
async fn a_read_through_that_raced_a_change_answers_but_is_not_kept() {
    let (c, _clock) = on_manual_clock();
    let answer = c
        .read_through("u", || async {
            // The change is announced while the read is in flight.
            c.apply(&Change::User("u".into()));
            Ok(Some(user("u")))
        })
        .await
        .unwrap();
    assert_eq!(answer, Some(user("u")));
    assert_eq!(c.user("u"), None, "not cached");
    let failed: Result<Option<User>> = c
        .read_through("v", || async {
            Err(crate::Error::internal_msg("test", "down"))
        })
        .await;
    assert!(
        failed.is_err(),
        "a database error is passed on, never a cached answer"
    );
}

#[test]
fn lookups_count_as_hits_or_misses_and_entries_are_reported() {
    let c = cache();
    assert_eq!(c.user("u"), None, "untrusted: a miss");
    c.mark_alive();
    c.put_user("u", Some(user("u")), c.epoch());
    c.put_session("s", None, c.epoch());
    assert!(c.user("u").is_some());
    assert_eq!(c.session("s"), Some(None), "known missing: a hit");
    assert_eq!(c.session("t"), None);
    assert_eq!(
        c.lookups(),
        Lookups {
            user_hits: 1,
            user_misses: 1,
            session_hits: 1,
            session_misses: 1,
        }
    );
    assert_eq!(
        c.entries(),
        Held {
            users: 1,
            sessions: 1
        }
    );
}

#[test]
fn feed_silence_restarts_whenever_the_feed_is_heard() {
    let c = cache();
    std::thread::sleep(Duration::from_millis(5));
    let before = c.feed_silence();
    assert!(
        before >= Duration::from_millis(5),
        "since start-up: {before:?}"
    );
    c.mark_alive();
    assert!(c.feed_silence() < before);
    c.count_feed_reconnect();
    assert_eq!(c.feed_reconnects(), 1);
}

#[test]
fn the_cache_is_bounded() {
    let c = StateCache::new(
        Duration::from_secs(60),
        Duration::from_secs(60),
        2,
        Clock::system(),
    );
    c.mark_alive();
    for id in ["a", "b", "c"] {
        c.put_user(id, Some(user(id)), c.epoch());
    }
    assert!(c.read().users.len() <= 2);
}

//! Measures the heap memory of Verify's two caches per entry and in total,
//! and shows it stays within their bounds however many entries are offered
//! (issue 16, docs/scaling.md, "Caches").
//!
//! The process's resident memory (`VmRSS`, /proc/self/status, Linux) is
//! read before and after each cache is filled through its public API with
//! entries shaped like real ones (UUIDv7 ids, a username and email, one
//! role, a browser user agent, a token's claims), in steps up to its bound
//! and then ten times past it; the difference, per entry held, is the
//! cost of one entry with the allocator's overhead and the maps' spare
//! capacity included (what a replica pays). The state cache's users and
//! sessions are measured separately (each kind has its own bound); the
//! verified-token cache keys by SHA-256 and holds the claims. The
//! allocator keeps freed pages, so a cache measured after another in the
//! same process would reuse them and look cheaper: measure one kind per
//! process with `--kind` (the first call writes the CSV, the next append);
//! the small steps are coarse (RSS grows by whole arenas).
//!
//! ```sh
//! for kind in users sessions verified; do
//!   cargo run --release --example cache_memory -- --bound 100000 --kind $kind \
//!     --csv docs/scaling/cache-memory.csv
//! done
//! ```
//!
//! No server, no database: the cost of the caches alone. The server's own
//! resident memory after start-up is `tools/scaling/run-startup`'s.

#![allow(
    clippy::expect_used,
    clippy::cast_precision_loss,
    clippy::too_many_lines,
    reason = "a measurement program: set-up failures are bugs, sizes are shown as floats"
)]

use std::fmt::Write as _;
use std::sync::Arc;
use std::time::Duration;

use authd::cache::StateCache;
use authd::clock::Clock;
use authd::store::Session;
use authd::token::{Audience, Claims};
use authd::user::User;
use authd_token::VerifiedTokens;

/// This process's resident memory in bytes.
fn live() -> usize {
    let status = std::fs::read_to_string("/proc/self/status").expect("/proc/self/status (Linux)");
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next()?.parse::<usize>().ok())
        .map(|kib| kib * 1024)
        .expect("a VmRSS line")
}

/// A UUIDv7-shaped id (36 characters), distinct per `i`.
fn id(kind: u8, i: usize) -> String {
    format!("0192f4a0-7c1e-7{kind:03x}-9a51-{i:012x}")
}

fn user(i: usize) -> User {
    User {
        id: id(1, i),
        username: format!("user-{i}"),
        email: Some(format!("user-{i}@example.com")),
        active: true,
        roles: vec!["user".to_owned()],
        created_at: 1_764_547_200,
        last_login_at: Some(1_764_547_200),
        external_id: None,
    }
}

fn session(i: usize) -> Session {
    Session {
        id: id(2, i),
        user_id: id(1, i),
        created_at: 1_764_547_200,
        last_used_at: 1_764_547_200,
        expires_at: 1_765_152_000,
        client_addr: Some("203.0.113.7".to_owned()),
        user_agent: Some(
            "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) \
             Chrome/131.0.0.0 Safari/537.36"
                .to_owned(),
        ),
        ended: None,
    }
}

fn claims(i: usize) -> Arc<Claims> {
    Arc::new(Claims {
        iss: "authd".into(),
        sub: id(1, i),
        aud: Audience::One("authd".into()),
        exp: 1_764_548_100,
        nbf: 1_764_547_200,
        iat: 1_764_547_200,
        jti: id(3, i),
        sid: id(2, i),
        roles: vec!["user".to_owned()],
        ptyp: None,
        client_id: None,
        ext: None,
    })
}

/// One measured cache: `fill(i)` adds entry `i`, `len()` counts what it holds.
struct Subject<'a> {
    name: &'static str,
    fill: Box<dyn Fn(usize) + 'a>,
    len: Box<dyn Fn() -> usize + 'a>,
}

fn main() {
    let mut bound = 100_000_usize;
    let mut csv = None;
    let mut only: Option<String> = None;
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--bound" => bound = args.next().and_then(|v| v.parse().ok()).expect("--bound N"),
            "--csv" => csv = Some(args.next().expect("--csv PATH")),
            "--kind" => only = Some(args.next().expect("--kind users|sessions|verified")),
            other => panic!("unknown argument {other}; see the file's doc"),
        }
    }
    let clock = Clock::system();
    let mut rows = String::new();
    println!("cache_memory: bound {bound} entries per cache (each kind), resident bytes");
    let kinds = [
        ("users", "state cache: users"),
        ("sessions", "state cache: sessions"),
        ("verified", "verified-token cache"),
    ];
    for (_, kind) in kinds
        .into_iter()
        .filter(|(short, _)| only.as_deref().is_none_or(|o| o == *short))
    {
        let before = live();
        let state = StateCache::new(
            Duration::from_secs(3600),
            Duration::from_secs(3600),
            bound,
            clock.clone(),
        );
        state.mark_alive();
        let verified = VerifiedTokens::new(bound, 3600);
        let subject = match kind {
            "state cache: users" => Subject {
                name: "users",
                fill: Box::new(|i| state.put_user(&id(1, i), Some(user(i)), state.epoch())),
                len: Box::new(|| state.entries().users),
            },
            "state cache: sessions" => Subject {
                name: "sessions",
                fill: Box::new(|i| state.put_session(&id(2, i), Some(session(i)), state.epoch())),
                len: Box::new(|| state.entries().sessions),
            },
            _ => Subject {
                name: "verified tokens",
                fill: Box::new(|i| {
                    let token = format!("eyJhbGciOiJFZERTQSJ9.{}.signature", id(3, i));
                    verified.put(&token, claims(i), "kid-1", 1_764_548_110, 1_764_547_200);
                }),
                len: Box::new(|| verified.len()),
            },
        };
        let steps = [bound / 100, bound / 10, bound, bound * 2, bound * 10];
        let mut offered = 0;
        let mut most_bytes = 0;
        for step in steps.into_iter().filter(|s| *s > 0) {
            while offered < step {
                (subject.fill)(offered);
                offered += 1;
            }
            let bytes = live().saturating_sub(before);
            most_bytes = most_bytes.max(bytes);
            let held = (subject.len)();
            println!(
                "  {kind:<22} offered {offered:>9}, held {held:>8}, {:>9.1} KiB, {:>6.0} bytes per entry held",
                bytes as f64 / 1024.0,
                bytes as f64 / held.max(1) as f64
            );
            let _ = writeln!(
                rows,
                "{} bytes per entry,{offered},{:.0},bytes,held {held} bound {bound}",
                subject.name,
                bytes as f64 / held.max(1) as f64
            );
            let _ = writeln!(
                rows,
                "{} total,{offered},{:.2},MiB,held {held} bound {bound}",
                subject.name,
                bytes as f64 / 1_048_576.0
            );
            assert!(held <= bound, "{kind} held {held}, past its bound {bound}");
        }
        println!(
            "  {kind:<22} most ever: {:.1} MiB for a bound of {bound}",
            most_bytes as f64 / 1_048_576.0
        );
        drop(subject);
    }
    if let Some(path) = csv {
        let text = format!(
            "# title: Cache memory against entries offered (bound {bound} each)\n\
             # xlabel: entries offered\n\
             # command: cargo run --release --example cache_memory -- --bound {bound} --kind K --csv {path} (K = users, sessions, verified; one process each)\n\
             series,x,y,unit,note\n{rows}"
        );
        if only.is_some() && std::path::Path::new(&path).exists() {
            // One kind per process (see the file's doc): append its rows only.
            let mut old = std::fs::read_to_string(&path).expect("the CSV file");
            old.push_str(&rows);
            std::fs::write(&path, old).expect("the CSV file");
        } else {
            std::fs::write(&path, text).expect("the CSV file");
        }
        println!("  written to {path}");
    }
}

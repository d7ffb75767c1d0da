//! Checking a presented password against a stored hash, on a hashing
//! thread: the dispatch on the stored hash's format and the Argon2
//! computation in each thread's reused working memory.
//!
//! A stored hash is either authd's own (an Argon2id PHC string, `$argon2id$...`)
//! or one imported from Django ([`super::django`], `<hasher>$...`). Whatever
//! its format, a hash that cannot be read or is over the caps is refused
//! before any memory is allocated, and a refused hash, an unusable Django
//! password and an unknown user each still cost one verification of the
//! dummy hash, so the account cannot be told apart by timing.

use argon2::password_hash::phc::PasswordHash;
use argon2::{Algorithm, Argon2, Params, PasswordVerifier as _, Version};
use secrecy::{ExposeSecret, SecretString};

use super::Verdict;
use super::cost::{Argon2Config, argon2_for, checked_params};
use super::django::{self, Parsed};
use crate::error::Result;

/// Checks `password` against `stored` (`real`: a user's hash, else the
/// dummy hash, which never gives a match), with `configured` the parameters
/// new hashes get and `dummy` the hash verified in place of a refused one
/// (`pub(crate)` for the `fuzzing` entry point).
pub(crate) fn check(
    password: &SecretString,
    stored: &str,
    real: bool,
    configured: Argon2Config,
    dummy: &str,
) -> Result<Verdict> {
    let argon = argon2_for(configured)?;
    let presented = password.expose_secret().as_bytes();
    let spend_dummy = || {
        if let Ok(parsed) = PasswordHash::new(dummy) {
            let _ = argon.verify_password(presented, &parsed);
        }
        Verdict::Mismatch
    };
    let refuse = |why: &str| {
        tracing::error!("stored password hash refused: {why}");
        spend_dummy()
    };
    if !stored.starts_with('$') {
        return Ok(match django::parse(stored) {
            Ok(Parsed::Unusable) => spend_dummy(),
            Ok(Parsed::Usable(hash)) => {
                match django::check::matches(&hash, presented, configured.memory_kib) {
                    // Any match of an imported hash asks for the Argon2id rehash.
                    Ok(true) if real => Verdict::Match { needs_rehash: true },
                    Ok(_) => Verdict::Mismatch,
                    Err(why) => refuse(&why),
                }
            }
            Err(problem) => refuse(&problem.0),
        });
    }
    let Ok(parsed) = PasswordHash::new(stored) else {
        return Ok(refuse("not a valid PHC string"));
    };
    let Some(stored_params) = checked_params(&parsed) else {
        return Ok(refuse("not argon2id within authd's caps"));
    };
    let (Some(salt), Some(expected)) = (&parsed.salt, &parsed.hash) else {
        return Ok(refuse("no salt or hash"));
    };
    let matched = Params::try_from(&parsed)
        .map_err(|_| argon2::Error::AlgorithmInvalid)
        .and_then(|params| {
            let version = parsed
                .version
                .map_or(Ok(Version::V0x13), Version::try_from)?;
            argon2_matches(
                presented,
                Algorithm::Argon2id,
                version,
                params,
                salt.as_ref(),
                expected.as_bytes(),
                configured.memory_kib,
            )
        });
    Ok(match matched {
        Ok(true) if real => Verdict::Match {
            needs_rehash: stored_params != configured
                || parsed.version != Some(Version::V0x13.into()),
        },
        Ok(_) => Verdict::Mismatch,
        Err(e) => {
            tracing::error!(error = %e, "stored password hash could not be checked");
            Verdict::Mismatch
        }
    })
}

thread_local! {
    /// Each hashing thread's Argon2 working memory, kept between hashes:
    /// allocating (and freeing) 19 MiB per login makes the allocator hold on
    /// to several copies, while one reused buffer per thread keeps resident
    /// memory at `hash_concurrency x memory cost`.
    static BLOCKS: std::cell::RefCell<Vec<argon2::Block>> = const { std::cell::RefCell::new(Vec::new()) };
}

/// Recomputes an Argon2 hash of `password` in this thread's reused working
/// memory and compares it with `expected` in constant time. The caller has
/// checked the parameters against the caps; memory beyond `keep_kib` (the
/// configured cost) is released again.
pub(super) fn argon2_matches(
    password: &[u8],
    algorithm: Algorithm,
    version: Version,
    params: Params,
    salt: &[u8],
    expected: &[u8],
    keep_kib: u32,
) -> Result<bool, argon2::Error> {
    let needed = params.block_count();
    let argon = Argon2::new(algorithm, version, params);
    let mut out = vec![0u8; expected.len()];
    BLOCKS.with(|blocks| {
        let mut blocks = blocks.borrow_mut();
        if blocks.len() < needed {
            blocks.resize(needed, argon2::Block::default());
        }
        let result =
            argon.hash_password_into_with_memory(password, salt, &mut out, &mut blocks[..needed]);
        // A legacy hash with a larger cost must not pin that much memory
        // (one block is 1 KiB).
        if blocks.len() > usize::try_from(keep_kib).unwrap_or(usize::MAX) {
            *blocks = Vec::new();
        }
        result
    })?;
    Ok(aws_lc_rs::constant_time::verify_slices_are_equal(&out, expected).is_ok())
}

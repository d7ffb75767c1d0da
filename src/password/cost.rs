//! The Argon2id cost: its parameters, the OWASP table a configured cost
//! must meet and the caps that bound configured and stored hashes alike.

use argon2::password_hash::phc::PasswordHash;
use argon2::{Algorithm, Argon2, Params, Version};

use super::settings::PasswordSettings;
use crate::error::{Error, Result};
use crate::settings;

/// Argon2id cost parameters.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Argon2Config {
    /// Memory cost in KiB.
    pub memory_kib: u32,
    /// Number of passes.
    pub iterations: u32,
    /// Degree of parallelism (lanes).
    pub parallelism: u32,
}

impl Default for Argon2Config {
    /// The settings' default: OWASP's first recommendation, m=19456 KiB, t=2, p=1.
    fn default() -> Self {
        settings::defaults::<PasswordSettings>().argon2()
    }
}

/// Argon2 parameter combinations OWASP recommends (memory KiB, iterations),
/// all equivalent in strength; a configuration must meet at least one.
pub const OWASP_ARGON2ID: [(u32, u32); 5] = [
    (47_104, 1),
    (19_456, 2),
    (12_288, 3),
    (9_216, 4),
    (7_168, 5),
];

/// Upper bounds on Argon2 parameters, for configuration and for stored
/// hashes alike: a tampered row must not make one login allocate gigabytes
/// or spin for minutes.
pub const ARGON2_MAX_MEMORY_KIB: u32 = 262_144;
/// See [`ARGON2_MAX_MEMORY_KIB`].
pub const ARGON2_MAX_ITERATIONS: u32 = 16;
/// See [`ARGON2_MAX_MEMORY_KIB`].
pub const ARGON2_MAX_PARALLELISM: u32 = 16;

/// Checks Argon2 parameters against OWASP's minimums and authd's caps.
///
/// # Errors
/// The setting to blame (its file key) and a message saying which bound was missed.
pub fn check_argon2(p: Argon2Config) -> Result<(), (&'static str, String)> {
    if p.parallelism == 0 || p.parallelism > ARGON2_MAX_PARALLELISM {
        return Err((
            "argon2_parallelism",
            format!("must be between 1 and {ARGON2_MAX_PARALLELISM}"),
        ));
    }
    if p.memory_kib > ARGON2_MAX_MEMORY_KIB || p.iterations > ARGON2_MAX_ITERATIONS {
        return Err((
            "argon2_memory_kib",
            format!(
                "argon2 cost is above authd's caps (memory at most {ARGON2_MAX_MEMORY_KIB} KiB, \
                 iterations at most {ARGON2_MAX_ITERATIONS})"
            ),
        ));
    }
    let meets_owasp = OWASP_ARGON2ID
        .iter()
        .any(|&(m, t)| p.memory_kib >= m && p.iterations >= t);
    if !meets_owasp {
        return Err((
            "argon2_memory_kib",
            "argon2 cost is below OWASP's minimum; use at least memory 19456 KiB with 2 \
             iterations (or 47104/1, 12288/3, 9216/4, 7168/5)"
                .to_owned(),
        ));
    }
    Ok(())
}

pub(super) fn argon2_for(p: Argon2Config) -> Result<Argon2<'static>> {
    let params = Params::new(p.memory_kib, p.iterations, p.parallelism, None)
        .map_err(|e| Error::Config(format!("invalid argon2 parameters: {e}")))?;
    Ok(Argon2::new(Algorithm::Argon2id, Version::V0x13, params))
}

/// The parameters of a stored hash, if it is Argon2id within the caps.
pub(super) fn checked_params(hash: &PasswordHash) -> Option<Argon2Config> {
    if hash.algorithm.as_str() != "argon2id" {
        return None;
    }
    let params = Params::try_from(hash).ok()?;
    let config = Argon2Config {
        memory_kib: params.m_cost(),
        iterations: params.t_cost(),
        parallelism: params.p_cost(),
    };
    let within_caps = config.memory_kib <= ARGON2_MAX_MEMORY_KIB
        && config.iterations <= ARGON2_MAX_ITERATIONS
        && config.parallelism <= ARGON2_MAX_PARALLELISM
        && hash.hash.as_ref().is_some_and(|h| h.len() <= 64);
    within_caps.then_some(config)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn weak_or_absurd_argon2_parameters_are_refused() {
        let weak = Argon2Config {
            memory_kib: 4096,
            iterations: 1,
            parallelism: 1,
        };
        assert!(check_argon2(weak).is_err());
        let huge = Argon2Config {
            memory_kib: 4 * 1024 * 1024,
            iterations: 2,
            parallelism: 1,
        };
        assert!(check_argon2(huge).is_err());
        let alternative = Argon2Config {
            memory_kib: 12_288,
            iterations: 3,
            parallelism: 1,
        };
        assert!(check_argon2(alternative).is_ok());
    }
}

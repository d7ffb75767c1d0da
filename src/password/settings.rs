//! Password-hashing settings owned by `password`: the Argon2id cost, the
//! OWASP table it must meet and the caps that bound it.
//!
//! Declares the settings ([`PasswordSettings`]), types, bounds and their
//! check; saying where a bad value came from is `config`'s job, above this module.

use std::time::Duration;

use crate::settings::{self, Checked};

/// Password hashing: the server and `user add` / `user set-password`.
#[derive(Debug, Clone, clap::Args)]
pub struct PasswordSettings {
    /// Argon2id memory cost in KiB.
    #[arg(long, env = "AUTHD_ARGON2_MEMORY_KIB", default_value = "19456")]
    pub argon2_memory_kib: u32,

    /// Argon2id iterations.
    #[arg(long, env = "AUTHD_ARGON2_ITERATIONS", default_value = "2")]
    pub argon2_iterations: u32,

    /// Argon2id parallelism.
    #[arg(long, env = "AUTHD_ARGON2_PARALLELISM", default_value = "1")]
    pub argon2_parallelism: u32,

    /// Password hashes computed at once [default: the number of CPUs].
    #[arg(long, env = "AUTHD_HASH_CONCURRENCY", default_value_t = cpus(), hide_default_value = true,
          value_parser = settings::int(1_usize, 1024))]
    pub hash_concurrency: usize,

    /// How long a login waits for a hashing slot before RESOURCE_EXHAUSTED.
    #[arg(long, env = "AUTHD_HASH_QUEUE_TIMEOUT", default_value = "1s",
          value_parser = settings::duration("0s", "60s"))]
    pub hash_queue_timeout: Duration,

    /// Fewest characters (Unicode code points) a new password may have.
    /// NIST SP 800-63B-4 asks for at least 8 (15 where the password is the
    /// only factor); common and compromised passwords are refused whatever this is.
    #[arg(long, env = "AUTHD_PASSWORD_MIN_LENGTH", default_value = "8",
          value_parser = settings::int(8_usize, 64))]
    pub password_min_length: usize,
}

impl PasswordSettings {
    /// The Argon2id cost for new hashes.
    #[must_use]
    pub fn argon2(&self) -> Argon2Config {
        Argon2Config {
            memory_kib: self.argon2_memory_kib,
            iterations: self.argon2_iterations,
            parallelism: self.argon2_parallelism,
        }
    }

    /// Checks the cost against OWASP's minimums and authd's caps.
    ///
    /// # Errors
    /// The parameter to blame and the bound it missed.
    pub fn check(&self) -> Checked {
        check_argon2(self.argon2()).or_else(|(key, message)| settings::invalid(key, message))
    }
}

fn cpus() -> usize {
    std::thread::available_parallelism().map_or(1, usize::from)
}

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

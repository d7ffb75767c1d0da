//! Password-hashing settings owned by `password`: the Argon2id cost and the
//! hashing pool.
//!
//! Declares the settings ([`PasswordSettings`]) and their check (against the
//! OWASP table and caps of `password::cost`); saying where a bad value came
//! from is `config`'s job, above this module.

use std::time::Duration;

use super::cost::{Argon2Config, check_argon2};
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

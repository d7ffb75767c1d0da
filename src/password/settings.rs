//! Password-hashing settings owned by `password` ([`PasswordSettings`]): the
//! Argon2id cost, checked against `password::cost`'s OWASP table and caps, and
//! the hashing pool.

use std::time::Duration;

use super::cost::{Argon2Config, check_argon2};
use crate::settings::{self, Checked, duration, int};

/// Password hashing: the server and `user add` / `user set-password`.
#[derive(Debug, Clone, clap::Args)]
pub struct PasswordSettings {
    /// Argon2id memory cost in KiB.
    #[arg(long, env, default_value = "19456")]
    pub argon2_memory_kib: u32,

    /// Argon2id iterations.
    #[arg(long, env, default_value = "2")]
    pub argon2_iterations: u32,

    /// Argon2id parallelism.
    #[arg(long, env, default_value = "1")]
    pub argon2_parallelism: u32,

    /// Password hashes computed at once [default: the number of CPUs].
    #[arg(long, env, default_value_t = cpus(), hide_default_value = true,
          value_parser = int(1_usize, 1024))]
    pub hash_concurrency: usize,

    /// How long a login waits for a hashing slot before RESOURCE_EXHAUSTED.
    #[arg(long, env, default_value = "1s", value_parser = duration("0s", "60s"))]
    pub hash_queue_timeout: Duration,

    /// Fewest characters a new password may have (NIST: 8, or 15 if it is the only factor).
    #[arg(long, env, default_value = "8", value_parser = int(8_usize, 64))]
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

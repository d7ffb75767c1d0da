//! The reference for the `login` scenario: raw Argon2id hashes per second at
//! authd's default parameters, measured in a child process pinned where the
//! server runs. The parameters are written here rather than read from the
//! service (the tool does not link it); they must follow the defaults in the
//! service's `password` module.

use std::time::{Duration, Instant};

use crate::process::pinned;

/// authd's default Argon2id cost: memory in KiB, passes, lanes (OWASP's
/// first recommendation).
const MEMORY_KIB: u32 = 19_456;
const PASSES: u32 = 2;
const LANES: u32 = 1;

/// Raw Argon2id hashes/s at authd's default parameters, on CPU 0, with one
/// thread per CPU authd hashes on.
pub fn measure(duration: Duration) -> Result<f64, String> {
    let exe = std::env::current_exe().map_err(|e| e.to_string())?;
    let out = pinned(&exe)
        .args(["--raw-argon2", &duration.as_secs().max(1).to_string()])
        .output()
        .map_err(|e| e.to_string())?;
    String::from_utf8_lossy(&out.stdout)
        .trim()
        .parse()
        .map_err(|_| "raw argon2 measurement failed".to_owned())
}

/// Hashes on every CPU this process may use until `duration` has passed;
/// returns hashes per second.
pub fn raw(duration: Duration) -> f64 {
    use argon2::{Algorithm, Argon2, Params, PasswordHasher as _, Version};
    // As many threads as authd would hash on with the CPUs this process got.
    let threads = std::thread::available_parallelism().map_or(1, usize::from);
    let deadline = Instant::now() + duration;
    let started = Instant::now();
    let handles: Vec<_> = (0..threads)
        .map(|_| {
            std::thread::spawn(move || {
                let params = Params::new(MEMORY_KIB, PASSES, LANES, None).unwrap_or_default();
                let argon = Argon2::new(Algorithm::Argon2id, Version::V0x13, params);
                let mut n = 0u64;
                while Instant::now() < deadline {
                    if argon.hash_password(b"load test password 1").is_ok() {
                        n += 1;
                    }
                }
                n
            })
        })
        .collect();
    let total: u64 = handles.into_iter().filter_map(|h| h.join().ok()).sum();
    total as f64 / started.elapsed().as_secs_f64()
}

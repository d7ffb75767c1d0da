//! Recomputes a parsed Django hash for a presented password and compares in
//! constant time, as Django's hashers do; runs on a hashing thread, after
//! [`super::parse`] has held the parameters to the caps.

use aws_lc_rs::{constant_time, digest, pbkdf2};
use md5::{Digest as _, Md5};

use super::Hash;
use crate::password::verify::argon2_matches;

/// Whether `password` (its UTF-8 bytes, as Django's `password.encode()`)
/// matches `hash`. `keep_kib` is the Argon2 memory a hashing thread keeps
/// between hashes.
///
/// # Errors
/// A short text saying why the hash could not be checked (parameters the
/// hashing code refuses after all); never any part of the hash.
pub(in crate::password) fn matches(
    hash: &Hash<'_>,
    password: &[u8],
    keep_kib: u32,
) -> Result<bool, String> {
    match hash {
        Hash::Pbkdf2 {
            sha1,
            iterations,
            salt,
            expected,
        } => {
            let prf = if *sha1 {
                pbkdf2::PBKDF2_HMAC_SHA1
            } else {
                pbkdf2::PBKDF2_HMAC_SHA256
            };
            // Compares in constant time; the expected length is the
            // digest's own (parse made sure), so it cannot panic.
            Ok(pbkdf2::verify(prf, *iterations, salt.as_bytes(), password, expected).is_ok())
        }
        Hash::Argon2 {
            algorithm,
            version,
            params,
            salt,
            expected,
        } => argon2_matches(
            password,
            *algorithm,
            *version,
            params.clone(),
            salt,
            expected,
            keep_kib,
        )
        .map_err(|e| format!("argon2: {e}")),
        Hash::Bcrypt { sha256, modular } => {
            // bcrypt_sha256 hashes the lower-case hex SHA-256 of the password
            // (64 bytes, under bcrypt's 72); plain bcrypt takes the first 72
            // bytes of the password, as Django with bcrypt 4 did. The bcrypt
            // crate truncates and compares in constant time.
            let hex;
            let input = if *sha256 {
                hex = hex_sha256(password);
                &hex[..]
            } else {
                password
            };
            ::bcrypt::verify(input, modular).map_err(|e| format!("bcrypt: {e}"))
        }
        Hash::Scrypt {
            log_n,
            r,
            p,
            salt,
            expected,
        } => {
            let params = scrypt::Params::new(*log_n, *r, *p)
                .map_err(|e| format!("scrypt parameters: {e}"))?;
            let mut out = [0u8; 64];
            scrypt::scrypt(password, salt.as_bytes(), &params, &mut out)
                .map_err(|e| format!("scrypt: {e}"))?;
            Ok(constant_time::verify_slices_are_equal(&out, expected).is_ok())
        }
        Hash::Md5 { salt, expected } => {
            let mut md5 = Md5::new();
            md5.update(salt.as_bytes());
            md5.update(password);
            let out = md5.finalize();
            Ok(constant_time::verify_slices_are_equal(&out, expected).is_ok())
        }
    }
}

/// Django's `hexlify(sha256(password).digest())`.
fn hex_sha256(password: &[u8]) -> [u8; 64] {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let digest = digest::digest(&digest::SHA256, password);
    let mut hex = [0u8; 64];
    for (pair, byte) in hex.chunks_exact_mut(2).zip(digest.as_ref()) {
        pair[0] = HEX[usize::from(byte >> 4)];
        pair[1] = HEX[usize::from(byte & 0x0f)];
    }
    hex
}

//! Reading a new password for `user add` and `user set-password`: the first
//! line of standard input (`--password-stdin`) or a twice-asked prompt on the
//! terminal, never an argument (which would land in shell history and the
//! process table).

use std::io::{BufRead as _, IsTerminal as _};

use secrecy::{ExposeSecret as _, SecretString};

use crate::error::{Error, Result};
use crate::password::PasswordPolicy;

/// Reads a password from stdin's first line, or prompts twice on the
/// terminal; one that `policy` refuses is refused before the second prompt
/// (the service checks it again, with the account's own words).
pub(super) fn read_password(
    from_stdin: bool,
    confirm: bool,
    policy: PasswordPolicy,
) -> Result<SecretString> {
    if from_stdin {
        let mut line = String::new();
        std::io::stdin()
            .lock()
            .read_line(&mut line)
            .map_err(|e| Error::invalid("password", format!("cannot read standard input: {e}")))?;
        let password = line.strip_suffix('\n').unwrap_or(&line);
        let password =
            SecretString::from(password.strip_suffix('\r').unwrap_or(password).to_owned());
        policy.check(&password)?;
        return Ok(password);
    }
    if !std::io::stdin().is_terminal() {
        return Err(Error::invalid(
            "password",
            "no terminal to prompt on; pass --password-stdin and pipe the password in",
        ));
    }
    let first = SecretString::from(
        rpassword::prompt_password("Password: ")
            .map_err(|e| Error::invalid("password", format!("cannot read the password: {e}")))?,
    );
    policy.check(&first)?;
    if confirm {
        let second = rpassword::prompt_password("Repeat password: ")
            .map_err(|e| Error::invalid("password", format!("cannot read the password: {e}")))?;
        if first.expose_secret() != second {
            return Err(Error::invalid("password", "the two entries differ"));
        }
    }
    Ok(first)
}

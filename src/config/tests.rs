//! Unit tests of the configuration: defaults, validation, layering and sources.

use std::time::Duration;

use secrecy::ExposeSecret as _;

use super::*;
use crate::grpc::ext_authz::ExtAuthzHeaders;
use crate::settings::parse_duration;
use crate::throttle::ThrottlePolicy;
use crate::tls::TlsSettings;

#[test]
fn durations_parse_with_and_without_units() {
    assert_eq!(parse_duration("250ms"), Some(Duration::from_millis(250)));
    assert_eq!(parse_duration("30"), Some(Duration::from_secs(30)));
    assert_eq!(parse_duration("30s"), Some(Duration::from_secs(30)));
    assert_eq!(parse_duration("15m"), Some(Duration::from_secs(900)));
    assert_eq!(parse_duration("2h"), Some(Duration::from_secs(7200)));
    assert_eq!(parse_duration("7d"), Some(Duration::from_secs(7 * 86_400)));
    assert_eq!(parse_duration("-1s"), None);
    assert_eq!(parse_duration("1.5s"), Some(Duration::from_millis(1500)));
    assert_eq!(parse_duration("1h30m"), Some(Duration::from_secs(5400)));
    assert_eq!(parse_duration("10 parsecs"), None);
    assert_eq!(parse_duration(""), None);
    assert_eq!(parse_duration("99999999999999999999h"), None);
}

#[test]
fn defaults_need_no_set_up() {
    let config = Config::default();
    config.check(&Sources::default()).unwrap();
    assert_eq!(config.server.listen.to_string(), "127.0.0.1:50051");
    assert_eq!(
        config.admin.store.url().unwrap().redacted(),
        "sqlite://authd.db"
    );
    assert_eq!(config.password.argon2(), Argon2Config::default());
    assert_eq!(config.lifetimes.access_token_ttl, Duration::from_secs(900));
    assert!(matches!(config.signing.signing().unwrap(), Signing::EdDsa));
    assert!(config.password.hash_concurrency >= 1);
    // The same as `authd` with no flags, no file and no variables.
    let parsed = load(&[]).unwrap();
    assert_eq!(format!("{parsed:?}"), format!("{config:?}"));
}

#[test]
fn throttle_settings_are_validated_with_a_fix() {
    let config = Config::default();
    assert_eq!(config.throttle.policy(), ThrottlePolicy::default());
    assert!(config.throttle.trusted_proxies.is_empty());

    let config = load(&[
        "--login-free-failures",
        "3",
        "--login-free-failures-per-address",
        "500",
        "--login-failure-window",
        "2h",
        "--login-backoff-base",
        "2s",
        "--login-backoff-max",
        "30m",
        "--trusted-proxies",
        "10.0.0.0/8, 127.0.0.1",
    ])
    .unwrap();
    assert_eq!(
        config.throttle.policy(),
        ThrottlePolicy {
            account_free_failures: 3,
            address_free_failures: 500,
            window_secs: 7200,
            base_delay_secs: 2,
            max_delay_secs: 1800,
        }
    );
    assert!(
        config
            .throttle
            .trusted_proxies
            .trusts("10.1.2.3".parse().unwrap())
    );

    for (args, flag, fix) in [
        (
            &["--login-free-failures", "0"][..],
            "AUTHD_LOGIN_FREE_FAILURES",
            "between 1 and 1000",
        ),
        (
            &["--login-backoff-max", "2h"],
            "AUTHD_LOGIN_BACKOFF_MAX",
            "lengthen the window",
        ),
        (
            &["--login-backoff-base", "10m", "--login-backoff-max", "1m"],
            "AUTHD_LOGIN_BACKOFF_MAX",
            "at least --login-backoff-base",
        ),
        (
            &["--trusted-proxies", "proxy.internal"],
            "AUTHD_TRUSTED_PROXIES",
            "10.0.0.0/8",
        ),
    ] {
        let message = load(args).unwrap_err().to_string();
        assert!(message.contains(flag), "{message}");
        assert!(message.contains(fix), "{message}");
    }
}

#[test]
fn bad_values_name_the_flag_and_variable() {
    let message = load(&["--listen", "not-an-address"])
        .unwrap_err()
        .to_string();
    assert!(message.contains("--listen"), "{message}");
    assert!(message.contains("AUTHD_LISTEN"), "{message}");
    assert!(
        message.contains("set by the command-line flag"),
        "{message}"
    );

    let message = load(&[
        "--signing-algorithm",
        "HS256",
        "--hs256-secret",
        "tiny-s3cret",
    ])
    .unwrap_err()
    .to_string();
    assert!(message.contains("32 bytes"), "{message}");
    assert!(
        !message.contains("tiny-s3cret"),
        "the secret leaked: {message}"
    );
    let message = load(&["--database-url", "mysql://u:pw@x/db"])
        .unwrap_err()
        .to_string();
    assert!(message.contains("--database-url"), "{message}");
    assert!(!message.contains("pw@"), "the password leaked: {message}");
    let message = load(&["--signing-algorithm", "none"])
        .unwrap_err()
        .to_string();
    assert!(message.contains("EdDSA, ES256, RS256, HS256"), "{message}");
}

#[test]
fn every_setting_is_a_flag_a_variable_and_a_file_key_of_the_same_name() {
    let command = crate::cli::command(&FileValues::default()).unwrap();
    let mut count = 0;
    for arg in command.get_arguments().filter(|a| a.get_long().is_some()) {
        let key = arg.get_id().as_str();
        if ["help", "version"].contains(&key) {
            continue;
        }
        assert_eq!(arg.get_long(), Some(key.replace('_', "-").as_str()));
        let env = arg.get_env().and_then(|e| e.to_str()).unwrap_or_default();
        let expected = if key == "log" {
            "AUTHD_LOG".to_owned()
        } else {
            format!("AUTHD_{}", key.to_ascii_uppercase())
        };
        assert_eq!(env, expected, "{key}");
        count += 1;
    }
    assert!(count > 50, "{count}");
}

#[test]
fn file_values_apply_below_flags() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("authd.toml");
    std::fs::write(
        &path,
        "listen = \"127.0.0.1:6000\"\nissuer = \"from-file\"\naccess_token_ttl = \"5m\"\n",
    )
    .unwrap();
    let file = path.to_str().unwrap();
    let config = load(&["--config", file, "--issuer", "from-flag"]).unwrap();
    assert_eq!(config.server.listen.port(), 6000);
    assert_eq!(config.token.issuer, "from-flag");
    assert_eq!(config.lifetimes.access_token_ttl, Duration::from_secs(300));

    std::fs::write(&path, "issuer = \"a\"\nno_such_key = 1\n").unwrap();
    let message = load(&["--config", file]).unwrap_err().to_string();
    assert!(message.contains("no_such_key"), "{message}");
    assert!(message.contains(&format!("{file}:2:15")), "{message}");

    std::fs::write(&path, "readiness_probe_interval = 5\n").unwrap();
    let config = load(&["--config", file]).unwrap();
    assert_eq!(
        config.server.readiness_probe_interval,
        Duration::from_secs(5)
    );
    let message = load(&["--readiness-probe-interval", "10ms"])
        .unwrap_err()
        .to_string();
    assert!(message.contains("out of range (100ms to 1m)"), "{message}");
}

#[test]
fn the_password_minimum_length_is_a_flag_a_file_key_and_bounded() {
    assert_eq!(Config::default().password.password_min_length, 8);
    let config = load(&["--password-min-length", "15"]).unwrap();
    assert_eq!(config.password.password_min_length, 15);

    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("authd.toml");
    std::fs::write(&path, "password_min_length = 12\n").unwrap();
    let file = path.to_str().unwrap();
    let config = load(&["--config", file]).unwrap();
    assert_eq!(config.password.password_min_length, 12);
    let config = load(&["--config", file, "--password-min-length", "20"]).unwrap();
    assert_eq!(config.password.password_min_length, 20, "the flag wins");

    for below_nist in ["7", "65", "eight"] {
        let message = load(&["--password-min-length", below_nist])
            .unwrap_err()
            .to_string();
        assert!(message.contains("--password-min-length"), "{message}");
        assert!(message.contains("AUTHD_PASSWORD_MIN_LENGTH"), "{message}");
        assert!(message.contains("between 8 and 64"), "{message}");
    }
}

#[test]
fn a_bare_number_in_the_file_is_seconds() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("authd.toml");
    std::fs::write(&path, "access_token_ttl = 600\nleeway = 0\n").unwrap();
    let config = load(&["--config", path.to_str().unwrap()]).unwrap();
    assert_eq!(config.lifetimes.access_token_ttl, Duration::from_secs(600));
    assert_eq!(config.lifetimes.leeway, Duration::ZERO);
}

#[test]
fn a_bad_file_value_is_blamed_on_its_line_and_column() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("authd.toml");
    std::fs::write(
        &path,
        "issuer = \"authd\"\naccess_token_ttl = \"forever\"\n",
    )
    .unwrap();
    let file = path.to_str().unwrap();
    let message = load(&["--config", file]).unwrap_err().to_string();
    assert!(message.contains("--access-token-ttl"), "{message}");
    assert!(message.contains("file key access_token_ttl"), "{message}");
    assert!(
        message.contains(&format!("set in {file}:2:20")),
        "{message}"
    );
    assert!(message.contains("is not a duration"), "{message}");
    // The same value as a flag is blamed on the flag, not the file.
    let message = load(&["--config", file, "--access-token-ttl", "never"])
        .unwrap_err()
        .to_string();
    assert!(
        message.contains("set by the command-line flag"),
        "{message}"
    );
    // A check across fields blames the file too.
    std::fs::write(&path, "login_backoff_max = \"2h\"\n").unwrap();
    let message = load(&["--config", file]).unwrap_err().to_string();
    assert!(
        message.contains(&format!("set in {file}:1:21")),
        "{message}"
    );

    std::fs::write(&path, "leeway = 1.5.0\n").unwrap();
    let message = load(&["--config", file]).unwrap_err().to_string();
    assert!(message.contains(&format!("{file}:1:")), "{message}");
}

#[test]
fn a_short_secret_file_is_reported_under_the_file_setting() {
    let dir = tempfile::tempdir().unwrap();
    let secret = dir.path().join("kek");
    std::fs::write(&secret, "short\n").unwrap();
    let message = load(&["--key-encryption-secret-file", secret.to_str().unwrap()])
        .unwrap_err()
        .to_string();
    assert!(
        message.contains("--key-encryption-secret-file"),
        "{message}"
    );
    assert!(message.contains("32 bytes"), "{message}");
}

#[test]
fn key_http_and_ext_authz_settings_are_validated() {
    let config = Config::default();
    assert_eq!(
        config.server.http_listen.unwrap().to_string(),
        "127.0.0.1:8080"
    );
    assert_eq!(config.signing.key_prepublish, Duration::from_secs(3600));
    assert!(config.token.key_rotation_interval.is_none());
    assert_eq!(config.ext_authz.headers(), ExtAuthzHeaders::default());

    let config = load(&[
        "--http-listen",
        "off",
        "--signing-algorithm",
        "rs256",
        "--key-rotation-interval",
        "720h",
        "--ext-authz-roles-header",
        "X-Groups",
    ])
    .unwrap();
    assert!(config.server.http_listen.is_none());
    assert!(matches!(config.signing.signing().unwrap(), Signing::Rs256));
    assert_eq!(
        config.token.key_rotation_interval,
        Some(Duration::from_secs(720 * 3600))
    );
    assert_eq!(config.ext_authz.headers().roles, "x-groups");

    for (args, flag) in [
        (
            &["--key-encryption-secret", "short-kek"][..],
            "--key-encryption-secret",
        ),
        (
            &["--key-rotation-interval", "1h"],
            "--key-rotation-interval",
        ),
        (
            &["--ext-authz-user-id-header", "x user: id"],
            "--ext-authz-user-id-header",
        ),
        (&["--http-listen", "everywhere"], "--http-listen"),
    ] {
        let message = load(args).unwrap_err().to_string();
        assert!(message.contains(flag), "{message}");
        assert!(!message.contains("short-kek"), "{message}");
    }
}

#[test]
fn ext_authz_header_names_must_be_distinct_and_not_reserved() {
    for (args, expected) in [
        (
            ["--ext-authz-roles-header", "Authorization"],
            "--ext-authz-roles-header",
        ),
        (
            ["--ext-authz-username-header", "x_forwarded_for"],
            "--ext-authz-username-header",
        ),
        (
            ["--ext-authz-roles-header", "x_authd_user_id"],
            "three different headers",
        ),
        (["--ext-authz-roles-header", "a-b-c-d-e-f-g"], "at most 5"),
    ] {
        let message = load(&args).unwrap_err().to_string();
        assert!(message.contains(expected), "{message}");
    }
}

#[test]
fn every_other_spelling_of_the_identity_headers_is_listed() {
    let spellings = ExtAuthzHeaders::default().other_spellings();
    for name in [
        "x_authd_roles",
        "x-authd_roles",
        "x_authd-roles",
        "x_authd_user_id",
        "x-authd-user_id",
        "x_authd_username",
        "x_authd_principal_type",
    ] {
        assert!(
            spellings.contains(&name.to_owned()),
            "{name}: {spellings:?}"
        );
    }
    // The names themselves are set, never removed; 3 + 7 + 3 + 7 others.
    assert!(!spellings.contains(&"x-authd-roles".to_owned()));
    assert_eq!(spellings.len(), 20);
}

#[test]
fn otlp_endpoint_is_off_by_default_and_needs_the_feature() {
    assert!(Config::default().otlp.otlp_endpoint.is_none());
    let with = |endpoint: &str| load(&["--otlp-endpoint", endpoint]);
    if cfg!(feature = "otlp") {
        let config = with("http://127.0.0.1:4317").unwrap();
        assert_eq!(
            config.otlp.otlp_endpoint.as_deref(),
            Some("http://127.0.0.1:4317")
        );
        for bad in ["127.0.0.1:4317", "https://collector:4317", "not a url"] {
            let message = with(bad).unwrap_err().to_string();
            assert!(message.contains("--otlp-endpoint"), "{message}");
            assert!(message.contains("AUTHD_OTLP_ENDPOINT"), "{message}");
        }
    } else {
        let message = with("http://127.0.0.1:4317").unwrap_err().to_string();
        assert!(message.contains("--otlp-endpoint"), "{message}");
        assert!(message.contains("--features otlp"), "{message}");
    }
}

#[test]
fn plaintext_on_a_non_loopback_address_is_refused_unless_allowed() {
    for (args, flag) in [
        (["--listen", "0.0.0.0:50051"], "--listen"),
        (["--http-listen", "192.0.2.10:8080"], "--http-listen"),
    ] {
        let message = load(&args).unwrap_err().to_string();
        for needed in [
            flag,
            "--tls-cert",
            "--tls-key",
            "--allow-plaintext",
            "AUTHD_ALLOW_PLAINTEXT",
        ] {
            assert!(message.contains(needed), "{needed}: {message}");
        }
        let allowed = load(&[args[0], args[1], "--allow-plaintext"]).unwrap();
        assert!(allowed.tls.allow_plaintext);
    }
    // Loopback (IPv4 and IPv6) and a turned-off HTTP listener need nothing.
    let config = load(&["--listen", "[::1]:50051", "--http-listen", "off"]).unwrap();
    assert!(TlsSettings::from_args(&config.tls).unwrap().is_none() && !config.tls.allow_plaintext);
    // A configuration built in code is checked the same way.
    let mut built = Config::default();
    built.server.listen = "0.0.0.0:50051".parse().unwrap();
    assert!(built.check(&Sources::default()).is_err());
}

#[test]
fn allow_plaintext_can_come_from_the_config_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("authd.toml");
    std::fs::write(
        &path,
        "listen = \"0.0.0.0:50051\"\nallow_plaintext = true\n",
    )
    .unwrap();
    let config = load(&["--config", path.to_str().unwrap()]).unwrap();
    assert!(config.tls.allow_plaintext);
}

#[test]
fn client_certificate_settings_need_the_settings_they_build_on() {
    for (args, flag) in [
        (["--tls-client-ca", "ca.pem"], "--tls-client-ca"),
        (["--admin-clients", "dns:ops.internal"], "--admin-clients"),
        (["--tls-key", "key.pem"], "--tls-cert"),
        (["--admin-clients", "ops.internal"], "--admin-clients"),
    ] {
        let message = load(&args).unwrap_err().to_string();
        assert!(message.contains(flag), "{flag}: {message}");
    }
    assert!(Config::default().tls.admin_clients.is_empty());
}

#[test]
fn secrets_do_not_show_in_debug_output() {
    let config = load(&[
        "--database-url",
        "postgres://u:topsecretpw@h/db",
        "--signing-algorithm",
        "HS256",
        "--hs256-secret",
        "an-hs256-secret-that-is-long-enough-0123456789",
        "--key-encryption-secret",
        "a-key-encryption-secret-long-enough-0123",
    ])
    .unwrap();
    assert_eq!(
        config
            .signing
            .hs256_secret
            .as_ref()
            .unwrap()
            .expose_secret(),
        "an-hs256-secret-that-is-long-enough-0123456789"
    );
    let debug = format!("{config:?}");
    assert!(!debug.contains("a-key-encryption-secret"), "{debug}");
    assert!(!debug.contains("topsecretpw"), "{debug}");
    assert!(!debug.contains("an-hs256-secret"), "{debug}");
}

/// `authd ARGS`'s configuration, checked, or the error it starts with (the
/// process's own `AUTHD_*` variables apply too; tests run without any).
fn load(list: &[&str]) -> Result<Config> {
    let argv = std::iter::once("authd").chain(list.iter().copied());
    match crate::cli::parse_from(argv) {
        Ok((cli, sources)) => cli.config.check(&sources).map(|()| cli.config),
        Err(crate::cli::ParseFailure::Config(e)) => Err(e),
        Err(crate::cli::ParseFailure::Clap(e)) => panic!("{e}"),
    }
}

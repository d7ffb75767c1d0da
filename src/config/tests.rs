//! Unit tests of the configuration: defaults, validation, layering and sources.

use super::*;

#[test]
fn durations_parse_with_and_without_units() {
    assert_eq!(parse_duration("250ms"), Some(Duration::from_millis(250)));
    assert_eq!(parse_duration("30"), Some(Duration::from_secs(30)));
    assert_eq!(parse_duration("30s"), Some(Duration::from_secs(30)));
    assert_eq!(parse_duration("15m"), Some(Duration::from_secs(900)));
    assert_eq!(parse_duration("2h"), Some(Duration::from_secs(7200)));
    assert_eq!(parse_duration("7d"), Some(Duration::from_secs(7 * 86_400)));
    assert_eq!(parse_duration("-1s"), None);
    assert_eq!(parse_duration("1.5s"), None);
    assert_eq!(parse_duration("10 parsecs"), None);
    assert_eq!(parse_duration(""), None);
    assert_eq!(parse_duration("99999999999999999999h"), None);
}

#[test]
fn defaults_need_no_set_up() {
    let config = Config::load(&ConfigArgs::default()).unwrap();
    assert_eq!(config.listen.to_string(), DEFAULT_LISTEN);
    assert_eq!(config.database_url.expose_secret(), DEFAULT_DATABASE_URL);
    assert_eq!(config.argon2, Argon2Config::default());
    assert_eq!(config.access_token_ttl, Duration::from_secs(900));
    assert!(matches!(config.signing, Signing::EdDsa));
}

#[test]
fn throttle_settings_are_validated_with_a_fix() {
    let config = Config::load(&ConfigArgs::default()).unwrap();
    assert_eq!(config.login_throttle, ThrottlePolicy::default());
    assert!(config.trusted_proxies.is_empty());

    let config = Config::load(&ConfigArgs {
        login_free_failures: Some(3),
        login_free_failures_per_address: Some(500),
        login_failure_window: Some("2h".into()),
        login_backoff_base: Some("2s".into()),
        login_backoff_max: Some("30m".into()),
        trusted_proxies: Some("10.0.0.0/8, 127.0.0.1".into()),
        ..ConfigArgs::default()
    })
    .unwrap();
    assert_eq!(
        config.login_throttle,
        ThrottlePolicy {
            account_free_failures: 3,
            address_free_failures: 500,
            window_secs: 7200,
            base_delay_secs: 2,
            max_delay_secs: 1800,
        }
    );
    assert!(config.trusted_proxies.trusts("10.1.2.3".parse().unwrap()));

    for (args, flag, fix) in [
        (
            ConfigArgs {
                login_free_failures: Some(0),
                ..ConfigArgs::default()
            },
            "AUTHD_LOGIN_FREE_FAILURES",
            "between 1 and 1000",
        ),
        (
            ConfigArgs {
                login_backoff_max: Some("2h".into()),
                ..ConfigArgs::default()
            },
            "AUTHD_LOGIN_BACKOFF_MAX",
            "lengthen the window",
        ),
        (
            ConfigArgs {
                login_backoff_base: Some("10m".into()),
                login_backoff_max: Some("1m".into()),
                ..ConfigArgs::default()
            },
            "AUTHD_LOGIN_BACKOFF_MAX",
            "at least --login-backoff-base",
        ),
        (
            ConfigArgs {
                trusted_proxies: Some("proxy.internal".into()),
                ..ConfigArgs::default()
            },
            "AUTHD_TRUSTED_PROXIES",
            "10.0.0.0/8",
        ),
    ] {
        let message = Config::load(&args).unwrap_err().to_string();
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
    assert!(load(&["--database-url", "mysql://x"]).is_err());
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
    assert_eq!(config.listen.port(), 6000);
    assert_eq!(config.issuer, "from-flag");
    assert_eq!(config.access_token_ttl, Duration::from_secs(300));

    std::fs::write(&path, "issuer = \"a\"\nno_such_key = 1\n").unwrap();
    let message = load(&["--config", file]).unwrap_err().to_string();
    assert!(message.contains("no_such_key"), "{message}");
    assert!(message.contains(&format!("{file}:2:15")), "{message}");
}

#[test]
fn a_bare_number_in_the_file_is_seconds() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("authd.toml");
    std::fs::write(&path, "access_token_ttl = 600\nleeway = 0\n").unwrap();
    let config = load(&["--config", path.to_str().unwrap()]).unwrap();
    assert_eq!(config.access_token_ttl, Duration::from_secs(600));
    assert_eq!(config.leeway, Duration::ZERO);
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
    // The same value as a flag is blamed on the flag, not the file.
    let message = load(&["--config", file, "--access-token-ttl", "never"])
        .unwrap_err()
        .to_string();
    assert!(
        message.contains("set by the command-line flag"),
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
    let config = Config::load(&ConfigArgs::default()).unwrap();
    assert_eq!(config.http_listen.unwrap().to_string(), "127.0.0.1:8080");
    assert_eq!(config.key_prepublish, Duration::from_secs(3600));
    assert!(config.key_rotation_interval.is_none());
    assert_eq!(config.ext_authz_headers, ExtAuthzHeaders::default());

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
    assert!(config.http_listen.is_none());
    assert!(matches!(config.signing, Signing::Rs256));
    assert_eq!(
        config.key_rotation_interval,
        Some(Duration::from_secs(720 * 3600))
    );
    assert_eq!(config.ext_authz_headers.roles, "x-groups");

    for (args, flag) in [
        (
            args(&["--key-encryption-secret", "short-kek"]),
            "--key-encryption-secret",
        ),
        (
            ConfigArgs {
                key_rotation_interval: Some("1h".into()),
                ..ConfigArgs::default()
            },
            "--key-rotation-interval",
        ),
        (
            ConfigArgs {
                ext_authz_user_id_header: Some("x user: id".into()),
                ..ConfigArgs::default()
            },
            "--ext-authz-user-id-header",
        ),
        (
            ConfigArgs {
                http_listen: Some("everywhere".into()),
                ..ConfigArgs::default()
            },
            "--http-listen",
        ),
    ] {
        let message = Config::load(&args).unwrap_err().to_string();
        assert!(message.contains(flag), "{message}");
        assert!(!message.contains("short-kek"), "{message}");
    }
}

#[test]
fn ext_authz_header_names_must_be_distinct_and_not_reserved() {
    for (args, expected) in [
        (
            ConfigArgs {
                ext_authz_roles_header: Some("Authorization".into()),
                ..ConfigArgs::default()
            },
            "--ext-authz-roles-header",
        ),
        (
            ConfigArgs {
                ext_authz_username_header: Some("x_forwarded_for".into()),
                ..ConfigArgs::default()
            },
            "--ext-authz-username-header",
        ),
        (
            ConfigArgs {
                ext_authz_roles_header: Some("x_authd_user_id".into()),
                ..ConfigArgs::default()
            },
            "three different headers",
        ),
        (
            ConfigArgs {
                ext_authz_roles_header: Some("a-b-c-d-e-f-g".into()),
                ..ConfigArgs::default()
            },
            "at most 5",
        ),
    ] {
        let message = Config::load(&args).unwrap_err().to_string();
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
    ] {
        assert!(
            spellings.contains(&name.to_owned()),
            "{name}: {spellings:?}"
        );
    }
    // The names themselves are set, never removed; 3 + 7 + 3 others.
    assert!(!spellings.contains(&"x-authd-roles".to_owned()));
    assert_eq!(spellings.len(), 13);
}

#[test]
fn otlp_endpoint_is_off_by_default_and_needs_the_feature() {
    assert!(
        Config::load(&ConfigArgs::default())
            .unwrap()
            .otlp_endpoint
            .is_none()
    );
    let with = |endpoint: &str| {
        Config::load(&ConfigArgs {
            otlp_endpoint: Some(endpoint.to_owned()),
            ..ConfigArgs::default()
        })
    };
    if cfg!(feature = "otlp") {
        let config = with("http://127.0.0.1:4317").unwrap();
        assert_eq!(
            config.otlp_endpoint.as_deref(),
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
        (
            ConfigArgs {
                listen: Some("0.0.0.0:50051".into()),
                ..ConfigArgs::default()
            },
            "--listen",
        ),
        (
            ConfigArgs {
                http_listen: Some("192.0.2.10:8080".into()),
                ..ConfigArgs::default()
            },
            "--http-listen",
        ),
    ] {
        let message = Config::load(&args).unwrap_err().to_string();
        for needed in [
            flag,
            "--tls-cert",
            "--tls-key",
            "--allow-plaintext",
            "AUTHD_ALLOW_PLAINTEXT",
        ] {
            assert!(message.contains(needed), "{needed}: {message}");
        }
        let allowed = Config::load(&ConfigArgs {
            allow_plaintext: true,
            ..args
        })
        .unwrap();
        assert!(allowed.allow_plaintext);
    }
    // Loopback (IPv4 and IPv6) and a turned-off HTTP listener need nothing.
    let config = Config::load(&ConfigArgs {
        listen: Some("[::1]:50051".into()),
        http_listen: Some("off".into()),
        ..ConfigArgs::default()
    })
    .unwrap();
    assert!(config.tls.is_none() && !config.allow_plaintext);
    // A configuration built in code is checked the same way.
    let built = Config {
        listen: "0.0.0.0:50051".parse().unwrap(),
        ..Config::default()
    };
    assert!(built.check_transport_security().is_err());
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
    assert!(config.allow_plaintext);
}

#[test]
fn client_certificate_settings_need_the_settings_they_build_on() {
    for (args, flag) in [
        (
            ConfigArgs {
                tls_client_ca: Some("ca.pem".into()),
                ..ConfigArgs::default()
            },
            "--tls-client-ca",
        ),
        (
            ConfigArgs {
                admin_clients: vec!["dns:ops.internal".into()],
                ..ConfigArgs::default()
            },
            "--admin-clients",
        ),
        (
            ConfigArgs {
                tls_key: Some("key.pem".into()),
                ..ConfigArgs::default()
            },
            "--tls-cert",
        ),
        (
            ConfigArgs {
                admin_clients: vec!["ops.internal".into()],
                ..ConfigArgs::default()
            },
            "--admin-clients",
        ),
    ] {
        let message = Config::load(&args).unwrap_err().to_string();
        assert!(message.contains(flag), "{flag}: {message}");
    }
    assert!(
        !Config::load(&ConfigArgs::default())
            .unwrap()
            .admin_clients
            .is_on()
    );
}

#[test]
fn secrets_do_not_show_in_debug_output() {
    let args = args(&[
        "--database-url",
        "postgres://u:topsecretpw@h/db",
        "--signing-algorithm",
        "HS256",
        "--hs256-secret",
        "an-hs256-secret-that-is-long-enough-0123456789",
        "--key-encryption-secret",
        "a-key-encryption-secret-long-enough-0123",
    ]);
    let config = Config::load(&args).unwrap();
    let debug = format!("{config:?}");
    assert!(!debug.contains("a-key-encryption-secret"), "{debug}");
    assert!(!debug.contains("topsecretpw"), "{debug}");
    assert!(!debug.contains("an-hs256-secret"), "{debug}");
    let debug = format!("{args:?}");
    assert!(!debug.contains("topsecretpw"), "{debug}");
    assert!(!debug.contains("an-hs256-secret"), "{debug}");
    assert!(!debug.contains("a-key-encryption-secret"), "{debug}");
}

/// The server's arguments as `authd ARGS` parses them (the process's own
/// `AUTHD_*` variables apply too; tests run without any).
fn parsed(list: &[&str]) -> (ConfigArgs, Sources) {
    let argv = std::iter::once("authd").chain(list.iter().copied());
    match crate::cli::parse_from(argv) {
        Ok((cli, sources)) => (cli.config, sources),
        Err(crate::cli::ParseFailure::Config(e)) => panic!("{e}"),
        Err(crate::cli::ParseFailure::Clap(e)) => panic!("{e}"),
    }
}

fn args(list: &[&str]) -> ConfigArgs {
    parsed(list).0
}

/// `authd ARGS`'s configuration, or the error it starts with.
fn load(list: &[&str]) -> Result<Config> {
    let argv = std::iter::once("authd").chain(list.iter().copied());
    match crate::cli::parse_from(argv) {
        Ok((cli, sources)) => Config::load_from(&cli.config, &sources),
        Err(crate::cli::ParseFailure::Config(e)) => Err(e),
        Err(crate::cli::ParseFailure::Clap(e)) => panic!("{e}"),
    }
}

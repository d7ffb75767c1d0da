//! The container and deployment files (Dockerfile, .dockerignore,
//! docker-compose.yml, deploy/kubernetes/), checked offline: no Docker engine
//! or cluster runs here. The compose file is validated against the Compose
//! specification's JSON schema (the copy check-jsonschema ships), the
//! manifests against Kubernetes' own schemas (kubernetes-validate bundles
//! them), both real validators from PyPI in the test venv; each validator is
//! first shown to reject a broken copy, so a pass means something. Then the
//! files are held to authd itself: the health check runs the real
//! subcommand and passes against a serving authd, every `AUTHD_*` variable
//! is a setting `--help` lists, secrets travel as files through the
//! `*_FILE` settings, and no image tag floats.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde_json::Value;

use crate::helpers::{Backend, TestApp, authd_command};

const PACKAGES: &str = "check-jsonschema and kubernetes-validate (tests/interop/requirements.txt)";

/// Kubernetes' version the manifests are validated against (the newest
/// kubernetes-validate bundles).
const KUBERNETES: &str = "1.37.0";

const MANIFESTS: [&str; 4] = [
    "deploy/kubernetes/deployment.yaml",
    "deploy/kubernetes/service.yaml",
    "deploy/kubernetes/pdb.yaml",
    "deploy/kubernetes/secret-template/secret.yaml",
];

fn repo(path: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(path)
}

fn read(path: &str) -> String {
    std::fs::read_to_string(repo(path)).unwrap_or_else(|e| panic!("read {path}: {e}"))
}

/// The test venv's Python (`AUTHD_TEST_PYTHON`) with `args`; a missing
/// package fails the test saying how to install it.
fn python(args: &[&str]) -> Output {
    let python = std::env::var("AUTHD_TEST_PYTHON").unwrap_or_else(|_| "python3".to_owned());
    let out = Command::new(&python)
        .args(args)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .unwrap_or_else(|e| {
            panic!("cannot run {python}: {e}. Run the suite with `bash tests/run`, which installs {PACKAGES}")
        });
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        !stderr.contains("No module named"),
        "{PACKAGES} missing: run the suite with `bash tests/run`, which installs them into its own virtual environment\n{stderr}"
    );
    out
}

fn output(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// Every document of the YAML file at `path` (absolute), as JSON.
fn yaml_at(path: &Path) -> Vec<Value> {
    let out = python(&[
        "-c",
        "import json, sys, yaml\n\
         docs = [d for d in yaml.safe_load_all(open(sys.argv[1])) if d is not None]\n\
         json.dump(docs, sys.stdout)",
        path.to_str().expect("a UTF-8 path"),
    ]);
    assert!(out.status.success(), "{}", output(&out));
    serde_json::from_slice::<Vec<Value>>(&out.stdout).expect("JSON from PyYAML")
}

fn yaml(path: &str) -> Value {
    let mut docs = yaml_at(&repo(path));
    assert_eq!(docs.len(), 1, "{path} holds one document");
    docs.remove(0)
}

fn validate_compose(path: &Path) -> Output {
    python(&[
        "-m",
        "check_jsonschema",
        "--builtin-schema",
        "vendor.compose-spec",
        path.to_str().expect("UTF-8"),
    ])
}

fn validate_kubernetes(paths: &[&Path]) -> Output {
    let mut args = vec!["-m", "kubernetes_validate", "--strict", "-k", KUBERNETES];
    args.extend(paths.iter().map(|p| p.to_str().expect("UTF-8")));
    python(&args)
}

#[test]
fn docker_compose_yml_is_valid_against_the_compose_specification_schema() {
    let out = validate_compose(&repo("docker-compose.yml"));
    assert!(
        out.status.success(),
        "docker-compose.yml:\n{}",
        output(&out)
    );

    // The validator does refuse: an unknown depends_on condition.
    let dir = tempfile::tempdir().expect("a scratch directory");
    let broken = dir.path().join("docker-compose.yml");
    let text = read("docker-compose.yml").replacen("service_healthy", "service_happy", 1);
    std::fs::write(&broken, text).expect("write");
    let out = validate_compose(&broken);
    assert!(
        !out.status.success(),
        "a broken file passed:\n{}",
        output(&out)
    );
    assert!(output(&out).contains("service_happy"), "{}", output(&out));
}

#[test]
fn kubernetes_manifests_are_valid_against_the_kubernetes_schemas() {
    let paths: Vec<PathBuf> = MANIFESTS.iter().map(|p| repo(p)).collect();
    let refs: Vec<&Path> = paths.iter().map(PathBuf::as_path).collect();
    let out = validate_kubernetes(&refs);
    assert!(out.status.success(), "{}", output(&out));
    for path in MANIFESTS {
        let name = Path::new(path).file_name().unwrap().to_str().unwrap();
        assert!(
            output(&out)
                .lines()
                .any(|l| l.contains(name) && l.contains("passed")),
            "{path} was not validated:\n{}",
            output(&out)
        );
    }

    // The validator does refuse: a misspelt field, in strict mode.
    let dir = tempfile::tempdir().expect("a scratch directory");
    let broken = dir.path().join("deployment.yaml");
    let text =
        read("deploy/kubernetes/deployment.yaml").replacen("readinessProbe:", "readinesProbe:", 1);
    std::fs::write(&broken, text).expect("write");
    let out = validate_kubernetes(&[&broken]);
    assert!(
        !out.status.success(),
        "a broken manifest passed:\n{}",
        output(&out)
    );
    assert!(output(&out).contains("readinesProbe"), "{}", output(&out));
}

/// Why `image` floats (may name another build tomorrow), or `None` when it
/// is pinned: a digest, or a tag naming a release (`MAJOR.MINOR`...).
fn floating(image: &str) -> Option<&'static str> {
    if image.contains("@sha256:") {
        return None;
    }
    let name = image.rsplit('/').next().unwrap_or(image);
    let Some((_, tag)) = name.split_once(':') else {
        return Some("no tag, which means `latest`");
    };
    if tag == "latest" || tag.ends_with("-latest") || tag.starts_with("latest-") {
        return Some("a `latest` tag");
    }
    let bytes = tag.as_bytes();
    let release = bytes
        .windows(3)
        .any(|w| w[0].is_ascii_digit() && w[1] == b'.' && w[2].is_ascii_digit());
    (!release)
        .then_some("a tag that names no release (MAJOR.MINOR...), such as a bare major or codename")
}

#[test]
fn the_floating_tag_check_refuses_latest_missing_and_release_less_tags() {
    for image in [
        "postgres",
        "postgres:latest",
        "envoyproxy/envoy:v1.31-latest",
        "ealen/echo-server:latest",
        "postgres:16",
        "debian:bookworm-slim",
        "registry.example:5000/authd",
    ] {
        assert!(floating(image).is_some(), "{image} passed as pinned");
    }
    for image in [
        "postgres:16.15",
        "envoyproxy/envoy:v1.39.2",
        "rust:1.95.0-slim-trixie",
        "debian:13.2-slim",
        "registry.example:5000/authd:0.1.0",
        "debian@sha256:0123456789abcdef",
    ] {
        assert_eq!(floating(image), None, "{image}");
    }
}

/// The Dockerfile with continuation lines joined and comments dropped.
fn dockerfile_lines() -> Vec<String> {
    let mut lines = Vec::new();
    let mut current = String::new();
    for line in read("Dockerfile").lines() {
        let trimmed = line.trim();
        if trimmed.starts_with('#') || (trimmed.is_empty() && current.is_empty()) {
            continue;
        }
        if let Some(head) = trimmed.strip_suffix('\\') {
            current.push_str(head);
            current.push(' ');
        } else {
            current.push_str(trimmed);
            lines.push(std::mem::take(&mut current));
        }
    }
    lines
}

/// The Dockerfile's instructions named `word`, with their arguments.
fn instructions(word: &str) -> Vec<String> {
    dockerfile_lines()
        .into_iter()
        .filter_map(|line| {
            let (head, rest) = line.split_once(char::is_whitespace)?;
            head.eq_ignore_ascii_case(word)
                .then(|| rest.trim().to_owned())
        })
        .collect()
}

/// The base images of the Dockerfile's stages (not earlier stages' names).
fn dockerfile_images() -> Vec<String> {
    let mut stages = BTreeSet::new();
    let mut images = Vec::new();
    for from in instructions("FROM") {
        let words: Vec<&str> = from
            .split_whitespace()
            .filter(|w| !w.starts_with("--"))
            .collect();
        let image = words[0].to_owned();
        if !stages.contains(&image) {
            images.push(image);
        }
        if let [_, r#as, stage] = words[..]
            && r#as.eq_ignore_ascii_case("as")
        {
            stages.insert(stage.to_owned());
        }
    }
    images
}

fn compose() -> Value {
    yaml("docker-compose.yml")
}

fn services() -> serde_json::Map<String, Value> {
    compose()["services"].as_object().expect("services").clone()
}

fn deployment() -> Value {
    yaml("deploy/kubernetes/deployment.yaml")
}

fn pod_spec() -> Value {
    deployment()["spec"]["template"]["spec"].clone()
}

fn authd_container() -> Value {
    let containers = pod_spec()["containers"]
        .as_array()
        .expect("containers")
        .clone();
    containers
        .into_iter()
        .find(|c| c["name"] == "authd")
        .expect("a container named authd")
}

#[test]
fn no_image_in_the_dockerfile_compose_file_or_manifests_floats() {
    let mut images: Vec<(String, String)> = dockerfile_images()
        .into_iter()
        .map(|image| ("Dockerfile".to_owned(), image))
        .collect();
    assert_eq!(images.len(), 2, "a build and a runtime stage: {images:?}");
    for (name, service) in services() {
        let image = service["image"]
            .as_str()
            .unwrap_or_else(|| panic!("service {name} names its image"));
        images.push((
            format!("docker-compose.yml service {name}"),
            image.to_owned(),
        ));
    }
    let spec = pod_spec();
    for key in ["initContainers", "containers"] {
        for container in spec[key].as_array().into_iter().flatten() {
            let image = container["image"].as_str().expect("an image").to_owned();
            images.push((
                format!("deployment.yaml container {}", container["name"]),
                image,
            ));
        }
    }
    let floats: Vec<String> = images
        .iter()
        .filter_map(|(at, image)| floating(image).map(|why| format!("{at}: {image}: {why}")))
        .collect();
    assert!(
        floats.is_empty(),
        "pin these to a release tag or digest:\n{}",
        floats.join("\n")
    );
}

/// What `authd serve --help` and `authd healthcheck --help` print.
fn help() -> String {
    let mut text = String::new();
    for command in ["serve", "healthcheck"] {
        let out = authd_command()
            .args([command, "--help"])
            .output()
            .expect("authd --help");
        assert!(out.status.success(), "{}", output(&out));
        text.push_str(&String::from_utf8_lossy(&out.stdout));
    }
    text
}

/// The `ENV` of every Dockerfile stage, as `KEY=VALUE` pairs.
fn dockerfile_env() -> Vec<(String, String)> {
    instructions("ENV")
        .iter()
        .flat_map(|env| {
            env.split_whitespace()
                .filter_map(|pair| pair.split_once('='))
                .map(|(k, v)| (k.to_owned(), v.trim_matches('"').to_owned()))
                .collect::<Vec<_>>()
        })
        .collect()
}

fn compose_env(service: &str) -> serde_json::Map<String, Value> {
    services()[service]["environment"]
        .as_object()
        .unwrap_or_else(|| panic!("{service}'s environment as a mapping"))
        .clone()
}

fn kubernetes_env() -> Vec<(String, String)> {
    authd_container()["env"]
        .as_array()
        .expect("env")
        .iter()
        .map(|e| {
            let value = e["value"]
                .as_str()
                .unwrap_or_else(|| panic!("{e} has a plain value"));
            (
                e["name"].as_str().expect("a name").to_owned(),
                value.to_owned(),
            )
        })
        .collect()
}

/// Secrets that must never be an environment value.
const SECRET_VALUES: [&str; 4] = [
    "AUTHD_DATABASE_URL",
    "AUTHD_KEY_ENCRYPTION_SECRET",
    "AUTHD_HS256_SECRET",
    "POSTGRES_PASSWORD",
];

#[test]
fn every_authd_variable_in_the_container_files_is_a_setting_authd_lists() {
    let help = help();
    let mut names: Vec<(String, String)> = dockerfile_env()
        .into_iter()
        .map(|(k, _)| ("Dockerfile".to_owned(), k))
        .collect();
    for (name, _) in services() {
        if let Some(env) = services()[&name]["environment"].as_object() {
            names.extend(
                env.keys()
                    .map(|k| (format!("docker-compose.yml {name}"), k.clone())),
            );
        }
    }
    names.extend(
        kubernetes_env()
            .into_iter()
            .map(|(k, _)| ("deployment.yaml".to_owned(), k)),
    );
    let unknown: Vec<String> = names
        .iter()
        .filter(|(_, name)| name.starts_with("AUTHD_") && !help.contains(&format!("[env: {name}=")))
        .map(|(at, name)| format!("{at}: {name}"))
        .collect();
    assert!(
        unknown.is_empty(),
        "not settings of `authd serve` or `authd healthcheck`:\n{}",
        unknown.join("\n")
    );
    assert!(
        names.iter().any(|(_, n)| n.starts_with("AUTHD_")),
        "{names:?}"
    );
}

#[test]
fn compose_passes_the_database_url_and_key_encryption_secret_as_files_through_secrets() {
    let compose = compose();
    let declared = compose["secrets"].as_object().expect("top-level secrets");
    for (service, wants) in [
        (
            "authd",
            &[
                "AUTHD_DATABASE_URL_FILE",
                "AUTHD_KEY_ENCRYPTION_SECRET_FILE",
            ][..],
        ),
        ("postgres", &["POSTGRES_PASSWORD_FILE"][..]),
    ] {
        let env = compose_env(service);
        for secret in SECRET_VALUES {
            assert!(
                !env.contains_key(secret),
                "{service} has {secret} in its environment"
            );
        }
        let mounted: Vec<&str> = compose["services"][service]["secrets"]
            .as_array()
            .unwrap_or_else(|| panic!("{service} uses secrets"))
            .iter()
            .map(|s| {
                s.as_str()
                    .or_else(|| s["source"].as_str())
                    .expect("a secret name")
            })
            .collect();
        for want in wants {
            let path = env
                .get(*want)
                .and_then(Value::as_str)
                .unwrap_or_else(|| panic!("{service} sets {want}"));
            let name = path
                .strip_prefix("/run/secrets/")
                .unwrap_or_else(|| panic!("{want}={path} is not a compose secret's path"));
            assert!(
                mounted.contains(&name),
                "{service} does not mount secret {name}"
            );
            let file = declared
                .get(name)
                .and_then(|s| s["file"].as_str())
                .unwrap_or_else(|| panic!("secret {name} is not declared with a file"));
            assert!(file.starts_with("./secrets/"), "{name} comes from {file}");
        }
    }
    // The secret files are kept out of git and out of the build context.
    assert!(
        read(".gitignore")
            .lines()
            .any(|l| l.trim() == "/secrets" || l.trim() == "secrets/")
    );
    assert!(read(".dockerignore").lines().any(|l| l.trim() == "secrets"));
}

#[test]
fn the_deployment_reads_its_secrets_from_the_mounted_secret_through_file_settings() {
    let env = kubernetes_env();
    for (name, _) in &env {
        assert!(
            !SECRET_VALUES.contains(&name.as_str()),
            "{name} as a plain value"
        );
    }
    let container = authd_container();
    let spec = pod_spec();
    let template = yaml("deploy/kubernetes/secret-template/secret.yaml");
    let template_keys = template["stringData"].as_object().expect("stringData");
    for want in [
        "AUTHD_DATABASE_URL_FILE",
        "AUTHD_KEY_ENCRYPTION_SECRET_FILE",
    ] {
        let (_, path) = env
            .iter()
            .find(|(name, _)| name == want)
            .unwrap_or_else(|| panic!("the Deployment sets {want}"));
        let mount = container["volumeMounts"]
            .as_array()
            .expect("volumeMounts")
            .iter()
            .find(|m| path.starts_with(&format!("{}/", m["mountPath"].as_str().unwrap())))
            .unwrap_or_else(|| panic!("{want}={path} is under no mount"));
        assert_eq!(mount["readOnly"], true);
        let volume = spec["volumes"]
            .as_array()
            .expect("volumes")
            .iter()
            .find(|v| v["name"] == mount["name"])
            .expect("the mount's volume");
        let secret = &volume["secret"];
        assert_eq!(secret["secretName"], template["metadata"]["name"]);
        let file = &path[mount["mountPath"].as_str().unwrap().len() + 1..];
        let item = secret["items"]
            .as_array()
            .expect("items")
            .iter()
            .find(|i| i["path"] == file)
            .unwrap_or_else(|| panic!("no item of the secret lands at {file}"));
        let key = item["key"].as_str().expect("a key");
        assert!(template_keys.contains_key(key), "the template lacks {key}");
    }
}

/// The argv of a JSON-array health check command (`["CMD", ...]` in
/// compose, `CMD [...]` in a Dockerfile), which must start `authd healthcheck`.
fn healthcheck_argv(at: &str, argv: &[String]) -> Vec<String> {
    assert!(
        argv.len() >= 2 && argv[0] == "authd" && argv[1] == "healthcheck",
        "{at} runs {argv:?}, not `authd healthcheck`"
    );
    argv[1..].to_vec()
}

/// Runs `authd ARGS` as the container would (its AUTHD_LISTEN, with the
/// test server's port), off the runtime.
async fn run_in_container_env(args: Vec<String>, listen: &str, port: u16) -> Output {
    let (host, _) = listen.rsplit_once(':').expect("HOST:PORT");
    let listen = format!("{host}:{port}");
    tokio::task::spawn_blocking(move || {
        authd_command()
            .args(&args)
            .env("AUTHD_LISTEN", listen)
            .output()
            .expect("run authd")
    })
    .await
    .expect("the process")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_dockerfile_and_compose_health_checks_run_the_real_subcommand_and_pass_against_a_serving_authd()
 {
    let (_app, addr) = TestApp::builder(Backend::Sqlite).spawn_with_addr().await;

    let checks = instructions("HEALTHCHECK");
    assert_eq!(checks.len(), 1, "one HEALTHCHECK: {checks:?}");
    let (_, cmd) = checks[0]
        .split_once("CMD")
        .expect("HEALTHCHECK ... CMD [...]");
    let command: Vec<String> =
        serde_json::from_str(cmd.trim()).expect("CMD as a JSON array (exec form)");
    let args = healthcheck_argv("Dockerfile HEALTHCHECK", &command);
    assert_eq!(instructions("ENTRYPOINT"), [r#"["authd"]"#]);
    assert!(
        instructions("COPY")
            .iter()
            .any(|c| c.ends_with("/usr/local/bin/authd")),
        "the image puts authd on PATH"
    );
    let env = dockerfile_env();
    let listen = &env
        .iter()
        .find(|(k, _)| k == "AUTHD_LISTEN")
        .expect("ENV AUTHD_LISTEN")
        .1;
    assert_eq!(
        listen, "0.0.0.0:50051",
        "the image listens on every interface"
    );
    assert!(
        instructions("EXPOSE")
            .iter()
            .any(|e| e.split_whitespace().any(|p| p == "50051"))
    );
    let out = run_in_container_env(args, listen, addr.port()).await;
    assert!(
        out.status.success(),
        "the image's health check fails: {}",
        output(&out)
    );

    let services = services();
    let test: Vec<String> =
        serde_json::from_value(services["authd"]["healthcheck"]["test"].clone())
            .expect("authd's healthcheck test as a list");
    assert_eq!(test[0], "CMD", "exec form, no shell in the image needed");
    let args = healthcheck_argv("docker-compose.yml authd healthcheck", &test[1..]);
    let env = compose_env("authd");
    let listen = env["AUTHD_LISTEN"].as_str().expect("AUTHD_LISTEN");
    let out = run_in_container_env(args, listen, addr.port()).await;
    assert!(
        out.status.success(),
        "compose's health check fails: {}",
        output(&out)
    );
}

#[test]
fn compose_restarts_every_service_and_starts_each_after_what_it_needs_is_healthy() {
    let services = services();
    for (name, service) in &services {
        assert_eq!(service["restart"], "unless-stopped", "service {name}");
    }
    let pg = services["postgres"]["healthcheck"]["test"].to_string();
    assert!(pg.contains("pg_isready"), "{pg}");
    assert_eq!(
        services["authd"]["depends_on"]["postgres"]["condition"],
        "service_healthy"
    );
    for envoy in ["envoy-ext-authz", "envoy-jwt-authn"] {
        assert_eq!(
            services[envoy]["depends_on"]["authd"]["condition"], "service_healthy",
            "{envoy}"
        );
    }
}

#[test]
fn the_deployment_probes_grpc_health_and_runs_locked_down() {
    let container = authd_container();
    let env = kubernetes_env();
    let listen = &env
        .iter()
        .find(|(k, _)| k == "AUTHD_LISTEN")
        .expect("AUTHD_LISTEN")
        .1;
    let port: u64 = listen.rsplit_once(':').unwrap().1.parse().unwrap();
    for probe in ["startupProbe", "readinessProbe", "livenessProbe"] {
        assert_eq!(
            container[probe]["grpc"]["port"], port,
            "{probe} asks gRPC health on {listen}"
        );
    }
    let grpc_port = container["ports"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["name"] == "grpc")
        .expect("a port named grpc");
    assert_eq!(grpc_port["containerPort"], port);
    for kind in ["requests", "limits"] {
        for resource in ["cpu", "memory"] {
            assert!(
                container["resources"][kind][resource].is_string(),
                "{kind}.{resource}"
            );
        }
    }
    let security = &container["securityContext"];
    assert_eq!(security["readOnlyRootFilesystem"], true);
    assert_eq!(security["allowPrivilegeEscalation"], false);
    assert_eq!(security["runAsNonRoot"], true);
    assert_eq!(security["capabilities"]["drop"], serde_json::json!(["ALL"]));
    // The pod's user is the image's (a numeric USER, so runAsNonRoot can check it).
    let user = instructions("USER").pop().expect("a USER");
    let uid: u64 = user
        .split(':')
        .next()
        .unwrap()
        .parse()
        .expect("a numeric USER");
    assert_ne!(uid, 0);
    assert_eq!(pod_spec()["securityContext"]["runAsUser"], uid);

    // The Service and the PodDisruptionBudget select these pods.
    let labels = &deployment()["spec"]["template"]["metadata"]["labels"];
    let service = yaml("deploy/kubernetes/service.yaml");
    let pdb = yaml("deploy/kubernetes/pdb.yaml");
    for (what, selector) in [
        ("Service", &service["spec"]["selector"]),
        (
            "PodDisruptionBudget",
            &pdb["spec"]["selector"]["matchLabels"],
        ),
    ] {
        for (key, value) in selector.as_object().expect("a selector") {
            assert_eq!(&labels[key], value, "{what} selects {key}={value}");
        }
    }
    let replicas = deployment()["spec"]["replicas"].as_u64().unwrap();
    let min = pdb["spec"]["minAvailable"].as_u64().expect("minAvailable");
    assert!(
        min >= 1 && min < replicas,
        "the budget lets one pod move at a time"
    );
}

#[test]
fn dockerignore_keeps_history_build_output_and_environments_out_and_the_sources_in() {
    let ignored: Vec<String> = read(".dockerignore")
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .map(str::to_owned)
        .collect();
    for want in [
        ".git",
        "target",
        "**/node_modules",
        "**/test-venv",
        "**/.venv",
    ] {
        assert!(
            ignored.iter().any(|i| i == want),
            "{want} not in .dockerignore: {ignored:?}"
        );
    }
    // What the Dockerfile copies from the context exists and is not ignored.
    for copy in instructions("COPY") {
        if copy.starts_with("--from") {
            continue;
        }
        let words: Vec<&str> = copy.split_whitespace().collect();
        for source in &words[..words.len() - 1] {
            assert!(repo(source).exists(), "COPY {source}: no such file");
            let top = source.split('/').next().unwrap();
            assert!(
                !ignored.iter().any(|i| i == top || i == source),
                "COPY {source} is docker-ignored"
            );
        }
    }
}

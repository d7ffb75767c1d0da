//! docs/security.md held to the tree: every test it cites as the proof of a
//! defence exists where it says, and every command-line flag it names is one
//! of authd's, with the default its settings tables give. No server runs;
//! the document is read as text and the command line is `authd::cli::Cli`
//! itself, so a renamed test or setting fails here rather than leaving the
//! document quietly wrong.

use std::path::{Path, PathBuf};

use clap::CommandFactory as _;

const DOC: &str = "docs/security.md";

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn doc() -> String {
    std::fs::read_to_string(root().join(DOC)).unwrap_or_else(|e| panic!("read {DOC}: {e}"))
}

/// The text of every `backticked` span, with the line it starts on; a span
/// wrapped over two lines is joined with a space. Fenced code blocks are
/// skipped (their backticks open no spans).
fn spans(text: &str) -> Vec<(usize, String)> {
    let mut out = Vec::new();
    let mut fenced = false;
    let mut open: Option<(usize, String)> = None;
    for (number, line) in text.lines().enumerate() {
        if open.is_none() && line.trim_start().starts_with("```") {
            fenced = !fenced;
            continue;
        }
        if fenced {
            continue;
        }
        if let Some((_, span)) = open.as_mut() {
            span.push(' ');
        }
        for c in line.chars() {
            match (c, open.take()) {
                ('`', None) => open = Some((number + 1, String::new())),
                ('`', Some(done)) => out.push(done),
                (c, Some((start, mut span))) => {
                    span.push(c);
                    open = Some((start, span));
                }
                (_, None) => {}
            }
        }
    }
    out
}

fn is_ident(segment: &str) -> bool {
    segment.starts_with(|c: char| c.is_ascii_lowercase())
        && segment
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
}

/// A span that cites a test: a Rust path (`module::*::name`,
/// `module::{sqlite,postgres}::name`, `name`) whose last segment reads as a
/// sentence (four words or more). Metric names (`authd_..._seconds`,
/// `..._total`) are the one other kind of long snake_case name the document
/// uses; they are not tests.
fn cited_test(span: &str) -> Option<(Vec<&str>, &str)> {
    let segments: Vec<&str> = span.split("::").collect();
    let (name, modules) = segments.split_last()?;
    let path_like = modules.iter().all(|m| {
        is_ident(m)
            || *m == "*"
            || (m.starts_with('{')
                && m.ends_with('}')
                && m[1..m.len() - 1].split(',').all(is_ident))
    });
    (reads_like_a_test(name) && path_like).then(|| {
        let modules = modules
            .iter()
            .copied()
            .filter(|m| is_ident(m))
            .collect::<Vec<_>>();
        (modules, *name)
    })
}

/// Whether a span's last `::` segment reads like a test's name: a sentence
/// in snake_case, not a metric's name.
fn reads_like_a_test(name: &str) -> bool {
    let sentence = is_ident(name) && name.matches('_').count() >= 3;
    let metric = name.starts_with("authd_")
        && [
            "_seconds", "_total", "_entries", "_in_use", "_bytes", "_depth",
        ]
        .iter()
        .any(|suffix| name.ends_with(suffix));
    sentence && !metric
}

/// Every `.rs` file of the trees that hold tests, with its module path
/// relative to its crate (`tests/api/verify.rs` is `verify`,
/// `src/token/proptests.rs` is `token::proptests`, `src/lib.rs` is empty).
fn rust_files() -> Vec<(Vec<String>, PathBuf)> {
    let mut roots = vec![root().join("tests/api"), root().join("src")];
    for parent in ["crates", "clients", "tools"] {
        if let Ok(entries) = std::fs::read_dir(root().join(parent)) {
            for entry in entries.flatten() {
                roots.push(entry.path().join("src"));
                roots.push(entry.path().join("tests"));
            }
        }
    }
    let mut out = Vec::new();
    for dir in roots {
        walk(&dir, &dir, &mut out);
    }
    assert!(out.len() > 100, "found only {} Rust files", out.len());
    out
}

fn walk(base: &Path, dir: &Path, out: &mut Vec<(Vec<String>, PathBuf)>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() {
            walk(base, &path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            let relative = path.strip_prefix(base).unwrap_or(&path).with_extension("");
            let mut module: Vec<String> = relative
                .components()
                .map(|c| c.as_os_str().to_string_lossy().into_owned())
                .collect();
            if module
                .last()
                .is_some_and(|m| ["mod", "lib", "main"].contains(&m.as_str()))
            {
                module.pop();
            }
            out.push((module, path));
        }
    }
}

/// Whether `fn name` is defined in a file of module `modules`: the file is
/// that module or an ancestor that holds it inline (`tests` modules), or a
/// file inside it (`cli::*::x` is `tests/api/cli.rs`; `store::*::x` is in
/// `tests/api/store/`). A bare name may be anywhere.
fn defined(files: &[(Vec<String>, PathBuf, String)], modules: &[&str], name: &str) -> bool {
    let needles = [format!("fn {name}("), format!("fn {name}<")];
    files.iter().any(|(module, _, text)| {
        let related = modules.is_empty()
            || (!module.is_empty() && module.iter().zip(modules).all(|(a, b)| a == b));
        related && needles.iter().any(|n| text.contains(n.as_str()))
    })
}

#[test]
fn every_test_docs_security_cites_is_defined_in_the_module_it_names() {
    let files: Vec<_> = rust_files()
        .into_iter()
        .map(|(module, path)| {
            let text = std::fs::read_to_string(&path).unwrap_or_default();
            (module, path, text)
        })
        .collect();
    let text = doc();
    let mut cited = 0;
    let mut missing = Vec::new();
    for (line, span) in spans(&text) {
        let Some((modules, name)) = cited_test(&span) else {
            // A test named in a form the check cannot resolve (a file
            // path, a type) would escape it: cite tests as module paths.
            let last = span.rsplit("::").next().unwrap_or_default();
            if span.contains("::") && reads_like_a_test(last) {
                missing.push(format!(
                    "{DOC}:{line}: `{span}`: cite a test as `module::*::name` or `module::name`"
                ));
            }
            continue;
        };
        cited += 1;
        if !defined(&files, &modules, name) {
            missing.push(format!("{DOC}:{line}: `{span}`"));
        }
    }
    assert!(
        missing.is_empty(),
        "tests cited in {DOC} that are not defined where it says:\n{}",
        missing.join("\n")
    );
    // The document cites well over a hundred tests; finding few means the
    // extraction broke, not that the document is right.
    assert!(cited > 150, "only {cited} test citations found in {DOC}");
}

#[test]
fn the_checker_tells_a_test_citation_from_other_names() {
    assert_eq!(
        cited_test("verify::*::alg_none_is_refused"),
        Some((vec!["verify"], "alg_none_is_refused"))
    );
    assert_eq!(
        cited_test("ext_authz::{sqlite,postgres}::every_token_attack_is_denied"),
        Some((vec!["ext_authz"], "every_token_attack_is_denied"))
    );
    assert_eq!(
        cited_test("a_block_never_exceeds_the_cap"),
        Some((vec![], "a_block_never_exceeds_the_cap"))
    );
    for other in [
        "authd_rpc_duration_seconds",
        "authd_hash_runs_total",
        "database_url_file",
        "--login-free-failures",
        "src/token/mod.rs",
        "token::bearer",
    ] {
        assert_eq!(cited_test(other), None, "{other}");
    }
    let files: Vec<_> = rust_files()
        .into_iter()
        .map(|(module, path)| {
            let text = std::fs::read_to_string(&path).unwrap_or_default();
            (module, path, text)
        })
        .collect();
    // This very test, under its own module and no other.
    let me = "the_checker_tells_a_test_citation_from_other_names";
    assert!(defined(&files, &["security_doc"], me));
    assert!(defined(&files, &[], me));
    assert!(!defined(&files, &["verify"], me));
    assert!(!defined(&files, &[], "no_such_test_exists_anywhere"));
}

/// Every long flag of `authd` and its subcommands, with its default.
fn flags() -> Vec<(String, Option<String>)> {
    fn collect(command: &clap::Command, out: &mut Vec<(String, Option<String>)>) {
        for arg in command.get_arguments() {
            if let Some(long) = arg.get_long() {
                let default = arg
                    .get_default_values()
                    .first()
                    .map(|v| v.to_string_lossy().into_owned());
                out.push((format!("--{long}"), default));
            }
        }
        for sub in command.get_subcommands() {
            collect(sub, out);
        }
    }
    let mut out = Vec::new();
    collect(&authd::cli::Cli::command(), &mut out);
    out
}

/// The `--flag` words of a span that shows authd's command line (a bare
/// flag, or an `authd ...` command); other tools' flags (`cargo`,
/// `authd-load`, libFuzzer's) are not authd's.
fn flags_in(span: &str) -> Vec<&str> {
    if !(span.starts_with("--") || span.starts_with("authd ")) {
        return Vec::new();
    }
    span.split(|c: char| c.is_whitespace() || c == '[' || c == ']' || c == '=')
        .filter(|w| w.starts_with("--") && w.len() > 2)
        .collect()
}

#[test]
fn every_flag_docs_security_names_is_authds_with_the_default_it_states() {
    let known = flags();
    let text = doc();
    let mut problems = Vec::new();
    let mut named = 0;
    for (line, span) in spans(&text) {
        for flag in flags_in(&span) {
            named += 1;
            if !known.iter().any(|(f, _)| f == flag) {
                problems.push(format!("{DOC}:{line}: `{flag}` is no flag of authd"));
            }
        }
    }
    // The settings tables: `| `--flag ...` | `AUTHD_...` | ... | default |`,
    // whose last cell starts with the default (backticked) or says there
    // is none ("off", "empty", ...).
    let mut rows = 0;
    for (number, line) in text.lines().enumerate() {
        let cells: Vec<&str> = line.split('|').map(str::trim).collect();
        if cells.len() < 4 || !cells[1].starts_with("`--") {
            continue;
        }
        rows += 1;
        let flag = cells[1]
            .trim_matches('`')
            .split([' ', '`'])
            .next()
            .unwrap_or_default();
        let stated = cells[cells.len() - 2];
        let stated = stated
            .strip_prefix('`')
            .and_then(|s| s.split_once('`'))
            .map(|(value, _)| value);
        let Some((_, default)) = known.iter().find(|(f, _)| f == flag) else {
            continue;
        };
        let real = default.as_deref().filter(|d| !d.is_empty());
        // A switch's default is `false` whether clap shows it or not.
        let real = real.or_else(|| (stated == Some("false")).then_some("false"));
        if stated != real {
            problems.push(format!(
                "{DOC}:{}: `{flag}` defaults to {real:?}, the table says {stated:?}",
                number + 1
            ));
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
    assert!(named > 40, "only {named} flags found in {DOC}");
    assert!(rows >= 10, "only {rows} settings-table rows found in {DOC}");
}

/// Every file of the repository (not `target/`, `.git/` or the fuzzer's
/// build), relative to its root with `/` separators.
fn repository_files() -> Vec<String> {
    fn walk(dir: &Path, out: &mut Vec<String>) {
        let Ok(entries) = std::fs::read_dir(dir) else {
            return;
        };
        for entry in entries.flatten() {
            let path = entry.path();
            let name = entry.file_name();
            if path.is_dir() {
                if ![".git", "target", "node_modules", ".venv"]
                    .iter()
                    .any(|skip| name == *skip)
                {
                    walk(&path, out);
                }
            } else if let Ok(relative) = path.strip_prefix(root()) {
                out.push(relative.to_string_lossy().replace('\\', "/"));
            }
        }
    }
    let mut out = Vec::new();
    walk(root(), &mut out);
    out
}

/// A span naming a file by its path or its name (`src/token/mod.rs`,
/// `rotation.rs`, `20261201000500_audit_log.sql`).
fn cited_file(span: &str) -> bool {
    let named = span
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || "_./-".contains(c));
    named
        && [".rs", ".sql", ".md", ".toml", ".py", ".yaml", ".yml"]
            .iter()
            .any(|ext| span.ends_with(ext))
}

#[test]
fn every_file_docs_security_names_exists() {
    let files = repository_files();
    let text = doc();
    let mut named = 0;
    let mut missing = Vec::new();
    for (line, span) in spans(&text) {
        if !cited_file(&span) {
            continue;
        }
        named += 1;
        let suffix = format!("/{span}");
        if !files.iter().any(|f| *f == span || f.ends_with(&suffix)) {
            missing.push(format!("{DOC}:{line}: `{span}`"));
        }
    }
    assert!(
        missing.is_empty(),
        "files named in {DOC} that do not exist:\n{}",
        missing.join("\n")
    );
    assert!(named > 20, "only {named} file names found in {DOC}");
}

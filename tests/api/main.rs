//! The integration suite: one binary, driving the real server over real
//! gRPC on a loopback port, against real SQLite and PostgreSQL databases.
//!
//! Tests written as `async fn name(backend: Backend)` run once per database
//! through [`on_both_backends!`]. PostgreSQL comes from
//! `AUTHD_TEST_DATABASE_URL` (default `postgres://postgres@127.0.0.1:5432/postgres`);
//! every test gets a fresh database, dropped afterwards. A missing
//! PostgreSQL fails the PostgreSQL tests with a message saying so: it is
//! never skipped.

// The whole crate is test code: panicking on a broken precondition is the point.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::missing_panics_doc)]

#[macro_use]
mod helpers;

mod admin_users;
mod audit;
mod audit_retention;
mod cache_bounds;
mod change_password;
mod cli;
mod connections;
mod deploy;
mod django_hashes;
mod django_import;
mod examples;
mod ext_authz;
mod faults;
mod floods;
mod forward_auth;
mod get_user;
mod grpc_web;
mod healthcheck;
mod http;
mod interop;
mod introspect;
mod key_store;
mod limits;
mod local_verifier;
mod log_capture;
mod login;
mod metrics;
mod oauth2;
mod openapi;
mod pg_cluster;
mod pg_tls;
mod proxies;
mod python_parity;
mod replicas;
mod revocations;
mod rotation;
mod rpc_spans;
mod security_doc;
mod seed;
mod service_accounts;
mod sessions;
mod store;
mod surface;
mod throttle;
mod tls;
mod token_attacks;
mod verify;

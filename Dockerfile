# authd as a container that runs and checks itself.
#
#   docker build -t authd .
#   docker run --rm -p 127.0.0.1:50051:50051 -p 127.0.0.1:8080:8080 authd
#
# Base images are pinned to a release (never `latest` or a bare major), so a
# rebuild gets the same toolchain and OS; bump them on purpose (a tool such
# as Renovate can). tests/api/deploy.rs fails on a floating tag. For
# byte-for-byte reproducible builds, add the digests (`image:tag@sha256:...`).
# The build stage is Debian 13 (trixie) and so is the runtime: the binary
# links against the glibc it was built with.

FROM rust:1.95.0-slim-trixie AS build
WORKDIR /src
ENV CARGO_PROFILE_RELEASE_STRIP=symbols

# 1. Dependencies only, as their own layer. Only the manifests, the lock file,
#    build.rs and the .proto files are copied, with stub sources in place of
#    src/, benches/ and the load tool (cargo needs a target per declared
#    package), so this layer is rebuilt only when a dependency or the proto
#    changes; an edit under src/ starts from the compiled dependencies
#    instead of rebuilding them for minutes. (cargo-chef does the same with a
#    recipe file; the stub layer needs no extra tool.) The stub's own
#    artefacts are removed at the end, so the real sources are always
#    rebuilt (their timestamps may be older than the stub's).
COPY Cargo.toml Cargo.lock build.rs ./
COPY tools/authd-load/Cargo.toml tools/authd-load/Cargo.toml
COPY proto proto
RUN mkdir -p src benches tools/authd-load/src \
    && echo 'fn main() {}' > src/main.rs \
    && echo '//! stub' > src/lib.rs \
    && echo 'fn main() {}' > benches/verify.rs \
    && echo 'fn main() {}' > tools/authd-load/src/main.rs \
    && cargo build --release --locked -p authd --bin authd \
    && rm -rf src benches target/release/.fingerprint/authd-* \
              target/release/deps/authd-* target/release/deps/libauthd-*

# 2. The service itself.
COPY src src
COPY migrations migrations
COPY benches benches
RUN cargo build --release --locked -p authd --bin authd

FROM debian:13.2-slim
# A fixed numeric user (not root), so Kubernetes' runAsNonRoot can check it.
RUN groupadd --system --gid 10001 authd \
    && useradd --system --uid 10001 --gid 10001 --home-dir /var/lib/authd --create-home authd
COPY --from=build /src/target/release/authd /usr/local/bin/authd
USER 10001:10001
# The SQLite default (sqlite://authd.db) lands here; mount a volume to keep it.
WORKDIR /var/lib/authd
# Inside a container the listener must accept connections from outside it.
# authd refuses plaintext on a non-loopback address unless told otherwise:
# this image assumes something in front of it encrypts the traffic (a mesh
# sidecar terminating mutual TLS, or a host-local port as in docker-compose.yml).
# To serve TLS itself, mount a certificate and key, set AUTHD_TLS_CERT and
# AUTHD_TLS_KEY, and drop AUTHD_ALLOW_PLAINTEXT (README, "Turning on TLS");
# then give the health check the CA: AUTHD_HEALTHCHECK_TLS_CA (and
# AUTHD_HEALTHCHECK_TLS_DOMAIN, the name in the certificate).
ENV AUTHD_LISTEN=0.0.0.0:50051 AUTHD_HTTP_LISTEN=0.0.0.0:8080 AUTHD_ALLOW_PLAINTEXT=true
EXPOSE 50051 8080
# `authd healthcheck` asks the gRPC health service on the loopback form of
# AUTHD_LISTEN (127.0.0.1:50051 here): exit 0 when SERVING, 1 otherwise
# (PostgreSQL unreachable, starting, draining), with the reason on stderr.
HEALTHCHECK --interval=10s --timeout=5s --start-period=30s --retries=3 \
    CMD ["authd", "healthcheck"]
ENTRYPOINT ["authd"]
CMD ["serve"]

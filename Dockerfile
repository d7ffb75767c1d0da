# Build: docker build -t authd .
FROM rust:1.95-bookworm AS build
WORKDIR /src
COPY . .
RUN cargo build --release --locked && strip target/release/authd

FROM debian:bookworm-slim
RUN useradd --system --home-dir /var/lib/authd --create-home authd
COPY --from=build /src/target/release/authd /usr/local/bin/authd
USER authd
# The SQLite default (sqlite://authd.db) lands here; mount a volume to keep it.
WORKDIR /var/lib/authd
# Inside a container the listener must accept connections from outside it.
# authd refuses plaintext on a non-loopback address unless told otherwise:
# this image assumes something in front of it encrypts the traffic (a mesh
# sidecar terminating mutual TLS, or a host-local port as in docker-compose.yml).
# To serve TLS itself, mount a certificate and key, set AUTHD_TLS_CERT and
# AUTHD_TLS_KEY, and drop AUTHD_ALLOW_PLAINTEXT (README, "Turning on TLS").
ENV AUTHD_LISTEN=0.0.0.0:50051 AUTHD_HTTP_LISTEN=0.0.0.0:8080 AUTHD_ALLOW_PLAINTEXT=true
EXPOSE 50051 8080
ENTRYPOINT ["authd"]
CMD ["serve"]

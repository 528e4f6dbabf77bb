# syntax=docker/dockerfile:1
# The Moneta image: the `moneta` binary (package moneta-cli) on Debian
# slim, run as a non-root user. One image for every Moneta service in
# docker-compose.yml; see docs/deployment.md.
#
#   docker build -t moneta:local .
#
# Checked by scripts/check-deploy.sh (stages, build command, entrypoint).

# --- build -----------------------------------------------------------------
FROM rust:1.95-bookworm AS builder
# rdkafka-sys compiles librdkafka from source (./configure, make, a C/C++
# toolchain, perl; cmake for its cmake-build feature), linking zlib and the
# system OpenSSL (its `ssl` feature: TLS and SASL/SCRAM), found by pkg-config.
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
        cmake perl make g++ zlib1g-dev libssl-dev pkg-config \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY . .
# The cargo registry is cached between builds; target/ stays in the layer so
# the runtime stage can copy the binary out of it.
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    --mount=type=cache,target=/usr/local/cargo/git \
    cargo build --release --locked -p moneta-cli

# --- runtime ---------------------------------------------------------------
FROM debian:bookworm-slim
# ca-certificates: TLS to partners' webhook endpoints and to brokers or
# registries behind TLS. zlib1g: librdkafka's compression; libssl3: its TLS
# and SASL/SCRAM (both linked shared).
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
        ca-certificates zlib1g libssl3 \
 && rm -rf /var/lib/apt/lists/* \
 && groupadd --system --gid 10001 moneta \
 && useradd --system --uid 10001 --gid moneta --home-dir /var/lib/moneta \
        --no-create-home --shell /usr/sbin/nologin moneta \
 && mkdir -p /var/lib/moneta /etc/moneta \
 && chown moneta:moneta /var/lib/moneta
COPY --from=builder /src/target/release/moneta /usr/local/bin/moneta
# moneta-replica: `moneta run <stage>... --instance N`, N distinct per
# container (scaled stages). moneta-healthcheck: HTTP probe without curl.
COPY --chmod=0755 deploy/bin/moneta-replica deploy/bin/moneta-healthcheck /usr/local/bin/
# Relative paths of the configuration (state.dir, …) resolve here.
WORKDIR /var/lib/moneta
USER 10001:10001
# 8080 ingest edge, 8081 admin API, 9100 Prometheus metrics.
EXPOSE 8080 8081 9100
ENTRYPOINT ["moneta"]
CMD ["--help"]

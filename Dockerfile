# hookd container image: a release build on Debian bookworm, run as an
# unprivileged user with its SQLite database in the /data volume.
#
#   docker build -t hookd .
#   docker run -p 8071:8071 -v hookd-data:/data -e HOOKD_ENCRYPTION_KEY=... hookd
#
# For PostgreSQL set HOOKD_DATABASE_URL=postgres://...; see docker-compose.yml.

FROM rust:1-bookworm AS build
WORKDIR /src
COPY . .
# The cache mounts keep the crates and the build between image builds; the
# binary is copied out because the target mount is not part of the layer.
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    --mount=type=cache,target=/src/target \
    cargo build --release --locked -p hookd \
    && cp target/release/hookd /usr/local/bin/hookd

FROM debian:bookworm-slim
# ca-certificates: deliveries to https:// endpoints verify against the
# system's roots.
RUN apt-get update \
    && apt-get install -y --no-install-recommends ca-certificates \
    && rm -rf /var/lib/apt/lists/* \
    && useradd --system --uid 10001 --user-group --home-dir /data --no-create-home hookd \
    && mkdir /data \
    && chown hookd:hookd /data
COPY --from=build /usr/local/bin/hookd /usr/local/bin/hookd
COPY LICENSE-MIT LICENSE-APACHE /usr/share/doc/hookd/

USER hookd
WORKDIR /data
VOLUME /data
# All interfaces inside the container (the default 127.0.0.1 is unreachable
# from outside it); the SQLite file in the volume.
ENV HOOKD_LISTEN=0.0.0.0:8071 \
    HOOKD_DATABASE_URL=sqlite:/data/hookd.db
EXPOSE 8071
# `hookd health` reads HOOKD_LISTEN and asks /api/v1/health on loopback:
# no curl in the image.
HEALTHCHECK --interval=15s --timeout=5s --start-period=20s --retries=3 \
    CMD ["hookd", "health", "--timeout", "4"]
# SIGTERM lets in-flight deliveries finish (shutdown_timeout_secs, 30 s):
# give `docker stop` at least that long (--time 40 / stop_grace_period).
STOPSIGNAL SIGTERM
ENTRYPOINT ["hookd"]
CMD ["serve"]

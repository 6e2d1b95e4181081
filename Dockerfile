# Container images of Roundhouse, on Debian 12. One file, one target per program:
#
#   docker build --target central   -t roundhouse-central .   # the central + the roundhouse CLI
#   docker build --target edge      -t roundhouse-edge .      # the controller daemon
#   docker build --target mosquitto -t roundhouse-mosquitto . # Debian's broker, for compose
#
# BASE_IMAGE is the Debian 12 image every stage starts from (tests/containers/run.sh builds one
# locally with debootstrap + docker import). The build stage has the compilers and -dev
# packages; the runtime stages only the shared libraries, a non-root user and the daemon,
# which runs as PID 1 (exec form) and stops its motors on SIGTERM. See docs/deploy.md.
ARG BASE_IMAGE=debian:bookworm-slim

FROM ${BASE_IMAGE} AS build
ARG JOBS=2
ENV DEBIAN_FRONTEND=noninteractive
RUN apt-get update \
 && apt-get install -y --no-install-recommends gcc libc6-dev make cmake pkg-config binutils \
      libmicrohttpd-dev libcurl4-openssl-dev libjansson-dev libmosquitto-dev libsqlite3-dev \
      libyaml-dev uuid-dev libssl-dev libsystemd-dev libhttp-parser-dev libavahi-client-dev \
      libsodium-dev \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY CMakeLists.txt ./
COPY cmake cmake
COPY fuzz fuzz
COPY src src
RUN cmake -S . -B /build -DCMAKE_BUILD_TYPE=Release -DROUNDHOUSE_TESTS=OFF \
      -DROUNDHOUSE_FLEET=OFF >/dev/null \
 && cmake --build /build -j"${JOBS}" --target roundhouse-central roundhouse-edge roundhouse \
 && strip /build/bin/roundhouse-central /build/bin/roundhouse-edge /build/bin/roundhouse

# What both runtime images share: the user the daemons run as and the health check.
FROM ${BASE_IMAGE} AS runtime
RUN groupadd --system --gid 10001 roundhouse \
 && useradd --system --uid 10001 --gid roundhouse --home-dir /nonexistent --no-create-home \
      --shell /usr/sbin/nologin roundhouse
COPY deploy/docker/roundhouse-healthcheck /usr/local/bin/roundhouse-healthcheck
STOPSIGNAL SIGTERM

FROM runtime AS edge
ENV DEBIAN_FRONTEND=noninteractive
RUN apt-get update \
 && apt-get install -y --no-install-recommends libjansson4 libmosquitto1 libuuid1 libssl3 \
      libyaml-0-2 libhttp-parser2.9 libavahi-client3 \
 && rm -rf /var/lib/apt/lists/* /var/cache/apt/*.bin /var/log/apt /var/log/dpkg.log
COPY --from=build /build/bin/roundhouse-edge /usr/local/bin/roundhouse-edge
RUN ! ldd /usr/local/bin/roundhouse-edge | grep 'not found' \
 && install -d -o roundhouse -g roundhouse -m 0700 /var/lib/roundhouse-edge
# HEALTH_LISTEN is read by the edge and by the health check: change it with the environment
# (not with --health-listen) so that both agree.
ENV STATE_DIR=/var/lib/roundhouse-edge HEALTH_LISTEN=127.0.0.1:8080
VOLUME ["/var/lib/roundhouse-edge"]
USER roundhouse
HEALTHCHECK --interval=10s --timeout=5s --start-period=20s --retries=3 \
  CMD ["/usr/local/bin/roundhouse-healthcheck", "edge"]
ENTRYPOINT ["/usr/local/bin/roundhouse-edge"]
# A changed ROUNDHOUSE_BUILD_ID gives a new image (the container tests rebuild with one).
ARG ROUNDHOUSE_BUILD_ID=dev
LABEL org.opencontainers.image.title="roundhouse-edge" \
      org.roundhouse.build-id="${ROUNDHOUSE_BUILD_ID}"

FROM runtime AS central
ENV DEBIAN_FRONTEND=noninteractive
RUN apt-get update \
 && apt-get install -y --no-install-recommends libmicrohttpd12 libjansson4 libmosquitto1 \
      libsqlite3-0 libyaml-0-2 libuuid1 libssl3 libsystemd0 libcurl4 libavahi-client3 \
      libsodium23 \
 && rm -rf /var/lib/apt/lists/* /var/cache/apt/*.bin /var/log/apt /var/log/dpkg.log
COPY --from=build /build/bin/roundhouse-central /build/bin/roundhouse /usr/local/bin/
RUN ! ldd /usr/local/bin/roundhouse-central /usr/local/bin/roundhouse | grep 'not found' \
 && install -d -o roundhouse -g roundhouse -m 0750 /var/lib/roundhouse
# As for the edge: set the listen address with ROUNDHOUSE_LISTEN, which the check reads too.
ENV ROUNDHOUSE_DB=/var/lib/roundhouse/roundhouse.db ROUNDHOUSE_LISTEN=0.0.0.0:8000
VOLUME ["/var/lib/roundhouse"]
USER roundhouse
HEALTHCHECK --interval=5s --timeout=4s --start-period=20s --retries=3 \
  CMD ["/usr/local/bin/roundhouse-healthcheck", "central"]
ENTRYPOINT ["/usr/local/bin/roundhouse-central"]
ARG ROUNDHOUSE_BUILD_ID=dev
LABEL org.opencontainers.image.title="roundhouse-central" \
      org.roundhouse.build-id="${ROUNDHOUSE_BUILD_ID}"

# Debian's mosquitto for the compose stack (no registry needed). MQTT_BIND and MQTT_PORT
# choose the listener; retained messages persist on the volume.
FROM ${BASE_IMAGE} AS mosquitto
ENV DEBIAN_FRONTEND=noninteractive
RUN printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d && chmod 755 /usr/sbin/policy-rc.d \
 && apt-get update \
 && apt-get install -y --no-install-recommends mosquitto \
 && rm -rf /var/lib/apt/lists/* /var/cache/apt/*.bin /var/log/apt /var/log/dpkg.log \
 && install -d -o mosquitto -g mosquitto -m 0750 /var/lib/mosquitto
COPY deploy/docker/roundhouse-healthcheck /usr/local/bin/roundhouse-healthcheck
COPY deploy/docker/mosquitto-run /usr/local/bin/mosquitto-run
ENV MQTT_BIND=0.0.0.0 MQTT_PORT=1883
VOLUME ["/var/lib/mosquitto"]
USER mosquitto
STOPSIGNAL SIGTERM
HEALTHCHECK --interval=5s --timeout=3s --start-period=5s --retries=5 \
  CMD ["/usr/local/bin/roundhouse-healthcheck", "mqtt"]
ENTRYPOINT ["/usr/local/bin/mosquitto-run"]

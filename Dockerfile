# The Swift gateway workers. Build: docker build -t llm-gateway-worker .   (compose.yaml does it)
#
# Stage 1 builds with the Swift toolchain, the Swift runtime linked statically
# (--static-swift-stdlib); stage 2 is debian:bookworm-slim with only the C libraries the
# binary links (ldd). Tests/e2e/test_deployment.py checks the runtime list against ldd.
ARG SWIFT_IMAGE=swift:6.2-bookworm

FROM ${SWIFT_IMAGE} AS build
RUN apt-get update \
    && apt-get install -y --no-install-recommends libfcgi-dev libhiredis-dev libssl-dev pkg-config \
    && rm -rf /var/lib/apt/lists/*
WORKDIR /src
# Everything the package manifest names: SwiftPM loads every target, also the tests' and the
# fuzzers' (Tests/e2e/test_images.py builds exactly this context).
COPY Package.swift ./
COPY Sources ./Sources
COPY Tests ./Tests
COPY Fuzz/Sources ./Fuzz/Sources
RUN swift build -c release --static-swift-stdlib --product gateway-worker \
    && install -D "$(swift build -c release --static-swift-stdlib --show-bin-path)/gateway-worker" /out/gateway-worker

FROM debian:bookworm-slim AS runtime
# Runtime libraries, one package per library `ldd gateway-worker` shows besides glibc:
# libfcgi.so.0 libhiredis.so.0.14 libcrypto.so.3 libstdc++.so.6 libgcc_s.so.1
# plus libfcgi-bin, whose cgi-fcgi the health check (worker-health) uses.
RUN apt-get update \
    && apt-get install -y --no-install-recommends libfcgi0ldbl libhiredis0.14 libssl3 libstdc++6 libgcc-s1 libfcgi-bin \
    && rm -rf /var/lib/apt/lists/*
RUN useradd --system --uid 10001 --user-group --no-create-home --shell /usr/sbin/nologin gateway \
    && install -d -o gateway -g gateway -m 0755 /run/llm-gateway
COPY --from=build /out/gateway-worker /usr/local/bin/gateway-worker
# secrets-env: exports compose's secret files (/run/secrets) as variables, then runs the worker.
COPY deploy/secrets-env.sh /usr/local/bin/secrets-env
COPY deploy/worker-health /usr/local/bin/worker-health
USER gateway
ENV WORKER_SOCKET=/run/llm-gateway/worker.sock \
    WORKER_PROCESSES=2
STOPSIGNAL SIGTERM
HEALTHCHECK --interval=10s --timeout=5s --retries=3 CMD ["/usr/local/bin/worker-health"]
ENTRYPOINT ["/bin/sh", "/usr/local/bin/secrets-env", "/usr/local/bin/gateway-worker"]

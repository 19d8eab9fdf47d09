# syntax=docker/dockerfile:1
# orderflow's image: one image for every command (`worker processor`, `worker dispatcher`, `indexer`,
# `setup`, `up`, …); the arguments after the image name are the orderflow command. See
# docs/container.md for building, running, signals and volumes.
#
# BASE_IMAGE: any Debian-based image with node (>= 22.15, see package.json "engines") and npm on the
# PATH, and groupadd/useradd. The default is the official Node LTS image, Debian suite pinned so that a new
# Debian release does not change the image underneath us. scripts/image-base.mjs builds an
# equivalent one from Debian packages and the npm registry's Node binary (how the tests build it).
ARG BASE_IMAGE=node:26-trixie-slim

# --- modules: every dependency, from the lockfile ------------------------------------------------
FROM ${BASE_IMAGE} AS modules
WORKDIR /src
COPY package.json package-lock.json ./
# --ignore-scripts: the root's `prepare` would build before the sources are here, and the
# dependencies' own install steps are not needed to compile (tsc is plain JavaScript).
# The optional `ca` secret is an extra CA bundle for a registry behind a TLS-inspecting proxy
# (`--secret id=ca,src=<bundle.pem>`); it is used for the download only and never stored in a layer.
RUN --mount=type=secret,id=ca \
    if [ -f /run/secrets/ca ]; then export NODE_EXTRA_CA_CERTS=/run/secrets/ca; fi \
 && npm ci --ignore-scripts --no-audit --no-fund

# --- build: TypeScript → dist/ (a source change reruns only this stage) -------------------------
FROM modules AS build
COPY tsconfig.json tsconfig.build.json ./
COPY scripts/copy-assets.mjs scripts/
COPY src src
RUN npm run build

# --- deps: production dependencies only --------------------------------------------------------
# The same tree with the dev dependencies pruned: the lockfile's packages without a second download.
# The dependencies' install steps skipped above are run now, for the two that have one:
# classic-level's picks its shipped N-API prebuild (no compiler needed), esbuild's (under tsx, for
# TypeScript handler modules) checks its platform binary. The probe fails the build if the native
# part does not load.
FROM modules AS deps
RUN npm prune --omit=dev --ignore-scripts --no-audit --no-fund \
 && npm rebuild classic-level esbuild \
 && node -e "const { ClassicLevel } = require('classic-level'); const db = new ClassicLevel('/tmp/probe-db'); db.open().then(() => db.close()).then(() => console.log('classic-level loads'))" \
 && rm -rf /tmp/probe-db

# --- runtime ---------------------------------------------------------------------------------------
FROM ${BASE_IMAGE}
# VERSION follows package.json's "version" (test/deploy/image.test.ts checks they agree); REVISION
# is the commit, given by whoever builds (`--build-arg REVISION=$(git rev-parse HEAD)`).
ARG VERSION=0.1.0
ARG REVISION=unknown
LABEL org.opencontainers.image.title="orderflow" \
      org.opencontainers.image.description="Order-processing pipeline on NATS JetStream: stage workers, indexer, dashboard" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.revision="${REVISION}" \
      org.opencontainers.image.licenses="MIT"

# tini (Debian's package) as PID 1, see docs/container.md: the kernel gives PID 1 no default signal
# actions and nobody else reaps orphans; tini forwards SIGTERM/SIGINT to orderflow, reaps zombies and
# exits with orderflow's exit code. A base that already has it (scripts/image-base.mjs's) skips apt.
RUN if ! command -v tini >/dev/null; then \
      apt-get update \
      && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends tini \
      && apt-get clean && rm -rf /var/lib/apt/lists/*; \
    fi \
 && groupadd --gid 10001 orderflow \
 && useradd --uid 10001 --gid orderflow --home-dir /app --no-create-home --no-log-init \
      --shell /usr/sbin/nologin orderflow \
 && mkdir -p /app/.orderflow \
 && chown orderflow:orderflow /app/.orderflow

WORKDIR /app
# NODE_OPTIONS: the flag src/main.ts's shebang gives (see there why); the entrypoint runs `node`
# directly, so the shebang is not read. ORDERFLOW_MANAGED_SERVER=never: the image has no nats-server
# (and `up` may not install one as a non-root user); NATS runs as a service of its own.
ENV NODE_ENV=production \
    NODE_OPTIONS=--max-semi-space-size=8 \
    ORDERFLOW_MANAGED_SERVER=never \
    ORDERFLOW_METRICS_PORT=9464 \
    ORDERFLOW_METRICS_HOST=0.0.0.0
COPY --from=deps /src/node_modules node_modules
COPY --from=build /src/dist dist
COPY package.json ./
COPY deploy deploy

# The one path written: the order index of `indexer` and `up --workers indexer`
# (/app/.orderflow/index), owned by orderflow; mount a volume on /app/.orderflow to keep it.
USER orderflow
# 8080: `up`'s dashboard (--port); 9464: /metrics, /healthz, /readyz (--metrics-port). The health
# check follows ORDERFLOW_METRICS_PORT, so a container run with another port stays healthy.
EXPOSE 8080 9464
HEALTHCHECK --interval=15s --timeout=3s --start-period=20s --retries=3 \
  CMD ["node", "-e", "fetch('http://127.0.0.1:' + (process.env.ORDERFLOW_METRICS_PORT || 9464) + '/healthz').then((r) => process.exit(r.ok ? 0 : 1), () => process.exit(1))"]
ENTRYPOINT ["tini", "--", "node", "/app/dist/main.js"]
CMD ["up"]

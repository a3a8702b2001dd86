# syntax=docker/dockerfile:1
# One image for the four services; the command picks the service:
#   docker run llm-router node services/classifier/dist/main.js   (selector, executor, ledger alike)
# The router CLI is in it too: `node packages/cli/dist/main.js submit "..."`.
# Configuration: /app/router.config.yaml (or ROUTER_CONFIG), NATS_URL, NATS_USER with
# NATS_PASSWORD or NATS_PASSWORD_FILE, NATS_INBOX_PREFIX, DATABASE_URL (ledger), METRICS_PORT,
# LOG_LEVEL, and the API-key variables the config's providers name (README › Configuration).

ARG NODE_IMAGE=node:20-bookworm-slim

# ---- manifests: what npm ci reads, shared by the two stages below ----------------------------
FROM ${NODE_IMAGE} AS manifests
WORKDIR /app
# The manifests first, so the dependency layer is reused until one of them changes. Every
# workspace's package.json must be here before `npm ci`, or npm cannot link the workspaces.
COPY package.json package-lock.json ./
COPY packages/shared/package.json packages/shared/
COPY packages/eval/package.json packages/eval/
COPY packages/cli/package.json packages/cli/
# The CLI's bin shim: npm links it at install time.
COPY packages/cli/bin packages/cli/bin
COPY services/classifier/package.json services/classifier/
COPY services/selector/package.json services/selector/
COPY services/executor/package.json services/executor/
COPY services/ledger/package.json services/ledger/

# ---- build: every dependency, the TypeScript build ------------------------------------------
FROM manifests AS build
RUN --mount=type=cache,target=/root/.npm npm ci --no-audit --no-fund
COPY tsconfig.json tsconfig.base.json ./
COPY packages packages
COPY services services
RUN npm run build

# ---- runtime: production dependencies, compiled output, the data files it reads -------------
FROM manifests AS runtime
ENV NODE_ENV=production
# No production dependency has an install script (esbuild & co. are build tools only).
RUN --mount=type=cache,target=/root/.npm npm ci --omit=dev --ignore-scripts --no-audit --no-fund
COPY --from=build /app/packages/shared/dist packages/shared/dist
COPY --from=build /app/packages/eval/dist packages/eval/dist
COPY --from=build /app/packages/cli/dist packages/cli/dist
COPY --from=build /app/services/classifier/dist services/classifier/dist
COPY --from=build /app/services/selector/dist services/selector/dist
COPY --from=build /app/services/executor/dist services/executor/dist
COPY --from=build /app/services/ledger/dist services/ledger/dist
# Read at run time next to dist/: the learned classifier's bundled weights
# (services/classifier/dist/strategies.js → ../weights/default.json) and the ledger's migrations
# (services/ledger/dist/db.js → ../drizzle).
COPY services/classifier/weights services/classifier/weights
COPY services/ledger/drizzle services/ledger/drizzle
# The default configuration (simulator models); compose mounts the repository's file over it.
COPY router.config.yaml ./
# Non-root. .data is where the ledger keeps embedded PGlite when DATABASE_URL is unset.
RUN mkdir -p /app/.data && chown node:node /app/.data
USER node
# /metrics /healthz /readyz: classifier 9101, selector 9102, executor 9103, ledger 9104 (METRICS_PORT).
EXPOSE 9101 9102 9103 9104
CMD ["node", "services/classifier/dist/main.js"]

# syntax=docker/dockerfile:1
# Slumber agent image: `docker build -t ghcr.io/slumber-dev/slumber:0.1.0 .`
# test/deploy/image.test.ts checks what can be checked without a container engine: the files copied here
# exist, and the runtime layout (package.json, dist/, production node_modules) runs `slumber --version`.

# --- build: full dependencies, compile TypeScript (dist/tsc/) and bundle it into dist/cli/main.js ---
FROM node:24-slim AS build
WORKDIR /src
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY tsconfig.json tsconfig.build.json rolldown.config.mjs ./
COPY src ./src
RUN npm run build

# --- runtime: production dependencies and the bundled agent (dist/cli/main.js) only ---
FROM node:24-slim AS runtime
ENV NODE_ENV=production
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --ignore-scripts --no-audit --no-fund && npm cache clean --force
COPY --from=build /src/dist/cli ./dist/cli
# Numeric, so Kubernetes can verify runAsNonRoot without resolving a name; matches the Deployment's runAsUser.
USER 10001:10001
EXPOSE 8080 8443
# A 1 MiB young generation and V8's optimize-for-size mode (GC keeps the heap near what is live instead of growing it
# during a burst of reads and keeping the pages): README, "Benchmark" (where the memory goes).
ENTRYPOINT ["node", "--max-semi-space-size=1", "--optimize-for-size", "/app/dist/cli/main.js", "run"]

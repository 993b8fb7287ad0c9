# The balancer's image: built with the dev dependencies, run with the production ones only.
#   docker build -t l7-balancer:0.1.0 .
#   docker run --rm -p 8080:8080 -e BACKENDS=http://10.0.0.1:3000,http://10.0.0.2:3000 l7-balancer:0.1.0
# Node.js 26 is the current LTS line; the version is pinned (bump it on purpose).
ARG NODE_VERSION=26.12.1

FROM node:${NODE_VERSION}-trixie-slim AS build
WORKDIR /app
COPY package.json package-lock.json ./
# --ignore-scripts: no lifecycle script of the package or its dependencies runs here.
RUN npm ci --ignore-scripts --no-audit --no-fund
COPY tsconfig.json ./
COPY src ./src
COPY demo ./demo
RUN npx tsc -p tsconfig.json

FROM node:${NODE_VERSION}-trixie-slim
ENV NODE_ENV=production
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --ignore-scripts --no-audit --no-fund && npm cache clean --force
COPY --from=build /app/dist/src ./dist/src
# The demo's backends, which compose.yaml runs from this image.
COPY --from=build /app/dist/demo ./dist/demo
COPY assets/dashboard ./assets/dashboard
# Traffic on the defaults, every interface, port 8080; the admin listener on 9901 (loopback inside
# the container, enough for HEALTHCHECK) from the default config file below. No HOST, PORT or
# ADMIN_PORT in the image's environment: the environment wins over a config file, so they would
# silently override the ports of a file given with --config (a Kubernetes ConfigMap, say).
COPY deploy/docker/lb.yaml ./lb.yaml
EXPOSE 8080 9901
# The image's own user, not root.
USER node
# node is PID 1: the balancer handles SIGTERM (drain within SHUTDOWN_TIMEOUT, then exit 0) and
# SIGINT itself, and reaps the workers it starts. Give `docker stop -t` more than SHUTDOWN_TIMEOUT.
# The HEALTHCHECK probes ADMIN_PORT when it is set, 9901 otherwise.
STOPSIGNAL SIGTERM
HEALTHCHECK --interval=10s --timeout=3s --start-period=10s --retries=3 \
  CMD ["node", "-e", "fetch('http://127.0.0.1:' + (process.env.ADMIN_PORT || 9901) + '/healthz').then((r) => process.exit(r.ok ? 0 : 1), () => process.exit(1))"]
ENTRYPOINT ["node", "dist/src/cli.js"]
# Arguments given to `docker run` (or a pod's `args`) replace these.
CMD ["--config", "lb.yaml"]

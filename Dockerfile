# syntax=docker/dockerfile:1
# podium operator image: compiled dist/ and production dependencies only, on a
# distroless Node 24 runtime that runs as non-root and needs no shell.

FROM node:24-bookworm-slim AS build
WORKDIR /src
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY tsconfig.json tsconfig.build.json ./
COPY src ./src
RUN npx tsc -p tsconfig.build.json --sourceMap false --declaration false && npm prune --omit=dev

FROM gcr.io/distroless/nodejs24-debian12:nonroot
ARG VERSION=dev
LABEL org.opencontainers.image.title="podium" \
      org.opencontainers.image.description="Kubernetes operator that gives any set of pods a leader" \
      org.opencontainers.image.licenses="Apache-2.0" \
      org.opencontainers.image.version="${VERSION}"
WORKDIR /app
# Owned by root and read-only to the user, as in the image `make image` builds (docs/image.md).
COPY --from=build /src/package.json ./package.json
COPY --from=build /src/node_modules ./node_modules
COPY --from=build /src/dist ./dist
USER 65532:65532
ENV NODE_ENV=production
EXPOSE 8080 8081
ENTRYPOINT ["/nodejs/bin/node", "/app/dist/main.js"]

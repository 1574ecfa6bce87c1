# One image for the API, the worker and the migrator (pick with the command). Built in two stages: the
# TypeScript is compiled once (`npm run build` → dist/), and the image runs plain JavaScript without dev
# dependencies (no compiler at run time: less memory per process, nothing written to disk at start).
FROM node:20-bookworm-slim AS build
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm install --no-audit --no-fund
COPY . .
RUN npm run build && npm prune --omit=dev --no-audit --no-fund

FROM node:20-bookworm-slim
WORKDIR /app
ENV NODE_ENV=production
# argon2 (password hashing) mallocs 19 MiB per hash; with glibc's sliding mmap threshold those blocks stay in
# the process after use (~80 MiB after a few logins). A fixed threshold returns them at once.
ENV MALLOC_MMAP_THRESHOLD_=131072
COPY --from=build /app/package.json ./
COPY --from=build /app/node_modules ./node_modules
COPY --from=build /app/dist ./dist
COPY --from=build /app/console ./console
COPY --from=build /app/platform/migrations ./platform/migrations
USER node
EXPOSE 3000
CMD ["node", "dist/api/main.js"]

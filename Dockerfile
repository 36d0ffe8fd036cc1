# siogo: the server with its demo page. The client bundles come from npm
# at build time, never from the repository.
FROM node:20-bookworm-slim AS bundles
WORKDIR /src/public
COPY public/package.json public/package-lock.json public/.npmrc ./
RUN npm ci --no-audit --no-fund

FROM golang:1.26-bookworm AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
RUN CGO_ENABLED=0 go build -trimpath -o /out/siogo ./cmd/siogo

FROM gcr.io/distroless/static-debian12:nonroot
WORKDIR /app
COPY --from=build /out/siogo /app/siogo
COPY --from=bundles /src/public/node_modules /app/public/node_modules
EXPOSE 3000
ENTRYPOINT ["/app/siogo"]

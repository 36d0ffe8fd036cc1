# siogo: one file, the embedded build (`make build`): the client bundles
# and the Admin UI come from npm at build time, never from the repository,
# and travel inside the binary.
FROM node:20-bookworm-slim AS bundles
WORKDIR /src/public
COPY public/package.json public/package-lock.json public/.npmrc ./
RUN npm ci --no-audit --no-fund

FROM golang:1.26-bookworm AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
COPY --from=bundles /src/public/node_modules /src/public/node_modules
RUN make embed-assets && CGO_ENABLED=0 go build -tags embed -trimpath -o /out/siogo ./cmd/siogo

FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/siogo /siogo
EXPOSE 3000
ENTRYPOINT ["/siogo"]

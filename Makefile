# The README's commands are the contract; these targets are what they run.
GO ?= go

.PHONY: run build page-deps embed-assets test deps check bench fuzz fuzz-long saturated reliability compare redis-chaos soak autobahn shared-long

# The server with its demo application, at http://localhost:3000/.
run:
	cd public && npm ci --no-audit --no-fund --loglevel=error
	$(GO) run ./cmd/siogo

# One file: ./siogo (OUT=path for another) carries the client bundles
# and the Admin UI (go:embed behind the build tag embed), copied from
# npm's packages into cmd/siogo/embedded (never committed); it serves the
# demo page, /socket.io/socket.io.js and /admin/ with no folder beside it.
OUT ?= siogo
EMBED_DIR := cmd/siogo/embedded
build: page-deps embed-assets
	$(GO) build -tags embed -o $(OUT) ./cmd/siogo

page-deps:
	cd public && npm ci --no-audit --no-fund --loglevel=error

# The files the embedded build carries, from public/node_modules.
embed-assets:
	rm -rf $(EMBED_DIR)
	mkdir -p $(EMBED_DIR)/socket.io-client/dist $(EMBED_DIR)/socket.io-client-v2/dist $(EMBED_DIR)/@socket.io/admin-ui/ui
	cp public/node_modules/socket.io-client/dist/socket.io.* $(EMBED_DIR)/socket.io-client/dist/
	cp public/node_modules/socket.io-client-v2/dist/socket.io.js $(EMBED_DIR)/socket.io-client-v2/dist/
	cp -R public/node_modules/@socket.io/admin-ui/ui/dist $(EMBED_DIR)/@socket.io/admin-ui/ui/
	find $(EMBED_DIR)/@socket.io -name '*.map' -delete

# Every test: formatting, vet, and the whole suite under the race detector,
# the official npm clients included (and each fuzz target's seed corpus).
# One package at a time (-p 1): the integration tests start real servers,
# Redis, nginx, Chromium and Node clients, and two packages of them at once
# on a 2-core machine starve each other's timers.
# The event loop's portable path (a goroutine per connection, what other
# systems run) passes the same tests on Linux too, and so do the HTTP
# server and the WebSocket on it.
test: deps check
	$(GO) test -race -count=1 -p 1 -timeout 12m ./...
	$(GO) test -race -count=1 -p 1 -tags netpoll_portable ./internal/netpoll ./internal/httploop ./internal/websocket

# The official JavaScript clients the tests drive and the page's bundles,
# from the lock files.
deps:
	cd test/node && npm ci --no-audit --no-fund --loglevel=error
	cd public && npm ci --no-audit --no-fund --loglevel=error

# The bench modules (their own, for their plotting library) are vetted and
# tested too: nothing else builds them before someone runs make compare.
# deploy/k8s is a module of its own too, for k8s.io/api (its test decodes
# the Kubernetes manifest).
BENCH_MODULES := bench/harness bench/compare bench/soak bench/loop deploy/k8s
check:
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt would change:"; echo "$$out"; exit 1; fi
	$(GO) vet ./...
	GOOS=darwin $(GO) vet ./internal/netpoll ./internal/httploop ./internal/websocket ./internal/polling ./transports/...
	GOOS=windows $(GO) vet ./internal/netpoll ./internal/httploop ./internal/websocket ./internal/polling ./transports/...
	for m in $(BENCH_MODULES); do (cd $$m && $(GO) vet ./... && $(GO) test -count=1 ./...) || exit 1; done

bench:
	$(GO) test -run '^$$' -bench . -benchmem ./...

# siogo and Node's socket.io side by side, every siobench scenario, three
# rounds, 10,000 clients; writes the table and the PNGs into bench/README.md.
# COMPARE_FLAGS="-scale quick" for a run of a few minutes.
COMPARE_FLAGS ?=
compare:
	cd test/node && npm ci --no-audit --no-fund --loglevel=error
	cd bench/compare && $(GO) run . -root ../.. $(COMPARE_FLAGS)

# The Autobahn testsuite's cases (internal/wsconform) at Autobahn's sizes
# and counts (messages of up to 16 MiB, 1000 per case of 9.7 to 13), with
# --max-payload raised to 20 MB, against the program's /ws and Socket.IO
# endpoints; make test runs every case sized down. The results go to
# test/output/autobahn-ws.json and autobahn-socketio.json.
autobahn: deps
	SIOGO_AUTOBAHN=full $(GO) test -count=1 -timeout 120m -run '^TestAutobahn' -v ./cmd/siogo

# A short run of each fuzz target (FUZZTIME=1m for longer).
FUZZTIME ?= 20s
fuzz:
	@for pkg in $$($(GO) list ./...); do \
	  for f in $$($(GO) test -list '^Fuzz' $$pkg | grep '^Fuzz'); do \
	    echo "== $$pkg $$f"; $(GO) test -run '^$$' -fuzz "^$$f$$" -fuzztime $(FUZZTIME) $$pkg || exit 1; \
	  done; \
	done

# Every fuzz target for ten minutes, one after the other (the run recorded
# in docs/reliability.md).
fuzz-long:
	$(MAKE) fuzz FUZZTIME=10m

# The official clients with every core busy, twenty rounds in a row, on
# net/http and on the event-loop HTTP server in turn (docs/reliability.md).
saturated: deps
	$(GO) test -race -count=20 -timeout 60m -run 'OfficialClients(EventLoop)?Saturated$$' ./transports

# The long reliability runs recorded in docs/reliability.md: a client that
# never reads beside 20 readers and 30 MB of broadcasts, 10,000
# connect/disconnect cycles with vanishing clients, a storm of 10,000
# clients dropped and reconnecting at once (without the race detector: its
# memory would distort the figures).
reliability: deps
	SIOGO_RELIABILITY=full $(GO) test -count=1 -v -timeout 30m -run 'TestSlowClient$$' ./transports
	SIOGO_RELIABILITY=full $(GO) test -count=1 -v -timeout 30m -run 'TestChurn$$|TestReconnectionStorm$$' ./server

# Shared sessions under load (issue 20), the long run: three nodes with
# --sessions shared behind nginx round-robin, 1,000 socket.io-client 4
# polling clients through it for a minute under acknowledged broadcasts;
# none may be lost or delivered twice. Then the same with node 3 SIGKILLed
# half-way: its clients come back on the others, and nothing is lost but
# what was sent while they were away. `make test` runs 60 clients for 8 s.
SHARED_CLIENTS ?= 1000
SHARED_SECONDS ?= 60
SHARED_INTERVAL_MS ?= 500
shared-long: deps
	SIOGO_SHARED_CLIENTS=$(SHARED_CLIENTS) SIOGO_SHARED_SECONDS=$(SHARED_SECONDS) SIOGO_SHARED_INTERVAL_MS=$(SHARED_INTERVAL_MS) \
	  $(GO) test -count=1 -timeout 20m -run '^TestSharedLoad$$' -v ./deploy
	SIOGO_SHARED_KILL=1 SIOGO_SHARED_CLIENTS=$(SHARED_CLIENTS) SIOGO_SHARED_SECONDS=$(SHARED_SECONDS) SIOGO_SHARED_INTERVAL_MS=$(SHARED_INTERVAL_MS) \
	  $(GO) test -count=1 -timeout 20m -run '^TestSharedLoad$$' -v ./deploy

# Redis lost under load (issue 10), the long run whose figures are in
# docs/reliability.md: three nodes on one Redis, 15 clients, a broadcast
# every 20ms; 20 cycles of Redis paused (SIGSTOP) 10s, then killed and
# restarted 3s later. `make test` runs 2 short cycles of the same test.
CHAOS_CYCLES ?= 20
CHAOS_PAUSE ?= 10s
CHAOS_DOWN ?= 3s
redis-chaos: deps
	SIOGO_CHAOS_CYCLES=$(CHAOS_CYCLES) SIOGO_CHAOS_PAUSE=$(CHAOS_PAUSE) SIOGO_CHAOS_DOWN=$(CHAOS_DOWN) \
	  SIOGO_CHAOS_REPORT=$(CURDIR)/redis-chaos.md \
	  $(GO) test -count=1 -timeout 30m -run '^TestRedisChaos$$' -v ./cmd/siogo
	@echo "results in redis-chaos.md"

# The soak (issue 10), the run recorded in docs/reliability.md: siogo as
# users run it (cmd/siogo with its demo) and 10,000 siobench clients for
# 30 minutes, with ticks, echoes with acks, broadcasts and churn (WebSocket,
# polling with upgrade, polling, clients that vanish). The server's RSS,
# goroutines and open files once a second go to docs/soak.csv, drawn in
# docs/soak.png; docs/soak-summary.md has the figures and the log's errors.
# SOAK_FLAGS="-n 2000 -duration 5m" for a short run.
SOAK_FLAGS ?=
soak: page-deps
	cd bench/soak && $(GO) run . -root ../.. $(SOAK_FLAGS)

# The README's commands are the contract; these targets are what they run.
GO ?= go

.PHONY: run test deps check bench fuzz compare

# The server with its demo application, at http://localhost:3000/.
run:
	cd public && npm ci --no-audit --no-fund --loglevel=error
	$(GO) run ./cmd/siogo

# Every test: formatting, vet, and the whole suite under the race detector,
# the official npm clients included (and each fuzz target's seed corpus).
# One package at a time (-p 1): the integration tests start real servers,
# Redis, nginx, Chromium and Node clients, and two packages of them at once
# on a 2-core machine starve each other's timers.
test: deps check
	$(GO) test -race -count=1 -p 1 -timeout 12m ./...

# The official JavaScript clients the tests drive and the page's bundles,
# from the lock files.
deps:
	cd test/node && npm ci --no-audit --no-fund --loglevel=error
	cd public && npm ci --no-audit --no-fund --loglevel=error

check:
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt would change:"; echo "$$out"; exit 1; fi
	$(GO) vet ./...

bench:
	$(GO) test -run '^$$' -bench . -benchmem ./...

# siogo and Node's socket.io side by side, every siobench scenario, three
# rounds, 10,000 clients; writes the table and the PNGs into bench/README.md.
# COMPARE_FLAGS="-scale quick" for a run of a few minutes.
COMPARE_FLAGS ?=
compare:
	cd test/node && npm ci --no-audit --no-fund --loglevel=error
	cd bench/compare && $(GO) run . -root ../.. $(COMPARE_FLAGS)

# A short run of each fuzz target (FUZZTIME=1m for longer).
FUZZTIME ?= 20s
fuzz:
	@for pkg in $$($(GO) list ./...); do \
	  for f in $$($(GO) test -list '^Fuzz' $$pkg | grep '^Fuzz'); do \
	    echo "== $$pkg $$f"; $(GO) test -run '^$$' -fuzz "^$$f$$" -fuzztime $(FUZZTIME) $$pkg || exit 1; \
	  done; \
	done

# Encours — the two commands a newcomer needs are `make run` and `make test`.
GO        ?= go
DATA      ?= ./data
LISTEN    ?= 127.0.0.1:8080
BIN       := bin
PKGS      := ./...
# Flags for `make test`; CI sets CI=true, which the crash and fault tests read for their
# short settings.
TESTFLAGS ?= -race -count=1 -timeout 20m

.PHONY: all build run test lint bench bench-micro bench-replay-10m fuzz fmt vet staticcheck deps-check clean

all: build

build:
	@mkdir -p $(BIN)
	$(GO) build -o $(BIN)/encoursd ./cmd/encoursd
	$(GO) build -o $(BIN)/encours ./cmd/encours

## run: build and start the daemon on an embedded store under $(DATA), printing its URL. On
## the first start (no $(DATA) yet) it imports the IBM sample and a demo portfolio.
run: build
	@./scripts/first-start $(DATA) $(BIN)
	./$(BIN)/encoursd --data $(DATA) --listen $(LISTEN) --admin-token-file $(DATA)/admin-token

## test: everything CI runs.
test: lint
	$(GO) test $(TESTFLAGS) $(PKGS)
	cd deploy/k8s && $(GO) vet ./... && $(GO) test -count=1 ./...

## lint: formatting, vet, staticcheck, and the dependency direction of the design (domain
## imports nothing of ours, ...).
STATICCHECK ?= honnef.co/go/tools/cmd/staticcheck@v0.8.2
lint: fmt vet staticcheck deps-check

staticcheck:
	$(GO) run $(STATICCHECK) ./...

fmt:
	@out=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go')); \
	if [ -n "$$out" ]; then echo "gofmt would change:"; echo "$$out"; exit 1; fi

vet:
	$(GO) vet $(PKGS)

deps-check:
	@./scripts/check-deps

## bench: Encours against PostgreSQL in one run (`encours bench`, package bench): starts a
## throwaway PostgreSQL with scripts/postgres (apt-get installs it if missing), prints the
## table with each target, writes bench/results.json and its plots, stops PostgreSQL.
## BENCHFLAGS=-quick for a run under a minute; see `go run ./cmd/encours bench -h`.
BENCHFLAGS ?=
## IMPORT_ROWS sizes the CSV import benchmark of `make bench-micro` (README, "Importing a
## ledger"): 10000000 for the 10M figure.
IMPORT_ROWS ?= 1000000
bench:
	@out=$$(./scripts/postgres up) || exit 1; echo "$$out"; eval "$$(echo "$$out" | grep '^export ')"; \
	$(GO) run ./cmd/encours bench -out bench $(BENCHFLAGS); rc=$$?; \
	./scripts/postgres down; exit $$rc

## bench-micro: the packages' own Go benchmarks, each reporting its own figures.
bench-micro:
	$(GO) test -run '^$$' -bench . -benchtime 2s -count 3 ./eventstore/... ./projections/...
	$(GO) test -run '^$$' -bench Import -benchtime 1x ./handlers/ingest/ -args -import.rows $(IMPORT_ROWS)

## fuzz: every fuzz target of the repository for FUZZTIME each (one `go test -fuzz` per
## target, as Go requires). New inputs that fail land in the package's testdata/fuzz.
FUZZTIME ?= 10s
## FUZZMINIMIZE bounds the minimization of each new input (go test -fuzzminimizetime): the
## default, 60s, can outlast a short FUZZTIME and fail the run with "context deadline exceeded".
FUZZMINIMIZE ?= 200x
FUZZ_TARGETS := \
	./domain:FuzzDecodeEvent \
	./domain:FuzzDecodeCanonical \
	./domain:FuzzParseDecimal \
	./domain:FuzzDecodeFast \
	./eventstore/embedded:FuzzRecordFraming \
	./eventstore/embedded:FuzzRecordDecode \
	./handlers/httpapi:FuzzWriteDecoders \
	./handlers/httpapi:FuzzDecodeFlat \
	./handlers/ingest:FuzzReader \
	./projections/ledger:FuzzSnapshot
## scripts/fuzz runs them and explains the one failure it does not count: Go 1.26's race at the
## -fuzztime deadline, which names and writes no input (the corpus then runs as a test instead).
fuzz:
	GO=$(GO) ./scripts/fuzz $(FUZZTIME) $(FUZZMINIMIZE) $(FUZZ_TARGETS)

## bench-replay-10m: replay and restart of a 10M-event store (~3.5 GB, generated once).
bench-replay-10m:
	$(GO) test -run '^$$' -bench 'Replay10M|Restart10M' -benchtime 1x -count 3 -timeout 2h ./projections/engine -replay.10m

clean:
	rm -rf $(BIN)

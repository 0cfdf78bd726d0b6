# Encours — the two commands a newcomer needs are `make run` and `make test`.
GO        ?= go
DATA      ?= ./data
LISTEN    ?= 127.0.0.1:8080
BIN       := bin
PKGS      := ./...
# Flags for `make test`; CI sets CI=true, which the crash and fault tests read for their
# short settings.
TESTFLAGS ?= -race -count=1 -timeout 20m

.PHONY: all build run test lint bench fmt vet staticcheck deps-check clean

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

## bench: the benchmarks, each reporting its own figures (see README, "Performance").
## IMPORT_ROWS sizes the CSV import benchmark (README, "Importing a ledger"): 10000000 for
## the 10M figure.
IMPORT_ROWS ?= 1000000
bench:
	$(GO) test -run '^$$' -bench . -benchtime 2s -count 3 ./eventstore/... ./projections/...
	$(GO) test -run '^$$' -bench Import -benchtime 1x ./handlers/ingest/ -args -import.rows $(IMPORT_ROWS)

clean:
	rm -rf $(BIN)

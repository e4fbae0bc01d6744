# make test: install missing peers, vet, race tests, full-rate SIPp load
# tests without the race detector, short fuzz runs.
GO ?= go
FUZZTIME ?= 10s

.PHONY: test peers services vet race load fuzz bench

test: peers vet race load fuzz

peers:
	bash scripts/peers.sh

# services starts Redis and PostgreSQL for the tests (URLs in .peers.env).
services: peers
	bash scripts/services.sh

vet:
	$(GO) vet ./...

race: services
	. ./.peers.env && $(GO) test -race -count=1 -timeout 30m ./...

# load runs the real-socket SIPp tests at their full rates (10,000 calls at
# 1000/s through the load balancer); under -race they run scaled down.
load: services
	. ./.peers.env && $(GO) test -count=1 -timeout 20m -run 'SIPp' ./examples/...

fuzz:
	FUZZTIME=$(FUZZTIME) bash scripts/fuzz.sh

bench:
	$(GO) test -run '^$$' -bench . -benchmem ./...

# make test: install missing peers, vet, race tests, short fuzz runs.
GO ?= go
FUZZTIME ?= 10s

.PHONY: test peers services vet race fuzz bench

test: peers vet race fuzz

peers:
	bash scripts/peers.sh

# services starts Redis and PostgreSQL for the tests (URLs in .peers.env).
services: peers
	bash scripts/services.sh

vet:
	$(GO) vet ./...

race: services
	. ./.peers.env && $(GO) test -race -count=1 -timeout 30m ./...

fuzz:
	FUZZTIME=$(FUZZTIME) bash scripts/fuzz.sh

bench:
	$(GO) test -run '^$$' -bench . -benchmem ./...

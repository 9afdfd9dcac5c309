# keyctl — see README.md.
GO ?= go
FUZZTIME ?= 4s

.PHONY: build test test-go fuzz fuzz-long demo bench peers man

# CGO_ENABLED=0: a static binary, as the README's install line builds it
# (it starts faster: docs/performance.md, Start-up).
build:
	CGO_ENABLED=0 $(GO) build -o bin/keyctl ./cmd/keyctl

# One man page per command into man/ (gitignored): man ./man/keyctl-verify.1
man:
	rm -rf man
	$(GO) run -tags genman ./cmd/keyctl gen-man man

peers:
	./scripts/peers.sh

# The whole test suite on a fresh machine: installs the peers (GnuPG, Sequoia,
# Chromium, Helm 3 and 4, the OCI registry), runs every Go test with missing peers as failures,
# then every fuzz target briefly.
test: peers
	KEYCTL_REQUIRE_PEERS=1 $(GO) test -tags genman -count=1 -timeout 30m ./...
	./scripts/fuzz.sh $(FUZZTIME)

fuzz:
	./scripts/fuzz.sh $(FUZZTIME)

# The long fuzz run (see docs/reliability.md).
fuzz-long:
	./scripts/fuzz.sh 10m

# The main job end to end on the embedded defaults.
demo: build
	./scripts/demo.sh

bench: peers build
	./scripts/bench.sh

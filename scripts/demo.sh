#!/usr/bin/env bash
# keyctl's main job end to end on the embedded defaults: a bbolt store under
# $XDG_DATA_HOME and a local directory as the bucket. Everything happens in
# a fresh temporary folder; nothing outside it is touched. Keys are made by
# GnuPG at run time. Run it with `make demo`.
set -euo pipefail
cd "$(dirname "$0")/.."
repo_root=$PWD

if ! command -v gpg >/dev/null 2>&1; then
	echo "demo: installing GnuPG from Debian's packages" >&2
	sudo=""; [ "$(id -u)" = 0 ] || sudo="sudo"
	$sudo apt-get update -qq && DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq gnupg >/dev/null
fi

work=$(mktemp -d /tmp/keyctl-demo.XXXXXX)
export XDG_DATA_HOME=$work/data XDG_CONFIG_HOME=$work/config XDG_STATE_HOME=$work/state
export GNUPGHOME=$work/gnupg KEYCTL_ACTOR="team-lead@example.org"
mkdir -m 700 "$GNUPGHOME"
trap 'gpgconf --homedir "$GNUPGHOME" --kill all >/dev/null 2>&1 || true' EXIT
CGO_ENABLED=0 go build -o "$work/bin/keyctl" ./cmd/keyctl
export PATH="$work/bin:$PATH"
cd "$work"

step() { printf '\n\033[1m== %s\033[0m\n' "$*"; }
show() { printf '$'; printf ' %q' "$@"; printf '\n'; }
run() { show "$@"; "$@"; }
expect_fail() { show "$@"; if "$@"; then echo "demo: expected a refusal" >&2; exit 1; else echo "(exit $? — refused, as it should be)"; fi; }
gpgq() { gpg --batch --yes --no-tty --pinentry-mode loopback --passphrase '' "$@" 2>/dev/null; }
fpr_of() { gpg --with-colons --list-keys "$1" 2>/dev/null | awk -F: '/^fpr/ {print $10; exit}'; }

step "1. The team lead makes the root key (on an offline machine in real life)"
run keyctl root create --name "charts.example.org root" --secret-out root.key --public-out root.pub --no-passphrase
ROOT=$(gpg --with-colons --show-keys root.pub 2>/dev/null | awk -F: '/^fpr/ {print $10; exit}')

step "2. ...creates the store (bbolt, under \$XDG_DATA_HOME) pinning that root"
run keyctl init --repository charts.example.org --root-key root.pub

step "3. Two maintainers make keys with GnuPG: alice (Ed25519 + signing subkey), bob (RSA-3072)"
gpgq --quick-gen-key "Alice Maintainer <alice@example.org>" ed25519 cert 2y
ALICE=$(fpr_of alice@example.org)
gpgq --quick-add-key "$ALICE" ed25519 sign 2y
gpgq --quick-gen-key "Bob Maintainer <bob@example.org>" rsa3072 sign 2y
BOB=$(fpr_of bob@example.org)
gpgq --armor --export "$ALICE" >alice.asc
gpgq --armor --export "$BOB" >bob.asc
gpgq --armor --export-secret-keys "$ALICE" >alice.sec
gpgq --armor --export-secret-keys "$BOB" >bob.sec
chmod 600 alice.sec bob.sec
echo "alice $ALICE"
echo "bob   $BOB"

step "4. The team lead adds them (the policy lints each key), and a weak key is refused"
run keyctl add alice.asc --reason "maintainer of demo-app" --scope 'demo-*' --ticket CHARTS-12
run keyctl add bob.asc --reason "release engineer" --ticket CHARTS-13
gpgq --quick-gen-key "Weak Key <weak@example.org>" rsa2048 sign 1y
gpgq --armor --export weak@example.org >weak.asc
expect_fail keyctl add weak.asc --reason "too small"
run keyctl list

step "5. Publish the governed keyring to a local directory (the chart repository's root)"
mkdir site
cp "$repo_root"/testdata/charts/demo-app-0.1.0.tgz "$repo_root"/testdata/charts/demo-app-0.2.0.tgz site/
run keyctl publish --to ./site --root-key root.key
run ls site site/keyctl

step "6. Maintainers sign releases: alice signs 0.1.0, bob signs 0.2.0 (Helm's .prov format)"
run keyctl sign site/demo-app-0.1.0.tgz --key alice.sec
run keyctl sign site/demo-app-0.2.0.tgz --key bob.sec
cat >site/index.yaml <<YAML
apiVersion: v1
entries:
  demo-app:
  - name: demo-app
    version: 0.2.0
    urls: [demo-app-0.2.0.tgz]
    digest: $(sha256sum site/demo-app-0.2.0.tgz | cut -d' ' -f1)
  - name: demo-app
    version: 0.1.0
    urls: [demo-app-0.1.0.tgz]
    digest: $(sha256sum site/demo-app-0.1.0.tgz | cut -d' ' -f1)
generated: "$(date -u +%Y-%m-%dT%H:%M:%SZ)"
YAML

step "7. A Helm user verifies a chart against the governed keyring, root pinned"
run keyctl verify site/demo-app-0.2.0.tgz --repo ./site --root "$ROOT"
helm="${KEYCTL_PEERS_DIR:-$HOME/.cache/keyctl-peers}/helm4/helm"
if [ -x "$helm" ]; then
	echo "stock Helm still works with the published keyring:"
	run "$helm" verify --keyring site/pubkeys.pgp site/demo-app-0.2.0.tgz
else
	echo "(Helm not built yet: make peers builds it; then helm verify --keyring site/pubkeys.pgp works too)"
fi

step "8. Bob's key is compromised: remove it, republish; verification now refuses his release"
run keyctl remove "$BOB" --reason compromised --ticket SEC-1
run keyctl publish --to ./site --root-key root.key
expect_fail keyctl verify site/demo-app-0.2.0.tgz --repo ./site --root "$ROOT"

step "9. The security responder audits the whole repository for what bob's key signed"
expect_fail keyctl audit --repo ./site --key "$BOB"
run keyctl log --verify

registry="${KEYCTL_PEERS_DIR:-$HOME/.cache/keyctl-peers}/registry/registry"
if [ -x "$registry" ] && [ -x "$helm" ]; then
	step "10. The same in an OCI registry (a local one, plain HTTP): publish, helm push, verify, audit"
	port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
	printf 'version: 0.1\nlog:\n  level: error\n  accesslog:\n    disabled: true\nstorage:\n  filesystem:\n    rootdirectory: %s\nhttp:\n  addr: 127.0.0.1:%s\n' "$work/registry" "$port" >registry.yml
	OTEL_TRACES_EXPORTER=none OTEL_METRICS_EXPORTER=none "$registry" serve registry.yml >registry.log 2>&1 &
	regpid=$!
	trap 'kill $regpid 2>/dev/null || true; gpgconf --homedir "$GNUPGHOME" --kill all >/dev/null 2>&1 || true' EXIT
	reg=127.0.0.1:$port
	for _ in $(seq 100); do curl -fsS "http://$reg/v2/" >/dev/null 2>&1 && break; sleep 0.1; done
	export XDG_CACHE_HOME=$work/cache
	run keyctl publish --to "oci://$reg/charts" --root-key root.key --plain-http
	run "$helm" push site/demo-app-0.1.0.tgz "oci://$reg/charts" --plain-http
	run "$helm" push site/demo-app-0.2.0.tgz "oci://$reg/charts" --plain-http
	run keyctl verify "oci://$reg/charts/demo-app:0.1.0" --root "$ROOT" --plain-http
	expect_fail keyctl verify "oci://$reg/charts/demo-app:0.2.0" --root "$ROOT" --plain-http
	expect_fail keyctl audit --repo "oci://$reg/charts" --key "$BOB" --plain-http
else
	echo "(make peers builds Helm and the OCI registry; then this demo also shows oci://)"
fi

step "11. The trust page that every publish writes: what the signed set says, for people"
run keyctl page --repo ./site --root "$ROOT" --out keys.html
grep -q 'data-reason="compromised"' site/keyctl/index.html || { echo "demo: the published trust page does not show bob's key as compromised" >&2; exit 1; }

printf '\nAll of it lives in %s (store: %s)\n' "$work" "$XDG_DATA_HOME/keyctl/keyctl.db"
printf 'The trust page it published: file://%s\n(open it in a browser; it is keyctl/index.html next to pubkeys.pgp)\n' "$work/site/keyctl/index.html"

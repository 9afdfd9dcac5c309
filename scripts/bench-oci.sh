#!/usr/bin/env bash
# Times `keyctl audit` of an OCI namespace on the real registry
# (docs/performance.md, "OCI registries"): benchgen's signed releases
# (~60 KB archives, 10 tags per chart) pushed with `helm push` to a
# distribution registry on 127.0.0.1, the published set with them; then
# the audit with and without --prov-only. Needs `make peers` (Helm 4, the
# registry, hyperfine).
#
#   BENCH_RELEASES=300 ./scripts/bench-oci.sh
set -euo pipefail
cd "$(dirname "$0")/.."
releases="${BENCH_RELEASES:-300}"
runs="${BENCH_RUNS:-5}"
peers="${KEYCTL_PEERS_DIR:-$HOME/.cache/keyctl-peers}"
helm4="$peers/helm4/helm"
registry="$peers/registry/registry"
for p in "$helm4" "$registry"; do [ -x "$p" ] || { echo "bench-oci: $p is missing; run make peers" >&2; exit 2; }; done
command -v hyperfine >/dev/null || { echo "bench-oci: hyperfine is missing; run make peers" >&2; exit 2; }

work=$(mktemp -d /tmp/keyctl-bench-oci.XXXXXX)
CGO_ENABLED=0 go build -o "$work/keyctl" ./cmd/keyctl
go build -o "$work/benchgen" ./scripts/benchgen
# Helm and keyctl get a fresh home (after the builds: Go's cache stays put).
export XDG_DATA_HOME=$work/data XDG_CONFIG_HOME=$work/config XDG_STATE_HOME=$work/state XDG_CACHE_HOME=$work/cache KEYCTL_ACTOR=bench
k="$work/keyctl"
cd "$work"

port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
cat >registry.yml <<YML
version: 0.1
log:
  level: error
  accesslog:
    disabled: true
storage:
  filesystem:
    rootdirectory: $work/registry
http:
  addr: 127.0.0.1:$port
YML
OTEL_TRACES_EXPORTER=none OTEL_METRICS_EXPORTER=none "$registry" serve registry.yml >registry.log 2>&1 &
regpid=$!
trap 'kill $regpid 2>/dev/null || true' EXIT
reg=127.0.0.1:$port
for _ in $(seq 100); do curl -fsS "http://$reg/v2/" >/dev/null 2>&1 && break; sleep 0.1; done

echo "bench-oci: making inputs in $work ($releases releases)" >&2
"$k" -o json root create --name bench --secret-out root.key --public-out root.pub --no-passphrase >root.json
ROOT=$(python3 -c 'import json; print(json.load(open("root.json"))["fingerprint"])')
"$k" --store store.db init --repository bench.example.org --root-key root.pub >/dev/null
./benchgen -out . -keys 20 -signers 10 -releases "$releases"
"$k" --store store.db publish --to "oci://$reg/charts" --root-key root.key --plain-http >/dev/null
echo "bench-oci: helm push of $releases charts" >&2
for c in repo/*.tgz; do "$helm4" push "$c" "oci://$reg/charts" --plain-http >/dev/null 2>&1; done

echo "bench-oci: timing (hyperfine, $runs runs each)" >&2
hyperfine -N --warmup 1 --runs "$runs" --export-json audit-oci.json \
	"$k --plain-http audit --repo oci://$reg/charts --root $ROOT --state $work/st" \
	"$k --plain-http audit --repo oci://$reg/charts --root $ROOT --state $work/st --prov-only" >/dev/null
python3 - "$releases" <<'PY'
import json, sys
n = int(sys.argv[1])
r = json.load(open("audit-oci.json"))["results"]
print("| keyctl audit of an OCI namespace | releases | median s | releases/s |")
print("|---|---|---|---|")
for name, x in (("full (manifest, .prov and chart layers)", r[0]), ("--prov-only (manifest and .prov layers)", r[1])):
    print("| %s | %d | %.3f | %.0f |" % (name, n, x["median"], n / x["median"]))
PY
echo "bench-oci: inputs and raw hyperfine JSON kept in $work" >&2

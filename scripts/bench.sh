#!/usr/bin/env bash
# Times whole keyctl commands side by side with the peers on the same
# inputs (docs/performance.md) and prints a table of medians and ratios. Inputs are made
# by scripts/benchgen in a fresh folder: a store with 1,000 maintainer keys,
# and a repository of 1,300 signed releases (~80 MB of archives) published
# with that store's governed keyring. Run it with `make bench` (after
# `make peers`, which builds Helm 3.22 and 4.3 and installs hyperfine).
#
#   BENCH_RELEASES=300 make bench   # a quicker, smaller run
set -euo pipefail
cd "$(dirname "$0")/.."
releases="${BENCH_RELEASES:-1300}"
keys="${BENCH_KEYS:-1000}"
runs="${BENCH_RUNS:-10}"
peers="${KEYCTL_PEERS_DIR:-$HOME/.cache/keyctl-peers}"
helm3="$peers/helm3/helm"
helm4="$peers/helm4/helm"
for p in "$helm3" "$helm4"; do [ -x "$p" ] || { echo "bench: $p is missing; run make peers" >&2; exit 2; }; done
command -v hyperfine >/dev/null || { echo "bench: hyperfine is missing; run make peers" >&2; exit 2; }

work=$(mktemp -d /tmp/keyctl-bench.XXXXXX)
export XDG_DATA_HOME=$work/data XDG_CONFIG_HOME=$work/config XDG_STATE_HOME=$work/state KEYCTL_ACTOR=bench
CGO_ENABLED=0 go build -o "$work/keyctl" ./cmd/keyctl
go build -o "$work/benchgen" ./scripts/benchgen
go build -o "$work/interleave" ./scripts/interleave
k="$work/keyctl"
cd "$work"

echo "bench: making inputs in $work ($keys keys, $releases releases)" >&2
"$k" -o json root create --name bench --secret-out root.key --public-out root.pub --no-passphrase >root.json
ROOT=$(python3 -c 'import json; print(json.load(open("root.json"))["fingerprint"])')
"$k" --store store.db init --repository bench.example.org --root-key root.pub >/dev/null
./benchgen -out . -keys "$keys" -releases "$releases"
"$k" --store store.db publish --to repo --root-key root.key >/dev/null
chart=repo/app-000-1.0.0.tgz

# A small repository too (2 keys, 5 releases): there start-up is most of
# what verify costs.
mkdir small
(cd small &&
	"$k" -o json root create --name small --secret-out root.key --public-out root.pub --no-passphrase >root.json &&
	"$k" --store store.db init --repository small.example.org --root-key root.pub >/dev/null &&
	../benchgen -out . -keys 2 -releases 5 -signers 2 &&
	"$k" --store store.db publish --to repo --root-key root.key >/dev/null)
SROOT=$(python3 -c 'import json; print(json.load(open("small/root.json"))["fingerprint"])')

median() { # json-file command-index
	python3 -c 'import json,sys; r=json.load(open(sys.argv[1]))["results"][int(sys.argv[2])]; print("%.4f" % r["median"])' "$1" "$2"
}
echo "bench: timing (verify: ${BENCH_VERIFY_RUNS:-30} interleaved rounds; the rest: hyperfine, $runs runs each unless noted)" >&2

# 1. verify one chart, whole process, manifest check included. keyctl and
# both Helms run round robin (scripts/interleave), not one after another:
# short processes on a virtual machine drift by 20 % from one minute to
# the next, and hyperfine's command-by-command runs turned that drift into
# a difference between keyctl and Helm of either sign.
vruns="${BENCH_VERIFY_RUNS:-30}"
./interleave -n "$vruns" -json verify.json \
	"keyctl=$k verify $chart --repo repo --root $ROOT --state $work/state-verify" \
	"helm3=$helm3 verify --keyring repo/pubkeys.pgp $chart" \
	"helm4=$helm4 verify --keyring repo/pubkeys.pgp $chart" >/dev/null
./interleave -n "$vruns" -json verify2.json \
	"keyctl=$k verify small/$chart --repo small/repo --root $SROOT --state $work/state-verify2" \
	"helm3=$helm3 verify --keyring small/repo/pubkeys.pgp small/$chart" \
	"helm4=$helm4 verify --keyring small/repo/pubkeys.pgp small/$chart" >/dev/null

# 2. audit the whole repository vs verifying each release with helm.
hyperfine -N --warmup 1 --runs 5 -i --export-json audit.json \
	"$k --store store.db audit --repo repo" >/dev/null
ls repo/*.tgz >charts.txt
cat >helm-all.sh <<SH
#!/usr/bin/env bash
while read -r c; do "$helm4" verify --keyring repo/pubkeys.pgp "\$c" >/dev/null; done <charts.txt
SH
chmod +x helm-all.sh
hyperfine -N --runs 1 --export-json helmall.json "./helm-all.sh" >/dev/null

# 2b. the same audit over HTTP (a Go http.FileServer, not the bottleneck)
# and through gs:// against an in-process GCS emulator, both from benchgen.
freeport() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
waitport() { for _ in $(seq 1 300); do (exec 3<>/dev/tcp/127.0.0.1/"$1") 2>/dev/null && return 0; sleep 0.1; done; echo "bench: nothing listens on $1" >&2; exit 2; }
hport=$(freeport); ./benchgen -out repo -serve "127.0.0.1:$hport" & hpid=$!
gport=$(freeport); ./benchgen -out repo -gcs "127.0.0.1:$gport" & gpid=$!
trap 'kill $hpid $gpid 2>/dev/null || true' EXIT
waitport "$hport"; waitport "$gport"
hyperfine -N --warmup 1 --runs 5 -i --export-json audithttp.json \
	"$k --store store.db audit --repo http://127.0.0.1:$hport/" >/dev/null
STORAGE_EMULATOR_HOST="127.0.0.1:$gport" hyperfine -N --warmup 1 --runs 5 -i --export-json auditgcs.json \
	"$k --store store.db audit --repo gs://bench" >/dev/null
kill $hpid $gpid 2>/dev/null || true

# 3. publish with 1,000 keys (a fresh copy of the store and bucket each run).
hyperfine -N --warmup 1 --runs "$runs" --export-json publish.json \
	--prepare "bash -c 'cp store.db p.db && rm -rf out'" \
	"$k --store p.db publish --to out --root-key root.key" >/dev/null

# 4. add one key with 1,000 keys stored.
hyperfine -N --warmup 1 --runs "$runs" --export-json add.json \
	--prepare "cp store.db a.db" \
	"$k --store a.db add extra.pgp --reason bench" >/dev/null

# The machine's limit for the audit case, measured now.
./benchgen -out . -limits >limits.txt
sha=$(awk '/^sha256_bytes_per_sec/ {print $2}' limits.txt)
ver=$(awk '/^prov_verifies_per_sec/ {print $2}' limits.txt)
bytes=$(awk '/^archive_bytes/ {print $2}' limits.txt)
cores=$(awk '/^cores/ {print $2}' limits.txt)

kv=$(median verify.json 0); h3=$(median verify.json 1); h4=$(median verify.json 2)
kv2=$(median verify2.json 0); h32=$(median verify2.json 1); h42=$(median verify2.json 2)
ka=$(median audit.json 0); ha=$(median helmall.json 0)
kah=$(median audithttp.json 0); kag=$(median auditgcs.json 0)
kp=$(median publish.json 0); kad=$(median add.json 0)
python3 - "$kv" "$h3" "$h4" "$ka" "$ha" "$kp" "$kad" "$sha" "$ver" "$bytes" "$cores" "$releases" "$keys" "$kah" "$kag" "$kv2" "$h32" "$h42" <<'PY'
import sys
kv,h3,h4,ka,ha,kp,kad,sha,ver,nbytes,cores,rel,keys,kah,kag,kv2,h32,h42=sys.argv[1:]
kv,h3,h4,ka,ha,kp,kad,sha,ver,kah,kag,kv2,h32,h42=map(float,(kv,h3,h4,ka,ha,kp,kad,sha,ver,kah,kag,kv2,h32,h42))
nbytes,cores,rel,keys=int(nbytes),int(cores),int(rel),int(keys)
limit=(nbytes/sha + rel/ver)/cores
rows=[
 ("keyctl verify, one chart (2 keys)", kv2, "helm3 verify --keyring", h32, "<= 0.2"),
 ("", kv2, "helm4 verify --keyring", h42, "<= 0.15"),
 ("keyctl verify, one chart (%d keys)"%keys, kv, "helm3 verify --keyring", h3, "<= 0.2"),
 ("", kv, "helm4 verify --keyring", h4, "< 0.2"),
 ("keyctl audit, %d releases"%rel, ka, "helm4 verify each release", ha, "< 1 s"),
 ("", ka, "machine limit (SHA-256 + 1 sig/release, %d cores)"%cores, limit, "<= 4"),
 ("keyctl audit over HTTP (Go FileServer)", kah, "keyctl audit from local disk", ka, "<= 2"),
 ("keyctl audit, gs:// (emulator)", kag, "keyctl audit from local disk", ka, "<= 2"),
 ("keyctl publish, %d keys"%keys, kp, "target", 1.0, "< 1 s"),
 ("keyctl add, %d keys stored"%keys, kad, "target", 0.05, "< 50 ms"),
]
print("| keyctl command | median s | compared with | median s | ratio | target |")
print("|---|---|---|---|---|---|")
for a,x,b,y,t in rows:
    print("| %s | %.3f | %s | %.3f | %.3f | %s |" % (a,x,b,y,x/y,t))
print()
print("audit releases/s: local %.0f, HTTP %.0f, gs:// emulator %.0f" % (rel/ka, rel/kah, rel/kag))
print("machine limit inputs: SHA-256 %.0f MB/s, %.0f .prov verifications/s (one core each), %d bytes of archives" % (sha/1e6, ver, nbytes))
PY
echo "bench: inputs and raw hyperfine JSON kept in $work" >&2

#!/usr/bin/env bash
# Installs the real programs keyctl's tests talk to, on a fresh Debian
# machine: GnuPG (gpg, gpgv, gpgconf), Sequoia (sq) and Chromium (the
# headless browser of the trust page tests) from Debian's packages,
# hyperfine for make bench, bash-completion for the completion test, Helm
# 3.22 and 4.3 and the OCI registry (distribution v3.1.2) built with
# `go install` into a cache folder ($KEYCTL_PEERS_DIR, default
# ~/.cache/keyctl-peers) that later runs reuse, and Helm's module source
# (its KEYS files). The GCS and S3 emulators (fake-gcs-server, gofakes3)
# are Go modules the tests start in-process; `go test` fetches them with the
# other modules.
set -euo pipefail

need=()
command -v gpg >/dev/null 2>&1 || need+=(gnupg)
command -v gpgv >/dev/null 2>&1 || need+=(gpgv)
command -v gpgconf >/dev/null 2>&1 || need+=(gnupg)
command -v sq >/dev/null 2>&1 || need+=(sq)
command -v chromium >/dev/null 2>&1 || need+=(chromium)
command -v hyperfine >/dev/null 2>&1 || need+=(hyperfine)
[ -f /usr/share/bash-completion/bash_completion ] || need+=(bash-completion)
if ((${#need[@]})); then
	sudo=""
	[ "$(id -u)" = 0 ] || sudo="sudo"
	echo "peers: installing ${need[*]} from Debian's packages" >&2
	$sudo apt-get update -qq
	DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${need[@]}" >/dev/null
fi

dir="${KEYCTL_PEERS_DIR:-$HOME/.cache/keyctl-peers}"
build_helm() { # major version
	local major=$1 version=$2 bin="$dir/helm$1/helm" stamp="$dir/helm$1/.module-version"
	# `go install` builds carry no full version string (helm version says
	# "v3.22"), so a stamp file records which module version was built.
	if [ -x "$bin" ] && [ "$(cat "$stamp" 2>/dev/null)" = "$version" ]; then
		return
	fi
	echo "peers: building Helm $version into $dir/helm$major (once; reused afterwards)" >&2
	mkdir -p "$dir/helm$major"
	GOBIN="$dir/helm$major" GOFLAGS=-buildvcs=false go install "helm.sh/helm/v$major/cmd/helm@$version"
	echo "$version" >"$stamp"
}
build_helm 3 v3.22.0
build_helm 4 v4.3.1
# The OCI registry the oci:// tests start on 127.0.0.1 (distribution).
registry_version=v3.1.2
if [ ! -x "$dir/registry/registry" ] || [ "$(cat "$dir/registry/.module-version" 2>/dev/null)" != "$registry_version" ]; then
	echo "peers: building the OCI registry (distribution $registry_version) into $dir/registry (once)" >&2
	mkdir -p "$dir/registry"
	GOBIN="$dir/registry" GOFLAGS=-buildvcs=false go install "github.com/distribution/distribution/v3/cmd/registry@$registry_version"
	echo "$registry_version" >"$dir/registry/.module-version"
fi
# The policy tests read Helm's KEYS files from the module source; make sure
# it is in the module cache even when the binaries above were cached.
(cd "$(mktemp -d)" && GOFLAGS=-mod=mod go mod download helm.sh/helm/v3@v3.22.0 helm.sh/helm/v4@v4.3.1)
echo "peers: gpg $(gpg --version | head -1 | awk '{print $3}'), sq $(sq --version | awk '{print $2}'), chromium $(chromium --version 2>/dev/null | awk '{print $2}'), helm $("$dir/helm3/helm" version --template '{{.Version}}') and $("$dir/helm4/helm" version --template '{{.Version}}'), registry $registry_version" >&2

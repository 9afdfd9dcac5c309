#!/usr/bin/env bash
# Runs every Go fuzz target in the module for the given time each
# (default 4s): `./scripts/fuzz.sh 10m` is the long run.
set -euo pipefail
cd "$(dirname "$0")/.."
fuzztime="${1:-4s}"
count=0
while IFS= read -r file; do
	pkg="./$(dirname "${file#./}")"
	for target in $(grep -oE '^func (Fuzz[A-Za-z0-9_]+)\(' "$file" | sed -E 's/^func (Fuzz[A-Za-z0-9_]+)\(/\1/'); do
		echo "fuzz: $pkg $target for $fuzztime" >&2
		if ! out=$(go test -run='^$' -fuzz="^${target}\$" -fuzztime="$fuzztime" "$pkg" 2>&1); then
			printf '%s\n' "$out" >&2
			# A failing input is saved under testdata/fuzz and fails every
			# later run, so a second try only passes when the fuzzer itself
			# failed without an input to blame: Go's fuzzer sometimes ends a
			# short run with "context deadline exceeded" when the time runs
			# out while it minimises a new input.
			if git status --porcelain -- "$pkg/testdata/fuzz/$target" 2>/dev/null | grep -q . ||
				! go test -run='^$' -fuzz="^${target}\$" -fuzztime="$fuzztime" "$pkg" >&2; then
				echo "fuzz: $pkg $target failed; a failing input is saved under $pkg/testdata/fuzz/$target" >&2
				exit 1
			fi
			echo "fuzz: $pkg $target passed on a second try; the first failure above named no input" >&2
		fi
		count=$((count + 1))
	done
done < <(grep -rlE '^func Fuzz' --include='*_test.go' . | sort)
if [ "$count" -eq 0 ]; then
	echo "fuzz: no fuzz targets found" >&2
	exit 1
fi
echo "fuzz: $count targets ran for $fuzztime each without a failure" >&2

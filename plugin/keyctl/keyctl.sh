#!/bin/sh
# Helm plugin wrapper: runs keyctl with the arguments Helm passes on.
# keyctl is looked up as $KEYCTL_BIN, then next to this script, then on PATH
# (where it must be this keyctl, not keyutils' program of the same name).
set -e
bin="${KEYCTL_BIN:-}"
if [ -z "$bin" ] && [ -x "$HELM_PLUGIN_DIR/bin/keyctl" ]; then
	bin="$HELM_PLUGIN_DIR/bin/keyctl"
fi
if [ -z "$bin" ]; then
	bin=$(command -v keyctl 2>/dev/null || true)
	# Debian and Ubuntu's keyutils installs another program called keyctl
	# (the kernel key-retention tool): refuse it rather than pass it our
	# arguments.
	if [ -n "$bin" ] && ! "$bin" --version 2>/dev/null | grep -q 'module: github.com/keyctl/keyctl'; then
		echo "keyctl: error: $bin is not keyctl for Helm charts (keyutils installs a kernel key tool of the same name)" >&2
		echo "keyctl: hint: set KEYCTL_BIN=\$(go env GOPATH)/bin/keyctl, or put \$(go env GOPATH)/bin first on PATH" >&2
		exit 2
	fi
fi
if [ -z "$bin" ]; then
	echo "keyctl: error: the keyctl program is not installed" >&2
	echo "keyctl: hint: put keyctl on PATH, in \$HELM_PLUGIN_DIR/bin, or set KEYCTL_BIN" >&2
	exit 2
fi
exec "$bin" "$@"

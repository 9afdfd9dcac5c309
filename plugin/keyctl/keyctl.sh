#!/bin/sh
# Helm plugin wrapper: runs keyctl with the arguments Helm passes on.
# keyctl is looked up as $KEYCTL_BIN, then next to this script, then on PATH.
set -e
bin="${KEYCTL_BIN:-}"
if [ -z "$bin" ] && [ -x "$HELM_PLUGIN_DIR/bin/keyctl" ]; then
	bin="$HELM_PLUGIN_DIR/bin/keyctl"
fi
if [ -z "$bin" ]; then
	bin=$(command -v keyctl 2>/dev/null || true)
fi
if [ -z "$bin" ]; then
	echo "keyctl: error: the keyctl program is not installed" >&2
	echo "keyctl: hint: put keyctl on PATH, in \$HELM_PLUGIN_DIR/bin, or set KEYCTL_BIN" >&2
	exit 2
fi
exec "$bin" "$@"

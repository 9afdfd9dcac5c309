package client

import (
	"errors"
	"os"

	"github.com/keyctl/keyctl/internal/fail"
)

// writeAtomic replaces path (in folder dir) with data, mode 0600: a
// temporary file in the same folder, synced, then renamed over path and the
// folder synced, so a reader sees the old file or the new one, never part.
// The client state, the signed index record, the monitor's state and a
// witness's last checkpoint are all written this way.
func writeAtomic(dir, path string, data []byte) error {
	tmp, err := os.CreateTemp(dir, ".keyctl-*.tmp")
	if err != nil {
		return fail.Inputf("cannot write in %s", dir).Wrap(errors.Unwrap(err))
	}
	defer os.Remove(tmp.Name())
	werr := func(err error) error {
		tmp.Close()
		return fail.Inputf("cannot write %s", path).Wrap(err)
	}
	if err := tmp.Chmod(0o600); err != nil {
		return werr(err)
	}
	if _, err := tmp.Write(data); err != nil {
		return werr(err)
	}
	if err := tmp.Sync(); err != nil {
		return werr(err)
	}
	if err := tmp.Close(); err != nil {
		return werr(err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return fail.Inputf("cannot write %s", path).Wrap(errors.Unwrap(err))
	}
	if d, err := os.Open(dir); err == nil {
		d.Sync()
		d.Close()
	}
	return nil
}

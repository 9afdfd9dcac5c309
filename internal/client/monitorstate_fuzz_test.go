package client

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/keyctl/keyctl/internal/tlog"
)

// FuzzReadMonitorState: the monitor's state file is read back on every
// run (format, checkpoint, where the walk stopped, the revocations seen).
// Whatever the file holds, reading it must not panic, and what it accepts
// must be usable: a checkpoint that parses, a next entry inside it.
func FuzzReadMonitorState(f *testing.F) {
	f.Add([]byte(`{"format":"keyctl-monitor-state/1","checkpoint":"o\n1\nAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\n","last_version":1,"last_sha256":"` + "aa" + `"}`))
	f.Add([]byte(`{"format":"keyctl-monitor-state/1","next":-1,"revocations":{"X":["y"]}}`))
	f.Add([]byte(`{}`))
	dir := f.TempDir()
	path := filepath.Join(dir, "state.json")
	f.Fuzz(func(t *testing.T, data []byte) {
		if err := os.WriteFile(path, data, 0o600); err != nil {
			t.Fatal(err)
		}
		s, err := readMonitorState(path)
		if err != nil || s == nil {
			return
		}
		c, err := tlog.ParseCheckpoint([]byte(s.Checkpoint))
		if err != nil {
			t.Fatalf("accepted a state whose checkpoint does not parse: %v", err)
		}
		if s.Next < 0 || s.Next > c.N {
			t.Fatalf("accepted next entry %d outside a checkpoint of %d", s.Next, c.N)
		}
	})
}

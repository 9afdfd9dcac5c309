package client

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestReadFileSizes(t *testing.T) {
	dir := t.TempDir()
	for _, n := range []int{0, 1, 511, 4096, 65537} {
		p := filepath.Join(dir, "f")
		want := bytes.Repeat([]byte{'x'}, n)
		if err := os.WriteFile(p, want, 0o600); err != nil {
			t.Fatal(err)
		}
		got, err := ReadFile(p, nil, 1<<20)
		if err != nil || !bytes.Equal(got, want) {
			t.Fatalf("%d bytes: got %d bytes, %v", n, len(got), err)
		}
		if n > 0 {
			if _, err := ReadFile(p, nil, int64(n-1)); err == nil || !strings.Contains(err.Error(), "limit") {
				t.Fatalf("%d bytes under a %d-byte limit: %v", n, n-1, err)
			}
			if got, err := ReadFile(p, nil, int64(n)); err != nil || len(got) != n {
				t.Fatalf("%d bytes under an equal limit: %d, %v", n, len(got), err)
			}
		}
	}
}

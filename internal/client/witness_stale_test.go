package client

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/keyctl/keyctl/internal/fail"
	"github.com/keyctl/keyctl/internal/publish"
	"github.com/keyctl/keyctl/internal/tlog"
	sumtlog "golang.org/x/mod/sumdb/tlog"
)

// witnessOldCheckpoint serves a bucket with another checkpoint in place of
// the published one: a stale cache, or a host replaying what the log key
// signed before.
type witnessOldCheckpoint struct {
	b          *publish.Bucket
	checkpoint []byte
}

func (v *witnessOldCheckpoint) Get(ctx context.Context, name string, limit int64) ([]byte, error) {
	if name == tlog.CheckpointPath {
		return v.checkpoint, nil
	}
	return v.b.Get(ctx, name, limit)
}
func (v *witnessOldCheckpoint) Exists(ctx context.Context, name string) (bool, error) {
	return v.b.Exists(ctx, name)
}
func (v *witnessOldCheckpoint) Publish(ctx context.Context, p publish.Plan) error {
	return v.b.Publish(ctx, p)
}
func (v *witnessOldCheckpoint) Location() string { return v.b.Location() }
func (v *witnessOldCheckpoint) Close() error     { return nil }

func evidenceIn(t *testing.T, dir string) []string {
	t.Helper()
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, e := range ents {
		if strings.HasPrefix(e.Name(), "evidence-") {
			out = append(out, e.Name())
		}
	}
	return out
}

// A witness that cosigned size 2 and is then served the checkpoint of size
// 1 the log key signed before (which size 2 extends: a stale copy any host
// or cache can serve) refuses to cosign it as stale, an untrusted read to
// retry, not the security error of a fork, and saves no evidence; its
// state keeps size 2. A smaller checkpoint that no append-only history
// joins to size 2 stays a fork.
func TestWitnessStaleCheckpointIsNotAFork(t *testing.T) {
	ctx := context.Background()
	f, _, l := rt7LoggedFixture(t)
	f.add(newMaintainer(t, "alice"))
	rt7PublishLogged(t, f, l, t0)
	old := mustGet(t, f.b, tlog.CheckpointPath)
	f.add(newMaintainer(t, "bob"))
	rt7PublishLogged(t, f, l, t0.Add(time.Hour))
	wkey, _, err := tlog.GenerateWitnessKey("witness.example.com")
	if err != nil {
		t.Fatal(err)
	}
	now := func() time.Time { return t0.Add(2 * time.Hour) }
	state := t.TempDir()
	res, err := Witness(ctx, WitnessOptions{Bucket: f.b, Log: l.vkey, Key: wkey, StateDir: state, Now: now})
	if err != nil || res.Size != 2 {
		t.Fatalf("setup: the witness run on size 2: %+v %v", res, err)
	}
	path := witnessStatePath(state, canonicalVKey(l.vkey))
	cosigned, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}

	witness := func(checkpoint []byte) (*WitnessResult, error) {
		return Witness(ctx, WitnessOptions{Bucket: publish.OpenRemote(&witnessOldCheckpoint{b: f.b, checkpoint: checkpoint}), Log: l.vkey, Key: wkey, StateDir: state, Now: now})
	}

	t.Run("stale", func(t *testing.T) {
		res, err := witness(old)
		if err == nil {
			t.Fatalf("the witness cosigned size %d after cosigning size 2", res.Size)
		}
		var ie *tlog.InconsistentError
		if errors.As(err, &ie) || fail.KindOf(err) != fail.Untrusted {
			t.Fatalf("a stale checkpoint (size 1, a prefix of the size 2 cosigned) is reported as %v (kind %v), want an untrusted stale read", err, fail.KindOf(err))
		}
		if !strings.Contains(err.Error(), "stale checkpoint") || !strings.Contains(strings.Join(fail.HintsOf(err), " "), "retry") {
			t.Fatalf("the error does not say the checkpoint is stale with a retry hint: %v %q", err, fail.HintsOf(err))
		}
		if res != nil && (res.Evidence != "" || res.Cosigned != nil) {
			t.Fatalf("stale checkpoint: evidence %q, cosigned %q", res.Evidence, res.Cosigned)
		}
		if ev := evidenceIn(t, state); len(ev) != 0 {
			t.Fatalf("evidence saved for a stale checkpoint: %v", ev)
		}
		if got, err := os.ReadFile(path); err != nil || !bytes.Equal(got, cosigned) {
			t.Fatalf("the witness state changed: %q %v", got, err)
		}
	})

	t.Run("fork", func(t *testing.T) {
		// Size 1 with another root hash: signed by the log key, joined
		// to size 2 by no consistency proof.
		forked, err := tlog.SignCheckpoint(sumtlog.Tree{N: 1, Hash: sumtlog.Hash{1}}, l.s)
		if err != nil {
			t.Fatal(err)
		}
		_, err = witness(forked)
		var ie *tlog.InconsistentError
		if !errors.As(err, &ie) || fail.KindOf(err) != fail.Security {
			t.Fatalf("a smaller checkpoint no append-only history joins to the one cosigned: %v (kind %v), want the security error of a fork", err, fail.KindOf(err))
		}
		if ev := evidenceIn(t, state); len(ev) != 1 {
			t.Fatalf("evidence of the fork: %v", ev)
		} else if _, err := os.Stat(filepath.Join(state, ev[0])); err != nil {
			t.Fatal(err)
		}
	})
}

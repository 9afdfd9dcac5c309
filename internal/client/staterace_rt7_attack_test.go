package client

import (
	"context"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/keyctl/keyctl/internal/publish"
	"github.com/keyctl/keyctl/internal/tlog"
)

// rt7View serves a bucket under a fixed location name (one repository as
// a host shows it to one reader) and runs hook once before name is read.
type rt7View struct {
	b    *publish.Bucket
	loc  string
	name string
	hook func()
}

func (v *rt7View) Get(ctx context.Context, name string, limit int64) ([]byte, error) {
	if v.hook != nil && name == v.name {
		h := v.hook
		v.hook = nil
		h()
	}
	return v.b.Get(ctx, name, limit)
}
func (v *rt7View) Exists(ctx context.Context, name string) (bool, error) {
	return v.b.Exists(ctx, name)
}
func (v *rt7View) Publish(ctx context.Context, p publish.Plan) error { return v.b.Publish(ctx, p) }
func (v *rt7View) Location() string                                  { return v.loc }
func (v *rt7View) Close() error                                      { return nil }

// Attack (a threshold of root keys and the log key, with the host
// choosing what each reader sees and when): a client whose state holds
// version 1 and log size 1 runs twice at once (two CI jobs sharing the
// state folder). The host serves the first run a fork (v2' adding
// mallory, in a forked log consistent with size 1) and, while that run is
// between reading and writing the state, lets the second run load the
// honest v3 (log size 3) and record it. When the first run writes,
// writeChecked sees a newer version recorded and keeps it without calling
// the check: the fork's checkpoint is never compared with the honest one
// this client recorded, v2' is never compared with the honest v2 in v3's
// history, and the first run returns v2' as trusted. A client that saw the
// honest log trusts a fork of it and keeps no trace of it.
func TestAttackClientConcurrentRunTrustsForkWithoutCheck(t *testing.T) {
	f, _, l := rt7LoggedFixture(t)
	f.add(newMaintainer(t, "alice"))
	rt7PublishLogged(t, f, l, t0)
	h1 := f.prevHash
	honestDir := strings.TrimPrefix(f.b.Location(), "file://")
	forkDir := t.TempDir() + "/fork"
	if err := os.CopyFS(forkDir, os.DirFS(honestDir)); err != nil {
		t.Fatal(err)
	}
	forkB, err := publish.Open(context.Background(), forkDir, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer forkB.Close()
	const loc = "https://charts.example.org/"
	state := t.TempDir()
	now := t0.Add(4 * time.Hour)
	load := func(v *rt7View) (*Trusted, error) {
		return Load(context.Background(), Options{Bucket: publish.OpenRemote(v), Pins: f.pins(), StateDir: state, Now: func() time.Time { return now }})
	}
	if _, err := load(&rt7View{b: f.b, loc: loc}); err != nil {
		t.Fatal(err)
	}

	// Honest v2 and v3.
	rt7PublishLogged(t, f, l, t0.Add(time.Hour))
	rt7PublishLogged(t, f, l, t0.Add(2*time.Hour))
	// The fork: v2' adding mallory, logged in a fork of the size-1 log.
	honestB, version, prev := f.b, f.version, f.prevHash
	f.b, f.version, f.prevHash = forkB, 1, h1
	f.add(newMaintainer(t, "mallory"))
	rt7PublishLogged(t, f, l, t0.Add(3*time.Hour))
	f.b, f.version, f.prevHash = honestB, version, prev
	f.members = f.members[:1]

	var honestErr error
	fork := &rt7View{b: forkB, loc: loc, name: tlog.CheckpointPath, hook: func() {
		_, honestErr = load(&rt7View{b: honestB, loc: loc})
	}}
	tr, err := load(fork)
	if honestErr != nil {
		t.Fatalf("setup: the honest run failed: %v", honestErr)
	}
	if err == nil {
		t.Fatalf("the run shown the fork trusted manifest v%d (%d keys) although this client's state recorded the honest v3 and log meanwhile", tr.Manifest.Version, len(tr.Manifest.Keys))
	}
}

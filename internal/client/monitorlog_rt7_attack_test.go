package client

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io/fs"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/ProtonMail/go-crypto/openpgp/packet"
	openpgp "github.com/ProtonMail/go-crypto/openpgp/v2"
	"golang.org/x/mod/sumdb/note"
	stlog "golang.org/x/mod/sumdb/tlog"

	"github.com/keyctl/keyctl/internal/fail"
	"github.com/keyctl/keyctl/internal/publish"
	"github.com/keyctl/keyctl/internal/root"
	"github.com/keyctl/keyctl/internal/tlog"
)

// rt7LogKey is a repository's log key.
type rt7LogKey struct {
	s    note.Signer
	v    note.Verifier
	vkey string
}

// rt7LoggedFixture is a fixture whose root set 1 names a log key.
func rt7LoggedFixture(t *testing.T) (*fixture, rootKey, *rt7LogKey) {
	t.Helper()
	a := newRootKey(t, "root a")
	f := newFixture(t, t.TempDir(), "charts.example.org", a)
	skey, vkey, err := tlog.GenerateLogKey("charts.example.org/keyctl-log")
	if err != nil {
		t.Fatal(err)
	}
	s, err := tlog.NewLogSigner(skey)
	if err != nil {
		t.Fatal(err)
	}
	v, err := tlog.NewLogVerifier(vkey)
	if err != nil {
		t.Fatal(err)
	}
	f.set.Log = vkey
	f.useSet(f.set, a)
	return f, a, &rt7LogKey{s, v, vkey}
}

// rt7Log appends entries to the fixture's log and publishes the tiles and
// the new checkpoint.
func rt7Log(t *testing.T, f *fixture, l *rt7LogKey, es ...tlog.Entry) *tlog.Head {
	t.Helper()
	ctx := context.Background()
	prev, err := tlog.ReadHead(ctx, f.b, l.v, nil)
	if err != nil {
		t.Fatal(err)
	}
	var raw [][]byte
	for _, e := range es {
		raw = append(raw, e.Marshal())
	}
	a, err := tlog.Append(ctx, f.b, prev, raw, l.s)
	if err != nil {
		t.Fatal(err)
	}
	plan := publish.Plan{Pointer: publish.Object{Name: tlog.CheckpointPath, Data: a.Checkpoint}}
	for _, o := range a.Tiles {
		plan.Blobs = append(plan.Blobs, publish.Object{Name: o.Name, Data: o.Data})
	}
	if prev != nil {
		h := sha256.Sum256(prev.Note)
		plan.ExpectPrevious = h[:]
	}
	if err := f.b.Publish(ctx, plan); err != nil {
		t.Fatal(err)
	}
	h, err := tlog.ReadHead(ctx, f.b, l.v, nil)
	if err != nil {
		t.Fatal(err)
	}
	return h
}

// rt7PublishLogged publishes the next manifest and logs it.
func rt7PublishLogged(t *testing.T, f *fixture, l *rt7LogKey, now time.Time, signers ...rootKey) {
	t.Helper()
	mh := f.publish(now, signers...)
	rt7Log(t, f, l, tlog.Entry{Version: f.version, SHA256: mh})
}

func rt7Monitor(f *fixture, state string, now time.Time) (*MonitorReport, error) {
	return Monitor(context.Background(), MonitorOptions{Bucket: f.b, Pins: f.pins(), StateDir: state, Now: func() time.Time { return now }})
}

// Attack (one root key with threshold 1, or a threshold of root keys): the
// root set is rotated to one that names no log, and manifests are
// published outside the log from then on. A client that checked the log
// before refuses this as a security error ("a repository does not drop its
// log", docs/verify.md), but every fresh client trusts the unlogged
// manifests. The monitor, the one party meant to raise the alarm and which
// has walked this log before (its state holds the log's checkpoint),
// answers with an input error, "there is nothing to monitor" (exit 2:
// "usage or I/O error"), not the security alarm (exit 1) of
// docs/runbook.md.
func TestAttackMonitorLogDroppedIsNoAlarm(t *testing.T) {
	f, a, l := rt7LoggedFixture(t)
	f.add(newMaintainer(t, "alice"))
	rt7PublishLogged(t, f, l, t0)
	rt7PublishLogged(t, f, l, t0.Add(time.Hour))
	state := t.TempDir()
	if rep, err := rt7Monitor(f, state, t0.Add(2*time.Hour)); err != nil || rep.Size != 2 {
		t.Fatalf("setup: monitor of the honest log: %v", err)
	}

	// The root key holder rotates to a root set without a log and
	// publishes an unlogged manifest adding mallory.
	set2, err := root.Rotate(f.set, nil, nil, 1, t0)
	if err != nil {
		t.Fatal(err)
	}
	set2.Log = ""
	f.useSet(set2, a)
	f.add(newMaintainer(t, "mallory"))
	f.publish(t0.Add(3 * time.Hour))
	if _, err := f.load(t, t.TempDir(), t0.Add(4*time.Hour)); err != nil {
		t.Fatalf("setup: a fresh client should trust the unlogged manifest (that is the attack): %v", err)
	}

	_, err = rt7Monitor(f, state, t0.Add(4*time.Hour))
	if err == nil || fail.KindOf(err) != fail.Security || fail.ExitCode(err) != 1 {
		t.Fatalf("the monitor that walked the log before reports a dropped log as %v (exit %d), not as a security alarm", err, fail.ExitCode(err))
	}
}

// rt7HugeLog serves, over the fixture's bucket, a log of 2^40 identical
// entries: every hash tile of level L holds copies of
// the hash of a 2^(8L)-leaf subtree, so the tree costs the log key holder
// 40 hashes to make.
type rt7HugeLog struct {
	base       *publish.Bucket
	checkpoint []byte
	entry      []byte
	levels     []stlog.Hash
	bundles    int
	limit      int
}

var errRT7TooManyReads = fmt.Errorf("rt7: the monitor kept reading entry bundles")

func (h *rt7HugeLog) Get(ctx context.Context, name string, limit int64) ([]byte, error) {
	if name == tlog.CheckpointPath {
		return h.checkpoint, nil
	}
	rest, ok := strings.CutPrefix(name, tlog.Prefix+"tile/")
	if !ok {
		return h.base.Get(ctx, name, limit)
	}
	w := 256
	if i := strings.Index(rest, ".p/"); i >= 0 {
		w, _ = strconv.Atoi(rest[i+3:])
		rest = rest[:i]
	}
	if strings.HasPrefix(rest, "entries/") {
		if h.bundles++; h.bundles > h.limit {
			return nil, errRT7TooManyReads
		}
		var b []byte
		for range w {
			b = append(b, byte(len(h.entry)>>8), byte(len(h.entry)))
			b = append(b, h.entry...)
		}
		return b, nil
	}
	l, err := strconv.Atoi(rest[:strings.IndexByte(rest, '/')])
	if err != nil || 8*l >= len(h.levels) {
		return nil, fmt.Errorf("%s: %w", name, fs.ErrNotExist)
	}
	var b []byte
	for range w {
		b = append(b, h.levels[8*l][:]...)
	}
	return b, nil
}
func (h *rt7HugeLog) Exists(ctx context.Context, name string) (bool, error) {
	_, err := h.Get(ctx, name, 1<<30)
	return err == nil, nil
}
func (h *rt7HugeLog) Publish(context.Context, publish.Plan) error { return fmt.Errorf("read-only") }
func (h *rt7HugeLog) Location() string                            { return h.base.Location() }
func (h *rt7HugeLog) Close() error                                { return nil }

// Attack (the log key holder, with the repository host): a checkpoint of
// 2^40 entries (tlog.MaxTreeSize), every entry the same logged manifest
// (a valid "version-relogged" chain), costs 40 hashes to make. Monitor
// reads entries [From, Size) into memory in one tlog.ReadEntries call
// before it checks or reports any of them, with no bound per run: it
// fetches 2^32 entry bundles and holds 2^40 entries, so it runs until it
// is killed and never reports the keyring changes logged before the
// padding (here: none is reported after 1,024 bundles = 262,144
// entries). A run should stop after a bounded number of entries (saving
// its state) or refuse such a jump.
func TestAttackMonitorUnboundedHugeLog(t *testing.T) {
	f, _, l := rt7LoggedFixture(t)
	f.add(newMaintainer(t, "alice"))
	mh := f.publish(t0)
	e := tlog.Entry{Version: 1, SHA256: mh}.Marshal()
	const logN = 40
	levels := []stlog.Hash{stlog.RecordHash(e)}
	for len(levels) <= logN {
		x := levels[len(levels)-1]
		levels = append(levels, stlog.NodeHash(x, x))
	}
	ckpt, err := tlog.SignCheckpoint(stlog.Tree{N: 1 << logN, Hash: levels[logN]}, l.s)
	if err != nil {
		t.Fatal(err)
	}
	h := &rt7HugeLog{base: f.b, checkpoint: ckpt, entry: e, levels: levels, limit: 1024}
	rep, err := Monitor(context.Background(), MonitorOptions{Bucket: publish.OpenRemote(h), Pins: f.pins(), StateDir: t.TempDir(), Now: func() time.Time { return t0.Add(time.Hour) }})
	if errors.Is(err, errRT7TooManyReads) || h.bundles > h.limit {
		t.Fatalf("one monitor run read more than %d entry bundles of a log the log key holder padded to 2^%d entries, without reporting anything (report %v, err %v)", h.limit, logN, rep, err)
	}
}

// Attack (a threshold of root keys, e.g. one root key at threshold 1, with
// the log key as the publisher holds it): a maintainer's signing subkey is
// stolen; the maintainer revokes it as compromised in the certificate and
// the team publishes (manifest v2: the key entry does not change, the
// certificate in pubkeys.pgp does). The attacker then publishes v3 whose
// pubkeys.pgp carries the certificate as it was before, without the
// subkey's revocation (dropping a packet needs no key), so clients trust
// the stolen subkey again (fresh ones, and, as the test logs, one whose
// state saw v2: a subkey revoked as compromised is not "compromised
// forever" like a key listed compromised). Adding a key of the attacker's
// would show as key-added; this shows nowhere: the manifest's key list is
// the same, and Monitor diffs the key lists only, never the keyrings the
// manifests bind, and reports no change at v3.
func TestAttackMonitorMissesRevocationStrippedFromKeyring(t *testing.T) {
	f, _, l := rt7LoggedFixture(t)
	m := newMaintainer(t, "maint")
	sk := addSigningSubkey(t, m)
	f.add(m)
	rt7PublishLogged(t, f, l, t0)
	before, err := openpgp.ReadKeyRing(bytes.NewReader(mustGet(t, f.b, root.PubkeysFile)))
	if err != nil || len(before) != 1 {
		t.Fatalf("setup: %v", err)
	}
	revokeSubkey(t, m, sk, packet.KeyCompromised, t0.Add(time.Hour))
	rt7PublishLogged(t, f, l, t0.Add(2*time.Hour))
	kept := t.TempDir() // a client that saw v2
	tr2, err := f.load(t, kept, t0.Add(2*time.Hour+time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	f.members[0].e = before[0] // the certificate without the revocation
	rt7PublishLogged(t, f, l, t0.Add(3*time.Hour))
	tr3, err := f.load(t, t.TempDir(), t0.Add(4*time.Hour))
	if err != nil {
		t.Fatalf("setup: a fresh client refuses v3: %v", err)
	}
	// The thief signs with the stolen subkey.
	m.Subkeys[len(m.Subkeys)-1].Revocations = nil
	a, p, _ := chart(t, m, "app", "1.0.0", t0.Add(3*time.Hour))
	if d := tr2.Check(p, "app-1.0.0.tgz", a, nil); d.Trusted {
		t.Fatalf("setup: under v2 the revoked subkey's chart is %s", d.Status)
	}
	if d := tr3.Check(p, "app-1.0.0.tgz", a, nil); !d.Trusted {
		t.Logf("note: under v3 the stolen subkey's chart is %s", d.Status)
	} else {
		t.Logf("under v3 a fresh client trusts the stolen subkey's chart again (%s)", d.Status)
	}
	if tk, err := f.load(t, kept, t0.Add(4*time.Hour)); err == nil {
		if d := tk.Check(p, "app-1.0.0.tgz", a, nil); d.Trusted {
			t.Logf("and so does the client whose state saw the revocation at v2 (%s)", d.Status)
		}
	}

	rep, err := rt7Monitor(f, t.TempDir(), t0.Add(4*time.Hour))
	if err != nil {
		return // refused: the monitor noticed
	}
	for _, e := range rep.Events {
		if e.Index == 2 {
			return
		}
	}
	t.Fatalf("manifest v3 brings back subkey %s that v2's certificate revoked as compromised; the monitor reports nothing for it (events %+v)", sk.PublicKey.KeyIdString(), rep.Events)
}

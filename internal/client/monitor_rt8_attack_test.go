package client

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/ProtonMail/go-crypto/openpgp/packet"
	openpgp "github.com/ProtonMail/go-crypto/openpgp/v2"

	"github.com/keyctl/keyctl/internal/fail"
	"github.com/keyctl/keyctl/internal/pgpkey"
	"github.com/keyctl/keyctl/internal/publish"
	"github.com/keyctl/keyctl/internal/root"
	"github.com/keyctl/keyctl/internal/tlog"
)

// rt8FlakyView serves a bucket but answers "not found" for every name
// fail says so, as a host (or a cache it controls) chooses to.
type rt8FlakyView struct {
	b    *publish.Bucket
	fail func(name string) bool
}

func (v *rt8FlakyView) Get(ctx context.Context, name string, limit int64) ([]byte, error) {
	if v.fail != nil && v.fail(name) {
		return nil, fmt.Errorf("%s: %w", name, fs.ErrNotExist)
	}
	return v.b.Get(ctx, name, limit)
}
func (v *rt8FlakyView) Exists(ctx context.Context, name string) (bool, error) {
	if v.fail != nil && v.fail(name) {
		return false, nil
	}
	return v.b.Exists(ctx, name)
}
func (v *rt8FlakyView) Publish(ctx context.Context, p publish.Plan) error { return v.b.Publish(ctx, p) }
func (v *rt8FlakyView) Location() string                                  { return v.b.Location() }
func (v *rt8FlakyView) Close() error                                      { return nil }

// Attack (a threshold of root keys and the log key, who also run the
// host): manifest v3 (log entry 2) binds a pubkeys.pgp that drops the
// compromised revocation of a maintainer's subkey, so the stolen subkey
// signs again; more than one entry bundle (256 entries) of ordinary
// publishes follow. When the monitor walks the log, the host answers "not
// found" for the second entry bundle once. The monitor saved its state
// after the first bundle (it saves per batch) and returns the read error
// (untrusted: "the log is incomplete", a retry) before it calls
// revocationRemoved, so the key-revocation-removed alarm is never raised;
// the next run resumes after the first bundle and exits 0. A removed
// revocation, a security alarm by the monitor's own rule, is downgraded
// to one transient read failure and then lost.
func TestAttackMonitorBatchErrorLosesRevocationAlarm(t *testing.T) {
	f, _, l := rt7LoggedFixture(t)
	m := newMaintainer(t, "maint")
	sk := addSigningSubkey(t, m)
	f.add(m)
	rt7PublishLogged(t, f, l, t0)
	before := m.Subkeys[len(m.Subkeys)-1].Revocations
	revokeSubkey(t, m, sk, packet.KeyCompromised, t0.Add(time.Hour))
	rt7PublishLogged(t, f, l, t0.Add(time.Hour))
	m.Subkeys[len(m.Subkeys)-1].Revocations = before // revocation stripped
	rt7PublishLogged(t, f, l, t0.Add(2*time.Hour))
	for i := 0; i < monitorBatch; i++ { // v4 .. v259: entries 3 .. 258
		rt7PublishLogged(t, f, l, t0.Add(3*time.Hour+time.Duration(i)*time.Minute))
	}
	now := t0.Add(10 * time.Hour)

	// Control: one clean run raises the alarm.
	if _, err := rt7Monitor(f, t.TempDir(), now); fail.KindOf(err) != fail.Security {
		t.Fatalf("setup: a clean monitor run does not raise the alarm: %v", err)
	}

	state := t.TempDir()
	mon := func(v *rt8FlakyView) (*MonitorReport, error) {
		return Monitor(context.Background(), MonitorOptions{Bucket: publish.OpenRemote(v), Pins: f.pins(), StateDir: state, Now: func() time.Time { return now }})
	}
	second := func(name string) bool { return strings.Contains(name, "tile/entries/001") }
	_, err1 := mon(&rt8FlakyView{b: f.b, fail: second})
	if fail.KindOf(err1) == fail.Security {
		return
	}
	_, err2 := mon(&rt8FlakyView{b: f.b})
	if fail.KindOf(err2) == fail.Security {
		return
	}
	t.Fatalf("log entry 2 removed subkey %s's compromised revocation; the monitor's first run failed with %v (kind %v), the second returned %v: the security alarm was never raised", sk.PublicKey.KeyIdString(), err1, fail.KindOf(err1), err2)
}

// Attack (a threshold of root keys and the log key): the monitor's new
// alarm compares each logged manifest's certificates with the manifest
// just before only. v2 revokes a maintainer's signing subkey as
// compromised; v3 binds the certificate without that subkey at all
// (reported as subkey-removed, no alarm); v4 binds it again with the
// subkey and without its revocation (subkey-added, no alarm). Clients of
// v4 trust the stolen subkey again, exactly as if v3 had dropped the
// revocation, and the monitor exits 0: the revocation left the
// certificate over two steps, which revocationRemoved never sees.
func TestAttackMonitorRevocationRemovedInTwoSteps(t *testing.T) {
	f, _, l := rt7LoggedFixture(t)
	m := newMaintainer(t, "maint")
	sk := addSigningSubkey(t, m)
	f.add(m)
	rt7PublishLogged(t, f, l, t0)
	before := m.Subkeys[len(m.Subkeys)-1].Revocations
	revokeSubkey(t, m, sk, packet.KeyCompromised, t0.Add(time.Hour))
	rt7PublishLogged(t, f, l, t0.Add(time.Hour))
	full := m.Subkeys
	m.Subkeys = full[:len(full)-1] // v3: the subkey left out
	rt7PublishLogged(t, f, l, t0.Add(2*time.Hour))
	m.Subkeys = full
	m.Subkeys[len(m.Subkeys)-1].Revocations = before // v4: back, unrevoked
	rt7PublishLogged(t, f, l, t0.Add(3*time.Hour))

	// Clients of v4 trust what the stolen subkey signs.
	tr, err := f.load(t, t.TempDir(), t0.Add(4*time.Hour))
	if err != nil {
		t.Fatalf("setup: a fresh client refuses v4: %v", err)
	}
	a, p, _ := chart(t, m, "app", "1.0.0", t0.Add(3*time.Hour))
	if d := tr.Check(p, "app-1.0.0.tgz", a, nil); !d.Trusted {
		t.Logf("note: under v4 the stolen subkey's chart is %s", d.Status)
	}

	rep, err := rt7Monitor(f, t.TempDir(), t0.Add(4*time.Hour))
	if fail.KindOf(err) == fail.Security {
		return
	}
	var kinds []string
	if rep != nil {
		for _, e := range rep.Events {
			kinds = append(kinds, fmt.Sprintf("#%d %s", e.Index, e.Kind))
		}
	}
	t.Fatalf("subkey %s, revoked as compromised at v2, is bound again without its revocation at v4 (via v3 leaving it out); the monitor raises no alarm (err %v, events %v)", sk.PublicKey.KeyIdString(), err, kinds)
}

// rt8OldCheckpoint serves a bucket, but an old copy of the checkpoint: a
// stale cache, or a host replaying a checkpoint the log key signed before.
type rt8OldCheckpoint struct {
	b   *publish.Bucket
	old []byte
}

func (v *rt8OldCheckpoint) Get(ctx context.Context, name string, limit int64) ([]byte, error) {
	if name == tlog.CheckpointPath {
		return v.old, nil
	}
	return v.b.Get(ctx, name, limit)
}
func (v *rt8OldCheckpoint) Exists(ctx context.Context, name string) (bool, error) {
	return v.b.Exists(ctx, name)
}
func (v *rt8OldCheckpoint) Publish(ctx context.Context, p publish.Plan) error {
	return v.b.Publish(ctx, p)
}
func (v *rt8OldCheckpoint) Location() string { return v.b.Location() }
func (v *rt8OldCheckpoint) Close() error     { return nil }

// Attack (the repository host, or a cache in front of it, with no key):
// the log is honest. The host serves the monitor (and a witness) the
// checkpoint of size 1 that the log key signed before, after they saw
// size 2. The proof that size 1 is a prefix of size 2 succeeds, yet the
// monitor reports an *InconsistentError ("the log shrank ... (rollback)"),
// a security error, and saves both checkpoints as "evidence" of a fork.
// By the rule the rt7 fixes set (internal/tlog/doc.go: only two signed
// checkpoints that no append-only history joins are a fork; what a host
// without a key can serve is a read error), a replayed old checkpoint that
// is consistent with the newer one is stale, not a fork: a keyless host
// can raise the runbook's key-rotation alarm at will. Witness (witness.go)
// does the same.
func TestAttackStaleCheckpointReportedAsFork(t *testing.T) {
	f, _, l := rt7LoggedFixture(t)
	f.add(newMaintainer(t, "alice"))
	rt7PublishLogged(t, f, l, t0)
	old := mustGet(t, f.b, tlog.CheckpointPath)
	f.add(newMaintainer(t, "bob"))
	rt7PublishLogged(t, f, l, t0.Add(time.Hour))
	now := t0.Add(2 * time.Hour)
	state := t.TempDir()
	if _, err := rt7Monitor(f, state, now); err != nil {
		t.Fatal(err)
	}
	rep, err := Monitor(context.Background(), MonitorOptions{Bucket: publish.OpenRemote(&rt8OldCheckpoint{b: f.b, old: old}), Pins: f.pins(), StateDir: state, Now: func() time.Time { return now }})
	var ie *tlog.InconsistentError
	if errors.As(err, &ie) || fail.KindOf(err) == fail.Security || (rep != nil && rep.Evidence != "") {
		t.Fatalf("an old checkpoint consistent with the one seen (a stale copy anyone can serve) is reported as a fork: %v (evidence %q)", err, rep.Evidence)
	}
	if err == nil {
		t.Fatal("setup: the old checkpoint was accepted")
	}
}

// Attack (a threshold of root keys and the log key): loadKeyringView
// reuses the last view whenever the bound files' hashes are unchanged,
// but which copy of a certificate a client files depends on the key list
// too: an active maintainer key comes from pubkeys.pgp, a removed key
// from the first bound file that carries it (indexkeys.pgp first when
// the manifest lists an index key). v1 binds indexkeys.pgp holding the
// index key and a stripped copy of maintainer K (without its subkey's
// compromised revocation), ignored while K is active, and pubkeys.pgp
// holding K with the revocation. v2 binds the very same files and lists K
// as retired: clients now judge K by the stripped copy (the stolen subkey
// signs again, backdated before the retirement), but the monitor keeps
// v1's view, diffs nothing and raises no revocation alarm. The same
// certificates read afresh show the removed revocation.
func TestAttackMonitorKeyringViewReusedAcrossStatusChange(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	b, err := publish.Open(ctx, dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	k := newMaintainer(t, "maint")
	sk := addSigningSubkey(t, k)
	stripped := keyring(t, []*openpgp.Entity{k})
	revokeSubkey(t, k, sk, packet.KeyCompromised, t0)
	idx := newMaintainer(t, "index")
	indexkeys := append(keyring(t, []*openpgp.Entity{idx}), stripped...)
	pubkeys := keyring(t, []*openpgp.Entity{k})
	files := map[string][]byte{root.IndexKeysFile: indexkeys, root.PubkeysFile: pubkeys, root.RevokedFile: nil}
	var refs []root.FileRef
	for _, name := range []string{root.IndexKeysFile, root.PubkeysFile, root.RevokedFile} {
		data := files[name]
		refs = append(refs, root.FileRef{Name: name, SHA256: root.Hash(data), Length: int64(len(data))})
		p := filepath.Join(dir, filepath.FromSlash(root.ContentPath(root.Hash(data))))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	kf, ixf := pgpkey.Fingerprint(k), pgpkey.Fingerprint(idx)
	rr := root.RootRef{Version: 1, SHA256: hash('1')}
	m1 := &root.Manifest{Version: 1, Root: rr, Files: refs, Keys: []root.KeyEntry{
		{Fingerprint: ixf, Status: root.Active, Role: root.RoleIndex},
		{Fingerprint: kf, Status: root.Active},
	}}
	m2 := &root.Manifest{Version: 2, Root: rr, Files: refs, Keys: []root.KeyEntry{
		{Fingerprint: ixf, Status: root.Active, Role: root.RoleIndex},
		{Fingerprint: kf, Status: root.Removed, Reason: root.Retired, Effective: t0.Add(time.Hour)},
	}}
	for _, m := range []*root.Manifest{m1, m2} {
		slices.SortFunc(m.Keys, func(a, b root.KeyEntry) int { return strings.Compare(a.Fingerprint, b.Fingerprint) })
	}
	v1, err := loadKeyringView(ctx, b, m1, nil)
	if err != nil {
		t.Fatal(err)
	}
	// Control: v2's certificates read afresh lose the revocation.
	fresh, err := loadKeyringView(ctx, b, m2, nil)
	if err != nil {
		t.Fatal(err)
	}
	if revocationRemoved(diffKeyrings(1, 2, m1, v1, m2, fresh)) == nil {
		t.Fatal("setup: a fresh view of v2 shows no removed revocation")
	}
	v2, err := loadKeyringView(ctx, b, m2, v1)
	if err != nil {
		t.Fatal(err)
	}
	if err := revocationRemoved(diffKeyrings(1, 2, m1, v1, m2, v2)); err == nil {
		t.Fatalf("v2 files maintainer %s (now retired) from indexkeys.pgp's copy, without subkey %s's compromised revocation; the monitor reused v1's view (same file hashes) and reports nothing", kf, sk.PublicKey.KeyIdString())
	}
}

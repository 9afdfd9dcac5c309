package client

import (
	"bytes"
	"context"
	"crypto/sha256"
	"testing"
	"time"

	"github.com/ProtonMail/go-crypto/openpgp/packet"
	openpgp "github.com/ProtonMail/go-crypto/openpgp/v2"

	"github.com/keyctl/keyctl/internal/pgpkey"
	"github.com/keyctl/keyctl/internal/provenance"
	"github.com/keyctl/keyctl/internal/publish"
	"github.com/keyctl/keyctl/internal/root"
	"github.com/keyctl/keyctl/internal/testutil/charts"
)

// The fixture publishes repositories the way keyctl publish lays them out
// (internal/release), built here from internal/root alone: a client test
// must not need the team lead's store, and attacks need manifests that no
// honest store would write.

var t0 = time.Date(2026, 6, 1, 12, 0, 0, 0, time.UTC)

type member struct {
	e         *openpgp.Entity
	status    root.Status
	reason    root.Reason
	effective time.Time
	scopes    []string
	// unpublished: listed in the manifest, its certificate in no keyring.
	unpublished bool
}

type fixture struct {
	t        testing.TB
	repo     string
	rootKey  rootKey
	set      *root.RootSet
	setBytes []byte
	setSigs  []byte
	b        *publish.Bucket
	version  uint64
	prevHash string
	members  []*member
	validity time.Duration
}

// rootKey is a root key's secret (to sign) and public (for the root set) parts.
type rootKey struct{ sec, pub *openpgp.Entity }

func newRootKey(t testing.TB, name string) rootKey {
	t.Helper()
	c, err := root.Create(root.CreateOptions{Name: name}, t0.Add(-24*time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	sec, err := root.LoadSecret(c.Secret, nil)
	if err != nil {
		t.Fatal(err)
	}
	pub, err := root.LoadPublic(c.Public)
	if err != nil {
		t.Fatal(err)
	}
	return rootKey{sec, pub}
}

func newFixture(t testing.TB, location, repo string, rootKey rootKey) *fixture {
	t.Helper()
	b, err := publish.Open(context.Background(), location, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Close() })
	set, err := root.NewRootSet(repo, []*openpgp.Entity{rootKey.pub}, 1, t0)
	if err != nil {
		t.Fatal(err)
	}
	sb, err := set.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	sig, err := root.Sign(rootKey.sec, sb, t0)
	if err != nil {
		t.Fatal(err)
	}
	return &fixture{t: t, repo: repo, rootKey: rootKey, set: set, setBytes: sb, setSigs: sig, b: b, validity: 90 * 24 * time.Hour}
}

func (f *fixture) pins() root.Pins {
	return root.Pins{Fingerprints: []string{pgpkey.Fingerprint(f.rootKey.pub)}}
}

var seq int

func newMaintainer(t testing.TB, name string) *openpgp.Entity {
	t.Helper()
	seq++
	cfg := &packet.Config{Algorithm: packet.PubKeyAlgoEdDSA, Time: func() time.Time { return t0.Add(-48 * time.Hour) }, KeyLifetimeSecs: 2 * 365 * 86400}
	e, err := openpgp.NewEntity(name, "", name+"@example.org", cfg)
	if err != nil {
		t.Fatal(err)
	}
	return e
}

func (f *fixture) add(e *openpgp.Entity, scopes ...string) *member {
	m := &member{e: e, status: root.Active, scopes: scopes}
	f.members = append(f.members, m)
	return m
}

func keyring(t testing.TB, es []*openpgp.Entity) []byte {
	var buf bytes.Buffer
	for _, e := range es {
		pub, err := pgpkey.SerializePublic(e, true)
		if err != nil {
			t.Fatal(err)
		}
		buf.Write(pub)
	}
	return buf.Bytes()
}

// build makes the next manifest at now without publishing it.
func (f *fixture) build(now time.Time) (mb, pub, rev []byte, m *root.Manifest) {
	f.t.Helper()
	var act, rem []*openpgp.Entity
	m = &root.Manifest{Repository: f.repo, Version: f.version + 1, Issued: now, Expires: now.Add(f.validity), Previous: f.prevHash,
		Root: root.RootRef{Version: f.set.Version, SHA256: root.Hash(f.setBytes)}}
	for _, mb := range f.members {
		k := root.KeyEntry{Fingerprint: pgpkey.Fingerprint(mb.e), Status: mb.status, Reason: mb.reason, Added: t0.Add(-time.Hour), Effective: mb.effective, Scopes: mb.scopes}
		m.Keys = append(m.Keys, k)
		if mb.unpublished {
			continue
		}
		if mb.status == root.Active {
			act = append(act, mb.e)
		} else {
			rem = append(rem, mb.e)
		}
	}
	pub, rev = keyring(f.t, act), keyring(f.t, rem)
	m.Files = []root.FileRef{{Name: root.PubkeysFile, SHA256: root.Hash(pub), Length: int64(len(pub))}, {Name: root.RevokedFile, SHA256: root.Hash(rev), Length: int64(len(rev))}}
	mb, err := m.Marshal()
	if err != nil {
		f.t.Fatal(err)
	}
	return mb, pub, rev, m
}

// publish publishes the next manifest at now, signed by signers (default:
// the root key), and returns its hash.
func (f *fixture) publish(now time.Time, signers ...rootKey) string {
	f.t.Helper()
	mb, pub, rev, m := f.build(now)
	if len(signers) == 0 {
		signers = []rootKey{f.rootKey}
	}
	var sigs [][]byte
	for _, s := range signers {
		sig, err := root.Sign(s.sec, mb, now)
		if err != nil {
			f.t.Fatal(err)
		}
		sigs = append(sigs, sig)
	}
	msig, err := root.Merge(sigs...)
	if err != nil {
		f.t.Fatal(err)
	}
	mh := root.Hash(mb)
	plan := publish.Plan{
		Blobs: []publish.Object{
			{Name: root.ContentPath(root.Hash(pub)), Data: pub},
			{Name: root.ContentPath(mh), Data: mb},
			{Name: root.ContentPath(mh) + root.SigSuffix, Data: msig},
			{Name: root.RootSetPath(f.set.Version), Data: f.setBytes},
			{Name: root.RootSetPath(f.set.Version) + root.SigSuffix, Data: f.setSigs},
		},
		Pointer: publish.Object{Name: root.ManifestName, Data: mb},
		Files:   []publish.Object{{Name: root.PubkeysFile, Data: pub}, {Name: root.RevokedFile, Data: rev}},
	}
	if root.Hash(rev) != root.Hash(pub) {
		plan.Blobs = append(plan.Blobs, publish.Object{Name: root.ContentPath(root.Hash(rev)), Data: rev})
	}
	if cur, err := f.b.Get(context.Background(), root.ManifestName, root.MaxManifestSize); err == nil {
		h := sha256.Sum256(cur)
		plan.ExpectPrevious = h[:]
	}
	if err := f.b.Publish(context.Background(), plan); err != nil {
		f.t.Fatal(err)
	}
	f.version, f.prevHash = m.Version, mh
	return mh
}

func mustGet(t testing.TB, b *publish.Bucket, name string) []byte {
	t.Helper()
	d, err := b.Get(context.Background(), name, 64<<20)
	if err != nil {
		t.Fatal(err)
	}
	return d
}

func put(t testing.TB, b *publish.Bucket, name string, data []byte) {
	t.Helper()
	err := b.Publish(context.Background(), publish.Plan{Pointer: publish.Object{Name: name, Data: data}, ExpectPrevious: hashOf(mustGet(t, b, name))})
	if err != nil {
		t.Fatal(err)
	}
}

func hashOf(b []byte) []byte { h := sha256.Sum256(b); return h[:] }

// chart packages and signs a chart; it returns the parsed archive and .prov.
func chart(t testing.TB, signer *openpgp.Entity, name, version string, at time.Time) (*provenance.Archive, *provenance.Prov, []byte) {
	t.Helper()
	data, err := charts.Archive(charts.Spec{Name: name, Version: version})
	if err != nil {
		t.Fatal(err)
	}
	a, err := provenance.ReadArchive(bytes.NewReader(data), provenance.DefaultLimits)
	if err != nil {
		t.Fatal(err)
	}
	if signer == nil {
		return a, nil, data
	}
	pd, err := provenance.Sign(signer, a, name+"-"+version+".tgz", at)
	if err != nil {
		t.Fatal(err)
	}
	p, err := provenance.Parse(pd)
	if err != nil {
		t.Fatal(err)
	}
	return a, p, data
}

func (f *fixture) load(t testing.TB, stateDir string, now time.Time) (*Trusted, error) {
	t.Helper()
	return Load(context.Background(), Options{Bucket: f.b, Pins: f.pins(), StateDir: stateDir, Now: func() time.Time { return now }})
}

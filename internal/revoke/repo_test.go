package revoke

import (
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/ProtonMail/go-crypto/openpgp/packet"
	openpgp "github.com/ProtonMail/go-crypto/openpgp/v2"

	"github.com/keyctl/keyctl/internal/pgpkey"
	"github.com/keyctl/keyctl/internal/ring"
	"github.com/keyctl/keyctl/internal/testutil/charts"
)

// maintainer is a go-crypto key with its secret part (to sign) and public
// certificate (what a store holds).
type maintainer struct {
	name   string
	secret *openpgp.Entity
	public *openpgp.Entity
}

func newMaintainer(t testing.TB, name string, subkey bool) *maintainer {
	t.Helper()
	cfg := &packet.Config{Algorithm: packet.PubKeyAlgoEd25519, KeyLifetimeSecs: 2 * 365 * 24 * 3600, Time: func() time.Time { return keyTime }}
	e, err := openpgp.NewEntity(name, "", name+"@example.org", cfg)
	if err != nil {
		t.Fatal(err)
	}
	if subkey {
		if err := e.AddSigningSubkey(cfg); err != nil {
			t.Fatal(err)
		}
	}
	pub, err := pgpkey.SerializePublic(e, true)
	if err != nil {
		t.Fatal(err)
	}
	pe, err := pgpkey.ReadCert(pub)
	if err != nil {
		t.Fatal(err)
	}
	return &maintainer{name: name, secret: e, public: pe}
}

func (m *maintainer) fpr() string { return pgpkey.Fingerprint(m.public) }

// release is what the generator made, and what an audit should say.
type release struct {
	chart, version string
	signer         *maintainer // nil: unsigned
	signedAt       time.Time
	tampered       bool // archive changed after signing
	chartMismatch  bool // .prov of another version
}

func (r release) key() [2]string { return [2]string{r.chart, r.version} }

type testRepo struct {
	dir      string
	releases []release
	alice    *maintainer // signs with a subkey
	bob      *maintainer
	carol    *maintainer // scoped to c0*
	mallory  *maintainer // not in any key set
	t0       time.Time   // first signature time; release i signed at t0 + i hours
}

// buildRepo writes a chart repository of n releases into a new directory:
// index.yaml (relative URLs under charts/) and archives with .prov files,
// signed in turn by alice, bob and carol; every 25th unsigned, every 31st
// tampered after signing, one signed by mallory, one with the .prov of
// another version, one signed by carol outside her scope.
func buildRepo(t testing.TB, n, padding int) *testRepo {
	t.Helper()
	r := &testRepo{
		dir:     t.TempDir(),
		alice:   newMaintainer(t, "alice", true),
		bob:     newMaintainer(t, "bob", false),
		carol:   newMaintainer(t, "carol", false),
		mallory: newMaintainer(t, "mallory", false),
		t0:      time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC),
	}
	if err := os.MkdirAll(filepath.Join(r.dir, "charts"), 0o755); err != nil {
		t.Fatal(err)
	}
	signers := []*maintainer{r.alice, r.bob, r.carol}
	var idx strings.Builder
	idx.WriteString("apiVersion: v1\nentries:\n")
	byChart := map[string][]release{}
	var prevProv []byte
	var prevSigner *maintainer
	for i := 0; i < n; i++ {
		rel := release{chart: fmt.Sprintf("c%02d", i/10), version: fmt.Sprintf("1.0.%d", i%10), signedAt: r.t0.Add(time.Duration(i) * time.Hour)}
		rel.signer = signers[i%3]
		if rel.signer == r.carol && rel.chart[1] != '0' {
			rel.signer = r.bob // carol stays in her scope, but for i == 152
		}
		switch {
		case i == 152:
			rel.signer = r.carol
		case i == 40:
			rel.signer = r.mallory
		case i%25 == 0:
			rel.signer = nil
		case i%31 == 7:
			rel.tampered = true
		case i == 77:
			rel.chartMismatch = true
		}
		spec := charts.Spec{Name: rel.chart, Version: rel.version, Padding: padding}
		data, err := charts.Archive(spec)
		if err != nil {
			t.Fatal(err)
		}
		name := fmt.Sprintf("%s-%s.tgz", rel.chart, rel.version)
		path := filepath.Join(r.dir, "charts", name)
		if rel.signer != nil {
			prov, err := charts.SignBytes(rel.signer.secret, name, data, rel.signedAt)
			if err != nil {
				t.Fatal(err)
			}
			if rel.chartMismatch {
				prov, rel.signer = prevProv, prevSigner
			}
			prevProv, prevSigner = prov, rel.signer
			if err := os.WriteFile(path+".prov", prov, 0o644); err != nil {
				t.Fatal(err)
			}
		}
		if rel.tampered {
			spec.Files = map[string]string{"templates/extra.yaml": "# injected\n"}
			if data, err = charts.Archive(spec); err != nil {
				t.Fatal(err)
			}
		}
		if err := os.WriteFile(path, data, 0o644); err != nil {
			t.Fatal(err)
		}
		r.releases = append(r.releases, rel)
		byChart[rel.chart] = append(byChart[rel.chart], rel)
	}
	names := make([]string, 0, len(byChart))
	for c := range byChart {
		names = append(names, c)
	}
	sort.Strings(names)
	for _, c := range names {
		fmt.Fprintf(&idx, "  %s:\n", c)
		for _, rel := range byChart[c] {
			fmt.Fprintf(&idx, "  - apiVersion: v2\n    name: %s\n    version: %s\n    created: \"2026-01-01T00:00:00Z\"\n    urls:\n    - charts/%s-%s.tgz\n", c, rel.version, c, rel.version)
		}
	}
	idx.WriteString("generated: \"2026-01-01T00:00:00Z\"\n")
	if err := os.WriteFile(filepath.Join(r.dir, "index.yaml"), []byte(idx.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	return r
}

// keySet is alice, bob and carol (scoped to c0*), with the given removals.
func (r *testRepo) keySet(t testing.TB, removed map[*maintainer]ring.Removal) *KeySet {
	t.Helper()
	var keys []*Key
	for _, m := range []*maintainer{r.alice, r.bob, r.carol} {
		k := &Key{Entity: m.public, Active: true}
		if m == r.carol {
			k.Scopes = []string{"c0*"}
		}
		if rm, ok := removed[m]; ok {
			k.Active, k.Reason, k.Effective = false, rm.Reason, rm.Effective
		}
		keys = append(keys, k)
	}
	ks, err := NewKeySet(keys)
	if err != nil {
		t.Fatal(err)
	}
	return ks
}

// want is the status the audit should give rel when nothing is removed.
func (r *testRepo) want(rel release) Status {
	switch {
	case rel.signer == nil:
		return Unsigned
	case rel.chartMismatch:
		return ChartMismatch
	case rel.tampered:
		return HashMismatch
	case rel.signer == r.mallory:
		return UnknownSigner
	case rel.signer == r.carol && rel.chart[1] != '0':
		return OutOfScope
	}
	return Trusted
}

// signerUnknown reports whether an audit cannot tell who signed rel (no
// ledger): unsigned, or signed by mallory, a key in no key set.
func (r *testRepo) signerUnknown(rel release) bool {
	return rel.signer == nil || rel.signer == r.mallory
}

func byKey(rep *Report) map[[2]string]Result {
	out := map[[2]string]Result{}
	for _, res := range rep.Results {
		out[[2]string{res.Chart, res.Version}] = res
	}
	return out
}

// keyTime is when the test keys are made: before the first signature.
var keyTime = time.Date(2025, 12, 1, 0, 0, 0, 0, time.UTC)

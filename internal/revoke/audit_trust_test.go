package revoke

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ProtonMail/go-crypto/openpgp/packet"

	"github.com/keyctl/keyctl/internal/pgpkey"
	"github.com/keyctl/keyctl/internal/ring"
	"github.com/keyctl/keyctl/internal/testutil/charts"
)

func sha256Hex(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

func chartPath(r *testRepo, rel release) string {
	return filepath.Join(r.dir, "charts", rel.chart+"-"+rel.version+".tgz")
}

// A .prov naming a removed key whose certificate carries its revocation
// fails go-crypto's key check before the signature is checked: such a
// signature was never verified and may not be trusted, whatever the ledger
// says.
func TestAuditForgedProvOfARevokedRemovedKeyIsNotTrusted(t *testing.T) {
	r := buildRepo(t, 3, 0)
	rel := r.releases[1]
	if rel.signer != r.bob {
		t.Fatalf("release 1 is signed by %v", rel.signer.name)
	}
	// Bob's certificate as a store would keep it after his removal: with
	// its revocation, dated before the signatures (go-crypto then refuses
	// the key without checking the signature).
	if err := r.bob.secret.Revoke(packet.KeyRetired, "retired", &packet.Config{Time: func() time.Time { return keyTime.Add(time.Hour) }}); err != nil {
		t.Fatal(err)
	}
	pub, err := pgpkey.SerializePublic(r.bob.secret, true)
	if err != nil {
		t.Fatal(err)
	}
	revoked, err := pgpkey.ReadCert(pub)
	if err != nil {
		t.Fatal(err)
	}
	// The forgery: other archive bytes, the .prov's digest edited to match
	// (the signature no longer verifies).
	path := chartPath(r, rel)
	old, _ := os.ReadFile(path)
	prov, _ := os.ReadFile(path + ".prov")
	evil, err := charts.Archive(charts.Spec{Name: rel.chart, Version: rel.version, Files: map[string]string{"templates/evil.yaml": "# evil\n"}})
	if err != nil {
		t.Fatal(err)
	}
	forged := bytes.Replace(prov, []byte(sha256Hex(old)), []byte(sha256Hex(evil)), 1)
	if bytes.Equal(forged, prov) {
		t.Fatal("the .prov does not hold the archive's digest")
	}
	os.WriteFile(path, evil, 0o644)
	os.WriteFile(path+".prov", forged, 0o644)
	ledger := map[[2]string]ring.LedgerEntry{rel.key(): {Chart: rel.chart, Version: rel.version, ArchiveSHA256: sha256Hex(evil), ProvSHA256: sha256Hex(forged), FirstSeen: auditNow.Add(-48 * time.Hour)}}

	for _, reason := range []ring.Reason{ring.Retired, ring.Superseded, ring.Compromised} {
		var keys []*Key
		for _, m := range []*maintainer{r.alice, r.carol} {
			keys = append(keys, &Key{Entity: m.public, Active: true})
		}
		keys = append(keys, &Key{Entity: revoked, Reason: reason, Effective: auditNow.Add(-time.Hour)})
		ks, err := NewKeySet(keys)
		if err != nil {
			t.Fatal(err)
		}
		rep := audit(t, r.dir, ks, func(o *Options) { o.Ledger = ledger })
		res := got(rep, rel)
		want := BadSignature
		if reason == ring.Compromised {
			want = Compromised
		}
		if res.Status != want || res.SignerVerified || res.TimeSource != "" || res.FirstSeen != nil {
			t.Errorf("%s: forged .prov naming a revoked removed key: %s verified=%v time source %q (%s), want %s", reason, res.Status, res.SignerVerified, res.TimeSource, res.Detail, want)
		}
		if rep.AllTrusted() {
			t.Errorf("%s: AllTrusted with a forged release", reason)
		}
		rem := audit(t, r.dir, ks, func(o *Options) { o.Ledger = ledger; o.RemovedOnly = true })
		if res := got(rem, rel); res.Status != want || !res.Removed {
			t.Errorf("%s: --removed: %s removed=%v", reason, res.Status, res.Removed)
		}
	}
}

// A ledger record first seen unsigned, or of another archive, gives no
// first-seen time to a .prov it never saw.
func TestAuditLedgerMustHoldTheProvAndArchive(t *testing.T) {
	r := buildRepo(t, 3, 0)
	rel := r.releases[1] // bob
	eff := auditNow.Add(-time.Hour)
	ks := r.keySet(t, map[*maintainer]ring.Removal{r.bob: {Reason: ring.Retired, Effective: eff}})
	arch, _ := os.ReadFile(chartPath(r, rel))
	prov, _ := os.ReadFile(chartPath(r, rel) + ".prov")
	before := auditNow.Add(-48 * time.Hour)
	good := ring.LedgerEntry{Chart: rel.chart, Version: rel.version, ArchiveSHA256: sha256Hex(arch), ProvSHA256: sha256Hex(prov), FirstSeen: before}
	other := strings.Repeat("0", 64)
	for _, c := range []struct {
		name     string
		mod      func(*ring.LedgerEntry)
		provOnly bool
		want     Status
	}{
		{"matching record", nil, false, Trusted},
		{"matching record, --prov-only", nil, true, Trusted},
		{"first seen unsigned", func(e *ring.LedgerEntry) { e.ProvSHA256 = "" }, false, RemovedKey},
		{"first seen unsigned, --prov-only", func(e *ring.LedgerEntry) { e.ProvSHA256 = "" }, true, RemovedKey},
		{"another archive, --prov-only", func(e *ring.LedgerEntry) { e.ArchiveSHA256 = other }, true, RemovedKey},
		{"re-signed before the removal", func(e *ring.LedgerEntry) {
			e.ProvSHA256 = other
			e.Resigns = []ring.LedgerResign{{ProvSHA256: sha256Hex(prov), Signer: r.bob.fpr(), Time: eff.Add(-time.Minute)}}
		}, false, Trusted},
		{"re-signed after the removal", func(e *ring.LedgerEntry) {
			e.ProvSHA256 = other
			e.Resigns = []ring.LedgerResign{{ProvSHA256: sha256Hex(prov), Signer: r.bob.fpr(), Time: eff.Add(time.Minute)}}
		}, false, RemovedKey},
	} {
		e := good
		if c.mod != nil {
			c.mod(&e)
		}
		rep := audit(t, r.dir, ks, func(o *Options) {
			o.Ledger = map[[2]string]ring.LedgerEntry{rel.key(): e}
			o.ProvOnly = c.provOnly
		})
		if res := got(rep, rel); res.Status != c.want {
			t.Errorf("%s: %s (%s), want %s", c.name, res.Status, res.Detail, c.want)
		}
	}
}

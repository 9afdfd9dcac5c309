package revoke

import (
	"context"
	"crypto"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ProtonMail/go-crypto/openpgp/packet"
	openpgp "github.com/ProtonMail/go-crypto/openpgp/v2"

	"github.com/keyctl/keyctl/internal/client"
	"github.com/keyctl/keyctl/internal/pgpkey"
	"github.com/keyctl/keyctl/internal/provenance"
	"github.com/keyctl/keyctl/internal/testutil/charts"
)

// Red team, round 3, change 3 (Key.cert warms a certificate once).
//
// warmEntity is meant to settle every cached validity (VerifiableSignature
// .Valid) of a certificate before the workers read it, but it calls
// go-crypto's own selection functions, which stop early: with a zero date,
// LatestValidSelfCertification checks the newest self-signature and skips
// every older one (and Revoked stops at the first revocation that applies,
// LatestValidBindingSignature at the newest binding). Those signatures are
// left unchecked, and the first worker to need one, at the date of the
// release it is judging, checks it there, writes its Valid (a data race
// with the other workers) and every later release reads that answer,
// whatever its own date.
//
// A real shape: a key whose user ID was certified at creation with a
// self-signature that expires after 10 days, and certified again on day 20
// (a key refreshed, as keyctl update or gpg --quick-set-expire do). A
// release signed on day 1 is good (the first self-signature was valid
// then, the second is valid now); one signed on day 15 is not (no valid
// self-signature that day). keyctl verify says so for each. audit says so
// for the day-1 release only when no worker judged the day-15 one before:
// go-crypto checked the old self-signature at day 15, found it expired,
// and cached "invalid", so the day-1 release is then a bad signature too.
// The verdict of a release depends on which other release a worker judged
// first.

// refreshedKey returns the signer (its original self-signature, to sign
// with) and the published certificate whose user ID holds the two
// self-signatures [day 0, expiring on day 10], [day 20].
func refreshedKey(t *testing.T, name string, t0 time.Time) (secret, public *openpgp.Entity) {
	t.Helper()
	cfg := &packet.Config{Algorithm: packet.PubKeyAlgoEd25519, Time: func() time.Time { return t0 }}
	e, err := openpgp.NewEntity(name, "", name+"@example.org", cfg)
	if err != nil {
		t.Fatal(err)
	}
	// The published certificate: the same key, its user ID certified twice.
	pubBin, err := pgpkey.SerializePublic(e, true)
	if err != nil {
		t.Fatal(err)
	}
	pub, err := pgpkey.ReadCert(pubBin)
	if err != nil {
		t.Fatal(err)
	}
	selfSig := func(at time.Time, lifetime time.Duration) *packet.VerifiableSignature {
		sig := &packet.Signature{
			Version: 4, SigType: packet.SigTypePositiveCert, PubKeyAlgo: e.PrivateKey.PubKeyAlgo, Hash: crypto.SHA512,
			CreationTime: at, IssuerKeyId: &e.PrivateKey.KeyId, IssuerFingerprint: e.PrivateKey.Fingerprint,
			FlagsValid: true, FlagSign: true, FlagCertify: true,
		}
		if lifetime > 0 {
			secs := uint32(lifetime / time.Second)
			sig.SigLifetimeSecs = &secs
		}
		isPrimary := true
		sig.IsPrimaryId = &isPrimary
		for uid := range pub.Identities {
			if err := sig.SignUserId(uid, &e.PrivateKey.PublicKey, e.PrivateKey, &packet.Config{Time: func() time.Time { return at }}); err != nil {
				t.Fatal(err)
			}
		}
		return packet.NewVerifiableSig(sig)
	}
	day := 24 * time.Hour
	for _, id := range pub.Identities {
		id.SelfCertifications = []*packet.VerifiableSignature{selfSig(t0, 10*day), selfSig(t0.Add(20*day), 0)}
	}
	bin, err := pgpkey.SerializePublic(pub, true)
	if err != nil {
		t.Fatal(err)
	}
	if public, err = pgpkey.ReadCert(bin); err != nil {
		t.Fatal(err)
	}
	return e, public
}

type dated struct {
	chart  string
	at     time.Time
	want   Status
	prov   []byte
	sum    []byte
	parsed *provenance.Prov
	ar     *provenance.Archive
}

// refreshedRepo writes a repository whose releases the refreshed key
// signed on the given days, in index order; it returns them with the
// verdict keyctl verify gives each.
func refreshedRepo(t *testing.T, secret *openpgp.Entity, t0 time.Time, days []int) (string, []*dated) {
	t.Helper()
	dir := t.TempDir()
	if err := os.MkdirAll(filepath.Join(dir, "charts"), 0o755); err != nil {
		t.Fatal(err)
	}
	var idx strings.Builder
	idx.WriteString("apiVersion: v1\nentries:\n")
	var out []*dated
	for i, d := range days {
		rel := &dated{chart: fmt.Sprintf("r%03d-day%02d", i, d), at: t0.Add(time.Duration(d)*24*time.Hour + time.Hour)}
		rel.want = Trusted
		if d >= 10 && d < 20 {
			rel.want = BadSignature // no valid self-signature that day
		}
		data, err := charts.Archive(charts.Spec{Name: rel.chart, Version: "1.0.0"})
		if err != nil {
			t.Fatal(err)
		}
		name := rel.chart + "-1.0.0.tgz"
		if rel.prov, err = charts.SignBytes(secret, name, data, rel.at); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, "charts", name), data, 0o644); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, "charts", name+".prov"), rel.prov, 0o644); err != nil {
			t.Fatal(err)
		}
		if rel.parsed, err = provenance.Parse(rel.prov); err != nil {
			t.Fatal(err)
		}
		if rel.ar, err = provenance.ReadArchive(strings.NewReader(string(data)), provenance.DefaultLimits); err != nil {
			t.Fatal(err)
		}
		fmt.Fprintf(&idx, "  %s:\n  - apiVersion: v2\n    name: %s\n    version: 1.0.0\n    urls:\n    - charts/%s\n", rel.chart, rel.chart, name)
		out = append(out, rel)
	}
	if err := os.WriteFile(filepath.Join(dir, "index.yaml"), []byte(idx.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	return dir, out
}

// verifyVerdict is keyctl verify's verdict: the certificate as a process
// of its own parses it, one release judged.
func verifyVerdict(t *testing.T, public *openpgp.Entity, rel *dated, now time.Time) Status {
	t.Helper()
	bin, err := pgpkey.SerializePublic(public, true)
	if err != nil {
		t.Fatal(err)
	}
	fresh, err := pgpkey.ReadCert(bin)
	if err != nil {
		t.Fatal(err)
	}
	ks, err := NewKeySet([]*Key{{Entity: fresh, Active: true}})
	if err != nil {
		t.Fatal(err)
	}
	d := client.Decide(ks, now, client.Candidate{Prov: rel.parsed, ArchiveName: rel.chart + "-1.0.0.tgz", Archive: rel.ar})
	return AuditStatus(d)
}

func TestAttackAuditVerdictDependsOnWhichReleaseWarmedTheOlderSelfSignature(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	now := t0.Add(30 * 24 * time.Hour)
	secret, public := refreshedKey(t, "refreshed", t0)
	// The day-15 release comes first in the index.
	dir, rels := refreshedRepo(t, secret, t0, []int{15, 1})
	for _, rel := range rels {
		if got := verifyVerdict(t, public, rel, now); got != rel.want {
			t.Fatalf("%s (signed %s): verify says %s, the test expects %s", rel.chart, rel.at.Format(time.RFC3339), got, rel.want)
		}
	}
	ks, err := NewKeySet([]*Key{{Entity: public, Active: true}})
	if err != nil {
		t.Fatal(err)
	}
	rep, err := Audit(context.Background(), Options{Repository: dir, Keys: ks, Now: func() time.Time { return now }, Concurrency: 1})
	if err != nil {
		t.Fatal(err)
	}
	res := map[string]Result{}
	for _, r := range rep.Results {
		res[r.Chart] = r
	}
	for _, rel := range rels {
		if got := res[rel.chart]; got.Status != rel.want {
			t.Errorf("%s (signed %s): keyctl verify says %s, audit says %s (%s): the day-15 release, judged first, "+
				"left go-crypto's cached verdict on the older self-signature in the shared certificate", rel.chart, rel.at.Format(time.RFC3339), rel.want, got.Status, got.Detail)
		}
	}
}

// The same unchecked self-signature, judged by parallel workers at their
// releases' dates: they write its cached Valid concurrently (go test -race
// reports it), and each release's verdict depends on the schedule.
func TestAttackAuditWorkersRaceOnAnUnwarmedSelfSignature(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	now := t0.Add(30 * 24 * time.Hour)
	secret, public := refreshedKey(t, "racer", t0)
	var days []int
	for i := 0; i < 24; i++ {
		days = append(days, []int{15, 1, 5, 12}[i%4])
	}
	dir, rels := refreshedRepo(t, secret, t0, days)
	for round := 0; round < 3; round++ {
		bin, err := pgpkey.SerializePublic(public, true)
		if err != nil {
			t.Fatal(err)
		}
		cert, err := pgpkey.ReadCert(bin)
		if err != nil {
			t.Fatal(err)
		}
		ks, err := NewKeySet([]*Key{{Entity: cert, Active: true}})
		if err != nil {
			t.Fatal(err)
		}
		rep, err := Audit(context.Background(), Options{Repository: dir, Keys: ks, Now: func() time.Time { return now }, Concurrency: 8})
		if err != nil {
			t.Fatal(err)
		}
		res := map[string]Result{}
		for _, r := range rep.Results {
			res[r.Chart] = r
		}
		for _, rel := range rels {
			if got := res[rel.chart]; got.Status != rel.want {
				t.Errorf("round %d: %s (signed %s): keyctl verify says %s, audit says %s", round, rel.chart, rel.at.Format(time.RFC3339), rel.want, got.Status)
			}
		}
	}
}

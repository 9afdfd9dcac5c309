package revoke

import (
	"bytes"
	"context"
	"encoding/binary"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ProtonMail/go-crypto/openpgp/armor"
	"github.com/ProtonMail/go-crypto/openpgp/clearsign"
	openpgp "github.com/ProtonMail/go-crypto/openpgp/v2"

	"github.com/keyctl/keyctl/internal/pgpkey"
	"github.com/keyctl/keyctl/internal/testutil/charts"
)

// Red team, round 3: the repository host poisons the audit's shared
// certificates with a forged signature.
//
// go-crypto checks the issuer's certificate at the signature's creation
// time (signingKeyByIdUsage) before it checks the signature itself, and
// caches what it concluded in the certificate's VerifiableSignatures.
// The audit's certificates are shared by every release, and warmEntity
// leaves older self-signatures (and later revocations) unchecked (see
// keys_rt3_attack_test.go). So a .prov that nobody signed, a copy of a
// genuine one with its creation time edited, naming a maintainer's key and
// any date the host likes, makes go-crypto check that key's older
// self-signature at that date and cache the answer for every other
// release. The host needs no key: it lists the forged release first in
// index.yaml.
//
// With the maintainer's key refreshed on day 20 (its first self-signature
// expired on day 10), a forged .prov dated day 15 turns the maintainer's
// genuine day-1 release, which keyctl verify trusts, into a bad signature
// in the audit: the team lead is told to rebuild and re-sign good
// releases, and the report no longer matches what clients decide.
func TestAttackHostForgedProvPoisonsAuditOfGenuineRelease(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	now := t0.Add(30 * 24 * time.Hour)
	secret, public := refreshedKey(t, "victim", t0)
	// The maintainer's genuine releases: day 1 and day 3.
	dir, rels := refreshedRepo(t, secret, t0, []int{1, 3})
	for _, rel := range rels {
		if got := verifyVerdict(t, public, rel, now); got != Trusted {
			t.Fatalf("%s: verify says %s, want trusted", rel.chart, got)
		}
	}
	// The host's forgery: the day-1 .prov with its signature's creation
	// time moved to day 15 (the signature no longer verifies), for a
	// chart of its own listed first.
	forged := moveSignatureTime(t, rels[0].prov, rels[0].at, t0.Add(15*24*time.Hour+time.Hour))
	data, err := charts.Archive(charts.Spec{Name: rels[0].chart, Version: "0.0.1"})
	if err != nil {
		t.Fatal(err)
	}
	name := "aaa-forged-0.0.1.tgz"
	if err := os.WriteFile(filepath.Join(dir, "charts", name), data, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "charts", name+".prov"), forged, 0o644); err != nil {
		t.Fatal(err)
	}
	idx, err := os.ReadFile(filepath.Join(dir, "index.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	idx = bytes.Replace(idx, []byte("entries:\n"), []byte("entries:\n  aaa-forged:\n  - apiVersion: v2\n    name: aaa-forged\n    version: 0.0.1\n    urls:\n    - charts/"+name+"\n"), 1)
	if err := os.WriteFile(filepath.Join(dir, "index.yaml"), idx, 0o644); err != nil {
		t.Fatal(err)
	}

	for _, conc := range []int{1, 8} {
		ks, err := NewKeySet([]*Key{{Entity: reparse(t, public), Active: true}})
		if err != nil {
			t.Fatal(err)
		}
		rep, err := Audit(context.Background(), Options{Repository: dir, Keys: ks, Now: func() time.Time { return now }, Concurrency: conc})
		if err != nil {
			t.Fatal(err)
		}
		res := map[string]Result{}
		for _, r := range rep.Results {
			res[r.Chart] = r
		}
		if f := res["aaa-forged"]; f.Status == Trusted {
			t.Fatalf("concurrency %d: the forged .prov is trusted", conc)
		}
		for _, rel := range rels {
			if got := res[rel.chart]; got.Status != Trusted {
				t.Errorf("concurrency %d: %s, signed by the maintainer on %s: keyctl verify trusts it, audit says %s (%s) "+
					"after judging the host's forged .prov dated day 15", conc, rel.chart, rel.at.Format("2006-01-02"), got.Status, got.Detail)
			}
		}
	}
}

// reparse is the certificate as a new process reads it.
func reparse(t *testing.T, e *openpgp.Entity) *openpgp.Entity {
	t.Helper()
	bin, err := pgpkey.SerializePublic(e, true)
	if err != nil {
		t.Fatal(err)
	}
	out, err := pgpkey.ReadCert(bin)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// moveSignatureTime returns prov with its signature's creation time
// subpacket changed from 'from' to 'to': the signature packet still
// parses, names the same issuer, and no longer verifies.
func moveSignatureTime(t *testing.T, prov []byte, from, to time.Time) []byte {
	t.Helper()
	blk, _ := clearsign.Decode(prov)
	if blk == nil {
		t.Fatal("not clearsigned")
	}
	sig, err := io.ReadAll(blk.ArmoredSignature.Body)
	if err != nil {
		t.Fatal(err)
	}
	// Subpacket 2 (creation time), possibly marked critical (0x82).
	var old, neu [6]byte
	old[0], old[1] = 5, 0x82
	binary.BigEndian.PutUint32(old[2:], uint32(from.Unix()))
	if bytes.Count(sig, old[:]) == 0 {
		old[1] = 2
	}
	neu = old
	binary.BigEndian.PutUint32(neu[2:], uint32(to.Unix()))
	if bytes.Count(sig, old[:]) != 1 {
		t.Fatalf("the creation time subpacket appears %d times", bytes.Count(sig, old[:]))
	}
	sig = bytes.Replace(sig, old[:], neu[:], 1)
	i := bytes.Index(prov, []byte("-----BEGIN PGP SIGNATURE-----"))
	var out bytes.Buffer
	out.Write(prov[:i])
	w, err := armor.Encode(&out, "PGP SIGNATURE", nil)
	if err != nil {
		t.Fatal(err)
	}
	w.Write(sig)
	w.Close()
	out.WriteString("\n")
	if !strings.Contains(out.String(), "-----END PGP SIGNATURE-----") {
		t.Fatal("no signature block")
	}
	return out.Bytes()
}

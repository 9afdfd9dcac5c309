package main

// One decision engine for verify and audit: a corpus of hostile archives and
// .prov files, judged through verify's path (the published set, the archive
// read as verify reads it, Trusted.Check, and the real command) and through
// audit's path (revoke.Audit over the same repository); every verdict must
// be the same.

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"crypto"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/ProtonMail/go-crypto/openpgp/armor"
	"github.com/ProtonMail/go-crypto/openpgp/clearsign"
	"github.com/ProtonMail/go-crypto/openpgp/packet"
	openpgp "github.com/ProtonMail/go-crypto/openpgp/v2"

	"github.com/keyctl/keyctl/internal/client"
	"github.com/keyctl/keyctl/internal/pgpkey"
	"github.com/keyctl/keyctl/internal/provenance"
	"github.com/keyctl/keyctl/internal/revoke"
	"github.com/keyctl/keyctl/internal/ring"
	"github.com/keyctl/keyctl/internal/root"
	"github.com/keyctl/keyctl/internal/testutil/charts"
)

// engineKey makes an Ed25519 key whose primary signs, valid for lifetime.
func engineKey(t *testing.T, dir, name string, made time.Time, lifetime time.Duration) *auditKey {
	return engineKeyAlgo(t, dir, name, made, lifetime, packet.PubKeyAlgoEd25519)
}

// engineKeyAlgo is engineKey with another algorithm (RSA: 3072 bits).
func engineKeyAlgo(t *testing.T, dir, name string, made time.Time, lifetime time.Duration, algo packet.PublicKeyAlgorithm) *auditKey {
	t.Helper()
	cfg := &packet.Config{Algorithm: algo, RSABits: 3072, KeyLifetimeSecs: uint32(lifetime / time.Second), Time: func() time.Time { return made }}
	e, err := openpgp.NewEntity(name, "", name+"@example.org", cfg)
	if err != nil {
		t.Fatal(err)
	}
	pub, err := pgpkey.SerializePublic(e, true)
	if err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(dir, name+".pgp")
	if err := os.WriteFile(file, pub, 0o644); err != nil {
		t.Fatal(err)
	}
	return &auditKey{secret: e, fpr: pgpkey.Fingerprint(e), file: file}
}

// clearsignText signs text as Helm would, with hash h. go-crypto never
// writes a hash it deems too short (SHA-224): the signature packet is then
// made by hand over the same canonical text, and the armor header set.
func clearsignText(t *testing.T, k *auditKey, text []byte, h crypto.Hash, at time.Time) []byte {
	t.Helper()
	var b bytes.Buffer
	w, err := clearsign.Encode(&b, k.secret.PrivateKey, &packet.Config{DefaultHash: h, Time: func() time.Time { return at }})
	if err != nil {
		t.Fatal(err)
	}
	w.Write(text)
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if h != crypto.SHA224 {
		return b.Bytes()
	}
	blk, _ := clearsign.Decode(b.Bytes())
	priv := k.secret.PrivateKey
	sig := &packet.Signature{Version: priv.Version, SigType: packet.SigTypeText, PubKeyAlgo: priv.PubKeyAlgo, Hash: crypto.SHA224,
		CreationTime: at, IssuerKeyId: &priv.KeyId, IssuerFingerprint: priv.Fingerprint}
	hh, err := sig.PrepareSign(nil)
	if err != nil {
		t.Fatal(err)
	}
	hh.Write(blk.Bytes)
	if err := sig.Sign(hh, priv, nil); err != nil {
		t.Fatal(err)
	}
	var bin bytes.Buffer
	if err := sig.Serialize(&bin); err != nil {
		t.Fatal(err)
	}
	head := b.Bytes()[:bytes.Index(b.Bytes(), []byte("-----BEGIN PGP SIGNATURE-----"))]
	head = bytes.Replace(head, []byte("Hash: SHA256"), []byte("Hash: SHA224"), 1)
	var out bytes.Buffer
	out.Write(head)
	aw, err := armor.Encode(&out, "PGP SIGNATURE", nil)
	if err != nil {
		t.Fatal(err)
	}
	aw.Write(bin.Bytes())
	aw.Close()
	out.WriteString("\n")
	return out.Bytes()
}

// provText is the text Helm signs for a clean chart name-version, listing
// the digest of archive (which may be a hostile one).
func provText(t *testing.T, name, version string, archive []byte) []byte {
	t.Helper()
	clean, err := charts.Archive(charts.Spec{Name: name, Version: version})
	if err != nil {
		t.Fatal(err)
	}
	a, err := provenance.ReadArchive(bytes.NewReader(clean), provenance.DefaultLimits)
	if err != nil {
		t.Fatal(err)
	}
	msg, err := provenance.Message(a, name+"-"+version+".tgz")
	if err != nil {
		t.Fatal(err)
	}
	cs, as := sha256.Sum256(clean), sha256.Sum256(archive)
	return bytes.Replace(msg, []byte(hex.EncodeToString(cs[:])), []byte(hex.EncodeToString(as[:])), 1)
}

// twoSignatures joins the signatures of two .prov files over the same text
// into one .prov.
func twoSignatures(t *testing.T, a, b []byte) []byte {
	t.Helper()
	ba, _ := clearsign.Decode(a)
	bb, _ := clearsign.Decode(b)
	if ba == nil || bb == nil || !bytes.Equal(ba.Bytes, bb.Bytes) {
		t.Fatal("two .prov files over different texts")
	}
	var sigs bytes.Buffer
	for _, blk := range []*clearsign.Block{ba, bb} {
		if _, err := sigs.ReadFrom(blk.ArmoredSignature.Body); err != nil {
			t.Fatal(err)
		}
	}
	i := bytes.Index(a, []byte("-----BEGIN PGP SIGNATURE-----"))
	var out bytes.Buffer
	out.Write(a[:i])
	w, err := armor.Encode(&out, "PGP SIGNATURE", nil)
	if err != nil {
		t.Fatal(err)
	}
	w.Write(sigs.Bytes())
	w.Close()
	out.WriteString("\n")
	return out.Bytes()
}

type tgzEntry struct {
	name, body, link string
	typ              byte
}

func tgz(t *testing.T, entries ...tgzEntry) []byte {
	t.Helper()
	var buf bytes.Buffer
	gz := gzip.NewWriter(&buf)
	tw := tar.NewWriter(gz)
	for _, e := range entries {
		typ := e.typ
		if typ == 0 {
			typ = tar.TypeReg
		}
		hd := &tar.Header{Name: e.name, Typeflag: typ, Mode: 0o644, Linkname: e.link}
		if typ == tar.TypeReg {
			hd.Size = int64(len(e.body))
		}
		if err := tw.WriteHeader(hd); err != nil {
			t.Fatal(err)
		}
		if typ == tar.TypeReg {
			tw.Write([]byte(e.body))
		}
	}
	tw.Close()
	gz.Close()
	return buf.Bytes()
}

func chartYAML(name, version string) string {
	return fmt.Sprintf("apiVersion: v2\nname: %s\nversion: %s\n", name, version)
}

func TestVerifyAndAuditAgree(t *testing.T) {
	cs := newCLIStore(t, "responder@example.org")
	work, store, k, mustRun := cs.work, cs.store, cs.args, cs.mustRun
	out := mustRun("root", "create", "--name", "root", "--secret-out", filepath.Join(work, "root.key"), "--public-out", filepath.Join(work, "root.pub"), "--no-passphrase")
	m := regexp.MustCompile(`[0-9A-F]{40}`).FindString(out)
	if m == "" {
		t.Fatalf("root create printed no fingerprint:\n%s", out)
	}
	rootFpr := m
	mustRun("init", "--repository", "charts.example.org", "--root-key", filepath.Join(work, "root.pub"))

	real := time.Now().UTC().Truncate(time.Second)
	made := real.Add(-20 * 24 * time.Hour)
	signAt := made.Add(time.Hour)
	year := 365 * 24 * time.Hour
	nginx := engineKey(t, work, "nginx", made, year)
	active := engineKey(t, work, "active", made, year)
	comp := engineKey(t, work, "comp", made, year)
	retired := engineKey(t, work, "retired", made, year)
	expiring := engineKey(t, work, "expiring", made, 30*24*time.Hour) // expires 10 days from now
	stranger := engineKey(t, work, "stranger", made, year)
	// Retired with its own revocation signature attached, dated before it
	// signed: the soft-removal rule decides, not the revocation's date.
	selfRevoked := engineKey(t, work, "selfrevoked", made, year)
	// go-crypto writes SHA-224 with an RSA key only (EdDSA needs 256 bits).
	rsa := engineKeyAlgo(t, work, "rsa", made, year, packet.PubKeyAlgoRSA)
	mustRun("add", nginx.file, "--reason", "maintainer", "--scope", "nginx-*")
	for _, key := range []*auditKey{active, comp, retired, expiring, rsa, selfRevoked} {
		mustRun("add", key.file, "--reason", "maintainer")
	}

	repo := filepath.Join(work, "repo")
	os.MkdirAll(filepath.Join(repo, "charts"), 0o755)
	type tcase struct {
		chart, version string
		want           revoke.Status // the verdict both must give
		ledgerTrusted  bool          // trusted only thanks to the ledger (verify has none)
	}
	var cases []tcase
	put := func(c tcase, archive, prov []byte) {
		t.Helper()
		p := filepath.Join(repo, "charts", c.chart+"-"+c.version+".tgz")
		if err := os.WriteFile(p, archive, 0o644); err != nil {
			t.Fatal(err)
		}
		if prov != nil {
			if err := os.WriteFile(p+".prov", prov, 0o644); err != nil {
				t.Fatal(err)
			}
		}
		cases = append(cases, c)
	}
	clean := func(name, version string) []byte {
		data, err := charts.Archive(charts.Spec{Name: name, Version: version})
		if err != nil {
			t.Fatal(err)
		}
		return data
	}
	signed := func(key *auditKey, name, version string, archive []byte, h crypto.Hash, at time.Time) []byte {
		return clearsignText(t, key, provText(t, name, version, archive), h, at)
	}
	// Hostile archives, each signed by the nginx-* key.
	hostile := map[string][]byte{
		"nginx-dup": tgz(t, tgzEntry{name: "nginx-dup/Chart.yaml", body: chartYAML("nginx-dup", "1.0.0")},
			tgzEntry{name: "nginx-dup/Chart.yaml", body: chartYAML("redis", "1.0.0")}),
		"nginx-two": tgz(t, tgzEntry{name: "nginx-two/Chart.yaml", body: chartYAML("nginx-two", "1.0.0")},
			tgzEntry{name: "redis/Chart.yaml", body: chartYAML("redis", "1.0.0")}),
		"nginx-sym": tgz(t, tgzEntry{name: "nginx-sym/Chart.yaml", body: chartYAML("nginx-sym", "1.0.0")},
			tgzEntry{name: "nginx-sym/templates/x.yaml", typ: tar.TypeSymlink, link: "/etc/passwd"}),
		"nginx-hard": tgz(t, tgzEntry{name: "nginx-hard/Chart.yaml", body: chartYAML("nginx-hard", "1.0.0")},
			tgzEntry{name: "nginx-hard/values.yaml", typ: tar.TypeLink, link: "nginx-hard/Chart.yaml"}),
	}
	for name, data := range hostile {
		put(tcase{chart: name, version: "1.0.0", want: revoke.Invalid}, data, signed(nginx, name, "1.0.0", data, crypto.SHA512, signAt))
	}
	a := clean("nginx-ok", "1.0.0")
	put(tcase{chart: "nginx-ok", version: "1.0.0", want: revoke.Trusted}, a, signed(nginx, "nginx-ok", "1.0.0", a, crypto.SHA512, signAt))
	a = clean("weak", "1.0.0")
	weak := signed(rsa, "weak", "1.0.0", a, crypto.SHA224, signAt)
	if wp, err := provenance.Parse(weak); err != nil {
		t.Fatal(err)
	} else if _, err := wp.Verify(openpgp.EntityList{rsa.secret}, &packet.Config{RejectMessageHashAlgorithms: map[crypto.Hash]bool{}, Time: func() time.Time { return signAt.Add(time.Hour) }}); err != nil {
		t.Fatalf("the SHA-224 .prov does not verify where SHA-224 is allowed: %v", err)
	}
	put(tcase{chart: "weak", version: "1.0.0", want: revoke.BadSignature}, a, weak)
	a = clean("rsa", "1.0.0")
	put(tcase{chart: "rsa", version: "1.0.0", want: revoke.Trusted}, a, signed(rsa, "rsa", "1.0.0", a, crypto.SHA512, signAt))
	a = clean("double", "1.0.0")
	put(tcase{chart: "double", version: "1.0.0", want: revoke.Compromised}, a,
		twoSignatures(t, signed(comp, "double", "1.0.0", a, crypto.SHA512, signAt), signed(active, "double", "1.0.0", a, crypto.SHA512, signAt)))
	a = clean("double", "2.0.0")
	put(tcase{chart: "double", version: "2.0.0", want: revoke.UnknownSigner}, a,
		twoSignatures(t, signed(active, "double", "2.0.0", a, crypto.SHA512, signAt), signed(stranger, "double", "2.0.0", a, crypto.SHA512, signAt)))
	a = clean("tampered", "1.0.0")
	prov := signed(active, "tampered", "1.0.0", a, crypto.SHA512, signAt)
	evil, _ := charts.Archive(charts.Spec{Name: "tampered", Version: "1.0.0", Files: map[string]string{"templates/evil.yaml": "# evil\n"}})
	put(tcase{chart: "tampered", version: "1.0.0", want: revoke.HashMismatch}, evil, prov)
	a = clean("stranger", "1.0.0")
	put(tcase{chart: "stranger", version: "1.0.0", want: revoke.UnknownSigner}, a, signed(stranger, "stranger", "1.0.0", a, crypto.SHA512, signAt))
	a = clean("redis", "1.0.0")
	put(tcase{chart: "redis", version: "1.0.0", want: revoke.OutOfScope}, a, signed(nginx, "redis", "1.0.0", a, crypto.SHA512, signAt))
	a = clean("active", "1.0.0")
	put(tcase{chart: "active", version: "1.0.0", want: revoke.Trusted}, a, signed(active, "active", "1.0.0", a, crypto.SHA512, signAt))
	a = clean("unsigned", "1.0.0")
	put(tcase{chart: "unsigned", version: "1.0.0", want: revoke.Unsigned}, a, nil)
	// Recorded in the ledger before the retirement and the expiry.
	a = clean("retired-early", "1.0.0")
	put(tcase{chart: "retired-early", version: "1.0.0", want: revoke.Trusted, ledgerTrusted: true}, a, signed(retired, "retired-early", "1.0.0", a, crypto.SHA512, signAt))
	a = clean("expired-early", "1.0.0")
	put(tcase{chart: "expired-early", version: "1.0.0", want: revoke.Trusted, ledgerTrusted: true}, a, signed(expiring, "expired-early", "1.0.0", a, crypto.SHA512, signAt))
	a = clean("revoked-early", "1.0.0")
	put(tcase{chart: "revoked-early", version: "1.0.0", want: revoke.Trusted, ledgerTrusted: true}, a, signed(selfRevoked, "revoked-early", "1.0.0", a, crypto.SHA512, signAt))
	writeIndex(t, repo)
	mustRun("ledger", "record", "--repo", repo)
	time.Sleep(1100 * time.Millisecond) // the effective time follows the ledger's second
	mustRun("remove", comp.fpr, "--reason", "compromised")
	mustRun("remove", retired.fpr, "--reason", "retired")
	if err := selfRevoked.secret.Revoke(packet.KeyRetired, "retired", &packet.Config{Time: func() time.Time { return made.Add(30 * time.Minute) }}); err != nil {
		t.Fatal(err)
	}
	var rev bytes.Buffer
	if err := selfRevoked.secret.Revocations[len(selfRevoked.secret.Revocations)-1].Packet.Serialize(&rev); err != nil {
		t.Fatal(err)
	}
	revFile := filepath.Join(work, "selfrevoked.rev")
	if err := os.WriteFile(revFile, rev.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	mustRun("remove", selfRevoked.fpr, "--reason", "retired", "--revocation", revFile)
	a = clean("revoked-late", "1.0.0")
	put(tcase{chart: "revoked-late", version: "1.0.0", want: revoke.RemovedKey}, a, signed(selfRevoked, "revoked-late", "1.0.0", a, crypto.SHA512, signAt))
	// Not in the ledger: signed (by their own claim) before, but nothing backs it.
	a = clean("retired-late", "1.0.0")
	put(tcase{chart: "retired-late", version: "1.0.0", want: revoke.RemovedKey}, a, signed(retired, "retired-late", "1.0.0", a, crypto.SHA512, signAt))
	a = clean("expired-late", "1.0.0")
	put(tcase{chart: "expired-late", version: "1.0.0", want: revoke.KeyExpired}, a, signed(expiring, "expired-late", "1.0.0", a, crypto.SHA512, signAt))
	writeIndex(t, repo)
	// publish warns early of the key about to expire (and of no other).
	_, errs, code := keyctlRun(t, k("publish", "--to", repo, "--root-key", filepath.Join(work, "root.key"))...)
	if code != 0 || !strings.Contains(errs, "keyctl: warning: maintainer key "+expiring.fpr+" expires") ||
		!strings.Contains(errs, "keyctl update") || strings.Count(errs, "maintainer key") != 1 {
		t.Fatalf("publish: exit %d, want one warning about key %s\n%s", code, expiring.fpr, errs)
	}

	// Judged 15 days from now: the expiring key has expired 5 days before.
	now := real.Add(15 * 24 * time.Hour)
	ctx := context.Background()
	tr, err := client.Load(ctx, client.Options{Location: repo, Pins: root.Pins{Fingerprints: []string{rootFpr}}, Now: func() time.Time { return now }})
	if err != nil {
		t.Fatal(err)
	}
	st, err := ring.Open(store, ring.Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	ledger, err := st.Ledger()
	st.Close()
	if err != nil {
		t.Fatal(err)
	}
	ks, err := revoke.FromTrusted(tr)
	if err != nil {
		t.Fatal(err)
	}
	rep, err := revoke.Audit(ctx, revoke.Options{Repository: repo, Keys: ks, Ledger: ledger, Now: func() time.Time { return now }})
	if err != nil {
		t.Fatal(err)
	}
	audited := map[string]revoke.Result{}
	for _, r := range rep.Results {
		audited[r.Chart+" "+r.Version] = r
	}
	if len(audited) != len(cases) || len(cases) < 17 {
		t.Fatalf("audit saw %d releases, the corpus has %d", len(audited), len(cases))
	}
	t.Setenv("KEYCTL_NOW", now.Format(time.RFC3339))
	for _, c := range cases {
		id := c.chart + " " + c.version
		file := filepath.Join(repo, "charts", c.chart+"-"+c.version+".tgz")
		// verify's path: what `keyctl verify FILE` does, with the ledger's
		// first-seen time when it has a record of these bytes.
		got := verifyPath(t, tr, file, ledger[[2]string{c.chart, c.version}])
		au := audited[id]
		if got != c.want || au.Status != c.want {
			t.Errorf("%s: verify says %s, audit says %s (%s), want %s", id, got, au.Status, au.Detail, c.want)
		}
		// The command itself, where no ledger is involved.
		if c.ledgerTrusted {
			continue
		}
		_, errs, code := keyctlRun(t, "verify", file, "--repo", repo, "--root", rootFpr, "--state", filepath.Join(work, "vstate"))
		if (code == 0) != (au.Status == revoke.Trusted) {
			t.Errorf("%s: keyctl verify exits %d, audit says %s\n%s", id, code, au.Status, errs)
		}
	}
}

// verifyPath is keyctl verify's decision on a local archive file.
func verifyPath(t *testing.T, tr *client.Trusted, file string, le ring.LedgerEntry) revoke.Status {
	t.Helper()
	data, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	ar, err := provenance.ReadArchive(bytes.NewReader(data), provenance.DefaultLimits)
	if err != nil {
		return revoke.Invalid
	}
	var p *provenance.Prov
	pd, err := os.ReadFile(file + ".prov")
	if err == nil {
		if p, err = provenance.Parse(pd); err != nil {
			return revoke.Invalid
		}
	}
	var firstSeen *time.Time
	ps := sha256.Sum256(pd)
	if le.ArchiveSHA256 == hex.EncodeToString(ar.SHA256[:]) && le.ProvSHA256 == hex.EncodeToString(ps[:]) {
		firstSeen = &le.FirstSeen
	}
	d := tr.Check(p, filepath.Base(file), ar, firstSeen)
	if d.Trusted != (revoke.AuditStatus(d) == revoke.Trusted) {
		t.Errorf("%s: decision %+v maps to %s", file, d, revoke.AuditStatus(d))
	}
	if d.Status == client.StatusKeyExpired && d.KeyExpires == "" {
		t.Errorf("%s: expired key without its expiry time", file)
	}
	return revoke.AuditStatus(d)
}

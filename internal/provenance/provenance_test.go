package provenance_test

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"errors"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ProtonMail/go-crypto/openpgp/clearsign"
	"github.com/ProtonMail/go-crypto/openpgp/packet"
	openpgp "github.com/ProtonMail/go-crypto/openpgp/v2"

	"github.com/keyctl/keyctl/internal/fail"
	"github.com/keyctl/keyctl/internal/pgpkey"
	"github.com/keyctl/keyctl/internal/provenance"
	"github.com/keyctl/keyctl/internal/testutil/charts"
)

var t0 = time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC)

func at(t time.Time) *packet.Config {
	return &packet.Config{Time: func() time.Time { return t }}
}

// newEntity makes an Ed25519 (legacy EdDSA) key at created, with a
// lifetime (0: none). Its primary key may sign.
func newEntity(t testing.TB, name string, created time.Time, lifetime time.Duration) *openpgp.Entity {
	t.Helper()
	cfg := &packet.Config{Algorithm: packet.PubKeyAlgoEdDSA, Time: func() time.Time { return created }, KeyLifetimeSecs: uint32(lifetime / time.Second)}
	e, err := openpgp.NewEntity(name, "", name+"@example.org", cfg)
	if err != nil {
		t.Fatal(err)
	}
	return e
}

func publicOnly(t testing.TB, e *openpgp.Entity) openpgp.EntityList {
	t.Helper()
	bin, err := pgpkey.SerializePublic(e, false)
	if err != nil {
		t.Fatal(err)
	}
	el, err := pgpkey.ReadKeyring(bin, pgpkey.MaxKeyringSize)
	if err != nil {
		t.Fatal(err)
	}
	return el
}

func mustArchive(t testing.TB, s charts.Spec) []byte {
	t.Helper()
	b, err := charts.Archive(s)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func mustRead(t testing.TB, b []byte) *provenance.Archive {
	t.Helper()
	a, err := provenance.ReadArchive(bytes.NewReader(b), provenance.Limits{})
	if err != nil {
		t.Fatal(err)
	}
	return a
}

func mustSign(t testing.TB, e *openpgp.Entity, a *provenance.Archive, name string, now time.Time) *provenance.Prov {
	t.Helper()
	b, err := provenance.Sign(e, a, name, now)
	if err != nil {
		t.Fatal(err)
	}
	p, err := provenance.Parse(b)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func wantKind(t *testing.T, err error, kind fail.Kind) {
	t.Helper()
	if err == nil {
		t.Fatal("no error")
	}
	if got := fail.KindOf(err); got != kind {
		t.Errorf("error %q has kind %v, want %v", err, got, kind)
	}
	if len(fail.HintsOf(err)) == 0 {
		t.Errorf("error %q has no hint", err)
	}
}

func TestSignVerifyCheck(t *testing.T) {
	e := newEntity(t, "alice", t0, 0)
	tgz := mustArchive(t, charts.Spec{Name: "web", Version: "1.0.0"})
	a := mustRead(t, tgz)
	if a.Name != "web" || a.Version != "1.0.0" || a.Dir != "web" || a.Size != int64(len(tgz)) || a.SHA256 != sha256.Sum256(tgz) {
		t.Fatalf("archive read as %s %s dir %s size %d", a.Name, a.Version, a.Dir, a.Size)
	}
	for _, f := range []string{"Chart.yaml", "values.yaml", "templates/configmap.yaml", ".helmignore"} {
		if _, ok := a.Files[f]; !ok {
			t.Errorf("archive lacks %s: %v", f, a.Files)
		}
	}
	sum, n, err := provenance.DigestArchive(bytes.NewReader(tgz), 1<<20)
	if err != nil || sum != a.SHA256 || n != a.Size {
		t.Errorf("DigestArchive = %x %d %v", sum, n, err)
	}
	now := t0.Add(time.Hour)
	p := mustSign(t, e, a, "web-1.0.0.tgz", now)
	if p.Name != "web" || p.Version != "1.0.0" || len(p.Files) != 1 {
		t.Errorf("prov names %s %s files %v", p.Name, p.Version, p.Files)
	}
	sig, err := p.Verify(publicOnly(t, e), at(now.Add(time.Minute)))
	if err != nil {
		t.Fatal(err)
	}
	if sig.PrimaryFingerprint != pgpkey.Fingerprint(e) || !sig.Created.Equal(now) || sig.Hash.String() != "SHA-512" || !sig.ValidNow {
		t.Errorf("signature %+v", sig)
	}
	if err := p.CheckArchive("web-1.0.0.tgz", a.SHA256[:]); err != nil {
		t.Error(err)
	}
	if err := p.CheckChart(a); err != nil {
		t.Error(err)
	}
	if iss := p.Issuers(); len(iss) != 1 || iss[0].Fingerprint != sig.KeyFingerprint || !strings.HasSuffix(iss[0].Fingerprint, iss[0].KeyID) {
		t.Errorf("issuers %v", iss)
	}
}

func TestRefusals(t *testing.T) {
	alice := newEntity(t, "alice", t0, 0)
	mallory := newEntity(t, "mallory", t0, 0)
	now := t0.Add(time.Hour)
	tgzA := mustArchive(t, charts.Spec{Name: "web", Version: "1.0.0"})
	tgzB := mustArchive(t, charts.Spec{Name: "web", Version: "1.0.1"})
	a, b := mustRead(t, tgzA), mustRead(t, tgzB)
	pa := mustSign(t, alice, a, "web-1.0.0.tgz", now)
	ring := publicOnly(t, alice)

	t.Run("one changed byte", func(t *testing.T) {
		bad := bytes.Clone(tgzA)
		bad[len(bad)/2] ^= 1
		sum, _, err := provenance.DigestArchive(bytes.NewReader(bad), 1<<20)
		if err != nil {
			t.Fatal(err)
		}
		err = pa.CheckArchive("web-1.0.0.tgz", sum[:])
		var hm *provenance.HashMismatchError
		if !errors.As(err, &hm) || hm.Name != "web-1.0.0.tgz" {
			t.Fatalf("CheckArchive = %v, want HashMismatchError", err)
		}
		wantKind(t, err, fail.Untrusted)
		if ra, err := provenance.ReadArchive(bytes.NewReader(bad), provenance.Limits{}); err == nil && ra.SHA256 == a.SHA256 {
			t.Error("ReadArchive of a changed archive gives the same sum")
		}
	})
	t.Run("prov of another release", func(t *testing.T) {
		err := pa.CheckChart(b)
		var cm *provenance.ChartMismatchError
		if !errors.As(err, &cm) || cm.ProvVersion != "1.0.0" || cm.ArchiveVersion != "1.0.1" {
			t.Fatalf("CheckChart = %v", err)
		}
		wantKind(t, err, fail.Untrusted)
		// Renamed to pass as the other release: the hash no longer matches.
		var hm *provenance.HashMismatchError
		if err := pa.CheckArchive("web-1.0.0.tgz", b.SHA256[:]); !errors.As(err, &hm) {
			t.Errorf("CheckArchive = %v, want HashMismatchError", err)
		}
		if err := pa.CheckArchive("web-1.0.1.tgz", b.SHA256[:]); !errors.Is(err, provenance.ErrNotListed) {
			t.Errorf("CheckArchive = %v, want ErrNotListed", err)
		}
	})
	t.Run("unknown signer", func(t *testing.T) {
		pm := mustSign(t, mallory, a, "web-1.0.0.tgz", now)
		_, err := pm.Verify(ring, at(now))
		iss, ok := provenance.IsUnknownSigner(err)
		if !ok || len(iss) != 1 || iss[0].Fingerprint != pgpkey.Fingerprint(mallory) {
			t.Fatalf("Verify = %v (issuers %v), want UnknownSignerError naming %s", err, iss, pgpkey.Fingerprint(mallory))
		}
		if !strings.Contains(err.Error(), pgpkey.Fingerprint(mallory)) {
			t.Errorf("message %q does not name the signer", err)
		}
		wantKind(t, err, fail.Untrusted)
	})
	t.Run("tampered text", func(t *testing.T) {
		raw, err := provenance.Sign(alice, a, "web-1.0.0.tgz", now)
		if err != nil {
			t.Fatal(err)
		}
		for _, edit := range [][2]string{{"version: 1.0.0", "version: 1.0.2"}, {"sha256:", "sha256:0"}} {
			bad := strings.Replace(string(raw), edit[0], edit[1], 1)
			if edit[1] == "sha256:0" {
				// keep 64 hex digits so that Parse accepts it
				i := strings.Index(bad, "sha256:0") + len("sha256:0")
				bad = bad[:i] + bad[i+1:]
			}
			if bad == string(raw) {
				t.Fatalf("edit %q changed nothing", edit)
			}
			p, err := provenance.Parse([]byte(bad))
			if err != nil {
				t.Fatalf("Parse after edit %q: %v", edit, err)
			}
			_, err = p.Verify(ring, at(now))
			var se *provenance.SignatureError
			if !errors.Is(err, provenance.ErrBadSignature) || !errors.As(err, &se) || se.PrimaryFingerprint != pgpkey.Fingerprint(alice) {
				t.Errorf("Verify after edit %q = %v, want ErrBadSignature", edit, err)
			}
			wantKind(t, err, fail.Untrusted)
		}
	})
	t.Run("signature from the future", func(t *testing.T) {
		_, err := pa.Verify(ring, at(now.Add(-time.Minute)))
		if !errors.Is(err, provenance.ErrSignatureTime) {
			t.Errorf("Verify = %v, want ErrSignatureTime", err)
		}
	})
}

// Key validity is judged at the signature's time; later changes show in
// ValidNow, and a compromise revokes every signature.
func TestKeyTimes(t *testing.T) {
	a := mustRead(t, mustArchive(t, charts.Spec{Name: "web", Version: "1.0.0"}))
	day := 24 * time.Hour

	e := newEntity(t, "expiring", t0, day)
	p := mustSign(t, e, a, "web.tgz", t0.Add(time.Hour))
	sig, err := p.Verify(publicOnly(t, e), at(t0.Add(3*day)))
	if err != nil {
		t.Fatalf("signature made while the key was valid: %v", err)
	}
	if sig.ValidNow {
		t.Error("ValidNow is true for a key that has expired since")
	}
	if _, err := provenance.Sign(e, a, "web.tgz", t0.Add(2*day)); err == nil {
		t.Error("Sign with an expired key succeeded")
	}
	// A signature made after expiry, bypassing Sign.
	var buf bytes.Buffer
	w, err := clearsign.Encode(&buf, e.PrivateKey, at(t0.Add(2*day)))
	if err != nil {
		t.Fatal(err)
	}
	msg, _ := provenance.Message(a, "web.tgz")
	w.Write(msg)
	w.Close()
	late, err := provenance.Parse(buf.Bytes())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := late.Verify(publicOnly(t, e), at(t0.Add(3*day))); !errors.Is(err, provenance.ErrKeyExpired) {
		t.Errorf("signature made after expiry: Verify = %v, want ErrKeyExpired", err)
	}

	for _, tc := range []struct {
		reason packet.ReasonForRevocation
		ok     bool
	}{{packet.KeySuperseded, true}, {packet.KeyRetired, true}, {packet.KeyCompromised, false}} {
		e := newEntity(t, "revoked", t0, 0)
		p := mustSign(t, e, a, "web.tgz", t0.Add(time.Hour))
		if err := e.Revoke(tc.reason, "test", at(t0.Add(day))); err != nil {
			t.Fatal(err)
		}
		sig, err := p.Verify(publicOnly(t, e), at(t0.Add(2*day)))
		switch {
		case tc.ok && (err != nil || sig.ValidNow):
			t.Errorf("reason %d: signature before a soft revocation: %v (ValidNow %v)", tc.reason, err, sig != nil && sig.ValidNow)
		case !tc.ok && !errors.Is(err, provenance.ErrKeyRevoked):
			t.Errorf("reason %d: Verify = %v, want ErrKeyRevoked", tc.reason, err)
		}
		// The revocation's date, not the signature's, says since when the
		// key is no longer valid.
		want := map[packet.ReasonForRevocation]string{packet.KeySuperseded: provenance.InvalidSuperseded, packet.KeyRetired: provenance.InvalidRetired}[tc.reason]
		if tc.ok && sig != nil && (!sig.InvalidSince.Equal(t0.Add(day)) || sig.InvalidReason != want) {
			t.Errorf("reason %d: invalid since %v (%q), want %v (%q)", tc.reason, sig.InvalidSince, sig.InvalidReason, t0.Add(day), want)
		}
	}
}

func TestSignLockedKey(t *testing.T) {
	e := newEntity(t, "locked", t0, 0)
	if err := e.EncryptPrivateKeys([]byte("secret passphrase"), nil); err != nil {
		t.Fatal(err)
	}
	a := mustRead(t, mustArchive(t, charts.Spec{Name: "web", Version: "1.0.0"}))
	_, err := provenance.Sign(e, a, "web.tgz", t0.Add(time.Hour))
	if !errors.Is(err, provenance.ErrLockedKey) {
		t.Fatalf("Sign = %v, want ErrLockedKey", err)
	}
	if strings.Contains(err.Error(), "secret passphrase") {
		t.Error("error shows the passphrase")
	}
	// A public key alone cannot sign either.
	if _, err := provenance.Sign(publicOnly(t, e)[0], a, "web.tgz", t0.Add(time.Hour)); err == nil || !strings.Contains(err.Error(), "no secret") {
		t.Errorf("Sign with a public key = %v", err)
	}
}

func validProv(t testing.TB) []byte {
	t.Helper()
	e := newEntity(t, "alice", t0, 0)
	a := mustRead(t, mustArchive(t, charts.Spec{Name: "web", Version: "1.0.0"}))
	b, err := provenance.Sign(e, a, "web-1.0.0.tgz", t0.Add(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestParseRefuses(t *testing.T) {
	good := validProv(t)
	if _, err := provenance.Parse(good); err != nil {
		t.Fatal(err)
	}
	sigStart := bytes.Index(good, []byte("-----BEGIN PGP SIGNATURE"))
	replaceText := func(old, new string) []byte {
		// re-sign is not needed: Parse does not verify
		return bytes.Replace(good, []byte(old), []byte(new), 1)
	}
	pubKeyArmor, _ := pgpkey.Armor("PGP SIGNATURE", mustSerializeKey(t))
	cases := map[string][]byte{
		"empty":            nil,
		"garbage":          []byte("hello world\n"),
		"truncated":        good[:len(good)/2],
		"no signature end": good[:len(good)-30],
		"trailing junk":    append(bytes.Clone(good), "junk\n"...),
		"two blocks":       append(bytes.Clone(good), good...),
		"leading junk":     append([]byte("junk\n"), good...),
		"no ... line":      replaceText("\n...\n", "\n"),
		"three parts":      replaceText("files:", "...\nfiles:"),
		"no files":         replaceText("files:", "filez:"),
		"bad sum":          replaceText("sha256:", "sha1:"),
		"no name":          replaceText("name: web", "nome: web"),
		"path in files":    replaceText("web-1.0.0.tgz:", "../web-1.0.0.tgz:"),
		"not a signature":  append(bytes.Clone(good[:sigStart]), pubKeyArmor...),
		"too large":        append(bytes.Clone(good), bytes.Repeat([]byte(" "), provenance.MaxProvSize)...),
	}
	for name, data := range cases {
		if _, err := provenance.Parse(data); err == nil {
			t.Errorf("%s: Parse accepted it", name)
		} else if !errors.Is(err, provenance.ErrMalformed) || fail.KindOf(err) != fail.Input {
			t.Errorf("%s: error %v is not an Input ErrMalformed", name, err)
		}
	}
	// White space around the block is fine.
	if _, err := provenance.Parse(append(append([]byte("\n\n"), good...), "\n\n"...)); err != nil {
		t.Errorf("white space around the block: %v", err)
	}
}

func mustSerializeKey(t testing.TB) []byte {
	t.Helper()
	b, err := pgpkey.SerializePublic(newEntity(t, "x", t0, 0), true)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

type entry struct {
	name     string
	typ      byte
	body     string
	size     int64 // when non-zero, a header size different from len(body)
	linkname string
}

func makeTgz(t testing.TB, entries []entry) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	tw := tar.NewWriter(zw)
	for _, e := range entries {
		typ := e.typ
		if typ == 0 {
			typ = tar.TypeReg
		}
		size := int64(len(e.body))
		if typ != tar.TypeReg {
			size = 0
		}
		if e.size != 0 {
			size = e.size
		}
		if err := tw.WriteHeader(&tar.Header{Name: e.name, Typeflag: typ, Size: size, Mode: 0o644, Linkname: e.linkname, Format: tar.FormatPAX}); err != nil {
			t.Fatal(err)
		}
		if typ == tar.TypeReg {
			body := []byte(e.body)
			if e.size != 0 {
				body = make([]byte, e.size)
			}
			if _, err := tw.Write(body); err != nil {
				t.Fatal(err)
			}
		}
	}
	tw.Close()
	zw.Close()
	return buf.Bytes()
}

const chartYAML = "apiVersion: v2\nname: web\nversion: 1.0.0\n"

func TestReadArchiveRefuses(t *testing.T) {
	ok := []entry{{name: "web/Chart.yaml", body: chartYAML}, {name: "web/templates/a.yaml", body: "a: 1\n"}}
	if _, err := provenance.ReadArchive(bytes.NewReader(makeTgz(t, ok)), provenance.Limits{}); err != nil {
		t.Fatalf("a good archive: %v", err)
	}
	with := func(extra ...entry) []entry { return append(append([]entry(nil), ok...), extra...) }
	zeros := func(n int) []byte {
		var b bytes.Buffer
		zw, _ := gzip.NewWriterLevel(&b, gzip.BestSpeed)
		zw.Write(make([]byte, n))
		zw.Close()
		return b.Bytes()
	}
	small := provenance.Limits{MaxUncompressed: 1 << 20, MaxFileSize: 512 << 10, MaxFiles: 50, MaxArchive: 64 << 10}
	many := []entry{{name: "web/Chart.yaml", body: chartYAML}}
	for i := 0; i < 60; i++ {
		many = append(many, entry{name: "web/f" + strings.Repeat("x", i), body: "x"})
	}
	spread := []entry{{name: "web/Chart.yaml", body: chartYAML}}
	for i := 0; i < 4; i++ {
		spread = append(spread, entry{name: "web/big" + strings.Repeat("x", i), size: 400 << 10})
	}
	cases := []struct {
		name string
		data []byte
		lim  provenance.Limits
		want string
	}{
		{"parent path", makeTgz(t, with(entry{name: "../evil", body: "x"})), provenance.Limits{}, "parent"},
		{"absolute path", makeTgz(t, with(entry{name: "/etc/evil", body: "x"})), provenance.Limits{}, "absolute"},
		{"dot-dot inside", makeTgz(t, with(entry{name: "web/templates/../../evil", body: "x"})), provenance.Limits{}, "not clean"},
		{"dot segment", makeTgz(t, with(entry{name: "./web/x", body: "x"})), provenance.Limits{}, "not clean"},
		{"second top dir", makeTgz(t, with(entry{name: "other/x", body: "x"})), provenance.Limits{}, "outside the chart directory"},
		{"top-level file", makeTgz(t, append([]entry{{name: "Chart.yaml", body: chartYAML}}, ok...)), provenance.Limits{}, "outside the chart directory"},
		{"symlink out", makeTgz(t, with(entry{name: "web/link", typ: tar.TypeSymlink, linkname: "/etc/passwd"})), provenance.Limits{}, "links"},
		{"hard link", makeTgz(t, with(entry{name: "web/link", typ: tar.TypeLink, linkname: "web/Chart.yaml"})), provenance.Limits{}, "links"},
		{"device", makeTgz(t, with(entry{name: "web/dev", typ: tar.TypeChar})), provenance.Limits{}, "not a regular file"},
		{"duplicate", makeTgz(t, with(entry{name: "web/templates/a.yaml", body: "b: 2\n"})), provenance.Limits{}, "twice"},
		{"backslash", makeTgz(t, with(entry{name: `web\..\..\evil`, body: "x"})), provenance.Limits{}, "backslash"},
		{"no Chart.yaml", makeTgz(t, ok[1:]), provenance.Limits{}, "no web/Chart.yaml"},
		{"bad Chart.yaml", makeTgz(t, []entry{{name: "web/Chart.yaml", body: "apiVersion: v2\nname: ../x\nversion: 1\n"}}), provenance.Limits{}, "not allowed"},
		{"file over 5 MiB", makeTgz(t, with(entry{name: "web/huge", size: 5<<20 + 1})), provenance.Limits{}, "per file"},
		{"too many files", makeTgz(t, many), small, "entries"},
		{"sum over limit", makeTgz(t, spread), small, "decompressed"},
		{"gzip bomb", zeros(8 << 20), small, "decompressed"},
		{"compressed over limit", zeros(8 << 20), provenance.Limits{MaxArchive: 1024}, "larger than 1024"},
		{"data after the archive", append(makeTgz(t, ok), "trailing"...), provenance.Limits{}, "after"},
		{"not gzip", []byte("Chart.yaml"), provenance.Limits{}, "not a gzip"},
		{"empty", nil, provenance.Limits{}, "not a gzip"},
		{"truncated", makeTgz(t, ok)[:100], provenance.Limits{}, "corrupt"},
	}
	for _, tc := range cases {
		_, err := provenance.ReadArchive(bytes.NewReader(tc.data), tc.lim)
		if err == nil {
			t.Errorf("%s: accepted", tc.name)
			continue
		}
		if !strings.Contains(err.Error(), tc.want) || fail.KindOf(err) != fail.Input {
			t.Errorf("%s: error %q (kind %v), want %q", tc.name, err, fail.KindOf(err), tc.want)
		}
	}
}

func TestCompareSource(t *testing.T) {
	dir := t.TempDir()
	src := charts.WriteSource(t, dir, charts.Spec{Name: "web", Version: "1.0.0", Files: map[string]string{
		"README.md": "# web\n", "templates/.hidden.yaml": "ignored by helm's default rule\n", "x.swp": "ignored by .helmignore\n",
	}})
	tgz := charts.Package(t, src, dir)
	a := readArchiveFile(t, tgz)
	for _, p := range []string{"templates/.hidden.yaml", "x.swp"} {
		if _, ok := a.Files[p]; ok {
			t.Errorf("packaged %s that helm ignores", p)
		}
	}
	diffs, err := provenance.CompareSource(a, src, provenance.CompareOptions{})
	if err != nil || len(diffs) != 0 {
		t.Fatalf("CompareSource = %v, %v", diffs, err)
	}
	diffs, err = provenance.CompareSource(a, src, provenance.CompareOptions{Version: "2.0.0"})
	if err != nil || len(diffs) != 1 || diffs[0].Path != "Chart.yaml" || !strings.Contains(diffs[0].Detail, "--version") {
		t.Errorf("CompareSource with another version = %v, %v", diffs, err)
	}
	charts.WriteSource(t, dir, charts.Spec{Name: "web", Version: "1.0.0", Files: map[string]string{
		"README.md": "# web, changed\n", "NOTES.txt": "new\n",
	}})
	diffs, err = provenance.CompareSource(a, src, provenance.CompareOptions{})
	if err != nil {
		t.Fatal(err)
	}
	got := []string{}
	for _, d := range diffs {
		got = append(got, d.String())
	}
	if strings.Join(got, "|") != "missing: NOTES.txt|changed: README.md" {
		t.Errorf("diffs %v", got)
	}
	// An archive with one more file than the source.
	srcFiles, err := provenance.LoadSource(src, provenance.CompareOptions{})
	if err != nil {
		t.Fatal(err)
	}
	extra, err := charts.WriteTgz("web", append(srcFiles.Files, provenance.SourceFile{Path: "templates/backdoor.yaml", Data: []byte("x")}))
	if err != nil {
		t.Fatal(err)
	}
	diffs, err = provenance.CompareSource(mustRead(t, extra), src, provenance.CompareOptions{})
	if err != nil || len(diffs) != 1 || diffs[0].Kind != provenance.Extra || diffs[0].Path != "templates/backdoor.yaml" {
		t.Errorf("extra file: %v, %v", diffs, err)
	}
	_ = filepath.Join
}

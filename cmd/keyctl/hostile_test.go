package main

// Hostile input through the real command (SPEC §7): every refusal is exit
// 1 or 2 with a message in keyctl's voice, memory stays bounded, and the
// store is left byte-identical.

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"encoding/binary"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"sort"
	"strings"
	"testing"
	"unicode/utf16"

	openpgp "github.com/ProtonMail/go-crypto/openpgp/v2"

	"github.com/keyctl/keyctl/internal/pgpkey"
	"github.com/keyctl/keyctl/internal/testutil/charts"
)

// hostileAllocLimit is a generous bound on what one refused command may
// allocate in total: every input cap here is 1 MiB (keys, config) or the
// chart limits (5 MiB a file, 100 MiB in all), and the hostile inputs are
// built to go far past them if a cap were missing.
const hostileAllocLimit = 256 << 20

func writeFile(t *testing.T, dir, name string, data []byte) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, data, 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func armorOf(t *testing.T, typ string, bin []byte) []byte {
	t.Helper()
	a, err := pgpkey.Armor(typ, bin)
	if err != nil {
		t.Fatal(err)
	}
	return a
}

func publicBytes(t *testing.T, e *openpgp.Entity) []byte {
	t.Helper()
	var b bytes.Buffer
	if err := e.Serialize(&b); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

func secretBytes(t *testing.T, e *openpgp.Entity) []byte {
	t.Helper()
	var b bytes.Buffer
	if err := e.SerializePrivate(&b, nil); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// utf16Armor re-encodes text as UTF-16LE with a byte-order mark, as some
// Windows tools save files.
func utf16Armor(text []byte) []byte {
	var b bytes.Buffer
	b.Write([]byte{0xff, 0xfe})
	for _, u := range utf16.Encode([]rune(string(text))) {
		binary.Write(&b, binary.LittleEndian, u)
	}
	return b.Bytes()
}

type tarEntry struct {
	name     string
	body     []byte
	size     int64 // for bodies of zeros written without holding them
	typ      byte
	linkname string
}

func makeTgz(t *testing.T, entries []tarEntry) []byte {
	t.Helper()
	var buf bytes.Buffer
	gz, _ := gzip.NewWriterLevel(&buf, gzip.BestCompression)
	tw := tar.NewWriter(gz)
	zeros := make([]byte, 1<<20)
	for _, e := range entries {
		typ := e.typ
		if typ == 0 {
			typ = tar.TypeReg
		}
		size := int64(len(e.body))
		if e.size > 0 {
			size = e.size
		}
		if typ != tar.TypeReg {
			size = 0
		}
		if err := tw.WriteHeader(&tar.Header{Name: e.name, Typeflag: typ, Size: size, Mode: 0o644, Linkname: e.linkname}); err != nil {
			t.Fatal(err)
		}
		if typ != tar.TypeReg {
			continue
		}
		if e.size > 0 {
			for left := e.size; left > 0; {
				n := min(left, int64(len(zeros)))
				tw.Write(zeros[:n])
				left -= n
			}
		} else {
			tw.Write(e.body)
		}
	}
	tw.Close()
	gz.Close()
	return buf.Bytes()
}

const hostileChartYAML = "apiVersion: v2\nname: web\nversion: 1.0.0\n"

func TestHostileInput(t *testing.T) {
	e := newRelEnv(t)
	dir := e.dir
	m := newMaintainer(t, dir, "Hostile")
	e.mustRun(t, "--store", e.store, "add", m.file, "--reason", "baseline")
	good := publicBytes(t, m.entity)
	goodArmor := armorOf(t, openpgp.PublicKeyType, good)

	other := newMaintainer(t, dir, "Other")
	secretArmor := armorOf(t, openpgp.PrivateKeyType, secretBytes(t, other.entity))
	signerKey := writeFile(t, dir, "signer.key", secretArmor)
	rng := rand.New(rand.NewPCG(1, 2))
	random := make([]byte, 4096)
	for i := range random {
		random[i] = byte(rng.Uint32())
	}

	// Keys.
	cases := map[string][]string{}
	addCase := func(name string, data []byte) {
		p := writeFile(t, dir, name, data)
		cases["add "+name] = []string{"add", p, "--reason", "hostile"}
		cases["check "+name] = []string{"check", p}
	}
	addCase("oversized.asc", append(bytes.Repeat([]byte(" "), pgpkey.MaxCertSize), goodArmor...))
	sparse := filepath.Join(dir, "sparse.pgp")
	if f, err := os.Create(sparse); err != nil {
		t.Fatal(err)
	} else {
		f.Truncate(512 << 20) // a 512 MiB file that takes no disk
		f.Close()
	}
	cases["add sparse.pgp"] = []string{"add", sparse, "--reason", "hostile"}
	// The armor cases use a key that is not in the store, so that a file
	// wrongly accepted by add would really be stored (and caught).
	// Each gets its own key, so one wrongly stored does not mask the next
	// as "already active".
	freshArmor := func(name string) []byte {
		return armorOf(t, openpgp.PublicKeyType, publicBytes(t, newMaintainer(t, dir, name).entity))
	}
	lines := strings.Split(strings.TrimRight(string(freshArmor("Fresh1")), "\n"), "\n")
	badSum := append([]string(nil), lines...)
	for i, l := range badSum {
		if strings.HasPrefix(l, "=") && len(l) == 5 {
			if l == "=AAAA" {
				badSum[i] = "=BBBB"
			} else {
				badSum[i] = "=AAAA"
			}
		}
	}
	badChecksum := writeFile(t, dir, "badchecksum.asc", []byte(strings.Join(badSum, "\n")+"\n"))
	lines = strings.Split(strings.TrimRight(string(freshArmor("Fresh2")), "\n"), "\n")
	badBody := append([]string(nil), lines...)
	badBody[3] = strings.Map(func(r rune) rune {
		if r == 'A' {
			return 'B'
		}
		return r
	}, badBody[3])
	addCase("badbody.asc", []byte(strings.Join(badBody, "\n")+"\n"))
	addCase("duplicate.pgp", append(append([]byte(nil), good...), good...))
	dup := freshArmor("Fresh3")
	addCase("duplicate.asc", append(append([]byte(nil), dup...), dup...))
	// Two armored keys in one file: keyctl must not silently take the
	// first and drop the second.
	addCase("twoblocks.asc", append(freshArmor("Fresh4"), armorOf(t, openpgp.PublicKeyType, publicBytes(t, other.entity))...))
	addCase("trailing.asc", append(freshArmor("Fresh5"), random[:512]...))
	addCase("secret.asc", secretArmor)
	addCase("mixed.pgp", append(append([]byte(nil), good...), secretBytes(t, other.entity)...))
	addCase("utf16.asc", utf16Armor(goodArmor))
	addCase("random.bin", random)
	addCase("photo.jpg", append([]byte{0xff, 0xd8, 0xff, 0xe0, 0x00, 0x10, 'J', 'F', 'I', 'F', 0x00, 0x01}, random[:1024]...))
	addCase("empty-armor.asc", []byte("-----BEGIN PGP PUBLIC KEY BLOCK-----\n\n-----END PGP PUBLIC KEY BLOCK-----\n"))
	addCase("signature-armor.asc", armorOf(t, "PGP SIGNATURE", good))

	// Certificate flooding: thousands of user IDs, and thousands of
	// third-party certifications on one user ID.
	uidFlood := newMaintainer(t, dir, "UidFlood").entity
	for i := 0; i < 2500; i++ {
		if err := uidFlood.AddUserId(fmt.Sprintf("Flood %d", i), "", fmt.Sprintf("f%d@example.org", i), nil); err != nil {
			t.Fatal(err)
		}
	}
	addCase("uidflood.pgp", publicBytes(t, uidFlood))
	sigFlood := newMaintainer(t, dir, "SigFlood").entity
	certifier := newMaintainer(t, dir, "Certifier").entity
	var uid string
	for n := range sigFlood.Identities {
		uid = n
	}
	for i := 0; i < 2500; i++ {
		if err := sigFlood.SignIdentity(uid, certifier, nil); err != nil {
			t.Fatal(err)
		}
	}
	addCase("sigflood.pgp", publicBytes(t, sigFlood))

	// Config files: over the 1 MiB cap, deeply nested, alias bombs,
	// UTF-16, binary.
	cfgCase := func(name string, data []byte) {
		p := writeFile(t, dir, name, data)
		cases["config "+name] = []string{"--config", p, "add", m.file, "--reason", "hostile"}
	}
	cfgCase("huge.yaml", append([]byte("policy:\n  x: \""), append(bytes.Repeat([]byte("y"), 2<<20), '"', '\n')...))
	cfgCase("nested.yaml", []byte("policy: "+strings.Repeat("[", 500000)+strings.Repeat("]", 500000)+"\n"))
	cfgCase("nestedmap.yaml", []byte("policy:\n"+func() string {
		var b strings.Builder
		for i := 0; i < 20000; i++ {
			b.WriteString(strings.Repeat(" ", i+2))
			b.WriteString("k:\n")
			if b.Len() > 900<<10 {
				break
			}
		}
		return b.String()
	}()))
	bomb := "a: &a [\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\"]\n"
	prev := "a"
	for _, n := range []string{"b", "c", "d", "e", "f", "g", "h", "i"} {
		bomb += n + ": &" + n + " [" + strings.TrimSuffix(strings.Repeat("*"+prev+",", 9), ",") + "]\n"
		prev = n
	}
	cfgCase("aliasbomb.yaml", []byte(bomb+"policy: *i\n"))
	cfgCase("utf16.yaml", utf16Armor([]byte("policy:\n  min_rsa_bits: 4096\n")))
	cfgCase("binary.yaml", random)
	cfgCase("badpolicy.yaml", []byte("policy:\n  min_rsa_bits: [1, 2]\n  max_validity: forever\n"))

	// Chart archives, through keyctl sign.
	chartCase := func(name string, data []byte) {
		p := writeFile(t, dir, name, data)
		cases["sign "+name] = []string{"sign", p, "--key", signerKey}
	}
	var manyZeros []tarEntry
	manyZeros = append(manyZeros, tarEntry{name: "web/Chart.yaml", body: []byte(hostileChartYAML)})
	for i := 0; i < 30; i++ {
		manyZeros = append(manyZeros, tarEntry{name: fmt.Sprintf("web/templates/z%d.yaml", i), size: 4 << 20})
	}
	chartCase("bomb-total.tgz", makeTgz(t, manyZeros))
	chartCase("bomb-file.tgz", makeTgz(t, []tarEntry{{name: "web/Chart.yaml", body: []byte(hostileChartYAML)}, {name: "web/values.yaml", size: 200 << 20}}))
	chartCase("dotdot.tgz", makeTgz(t, []tarEntry{{name: "web/Chart.yaml", body: []byte(hostileChartYAML)}, {name: "web/../../etc/evil", body: []byte("x")}}))
	chartCase("absolute.tgz", makeTgz(t, []tarEntry{{name: "web/Chart.yaml", body: []byte(hostileChartYAML)}, {name: "/etc/evil", body: []byte("x")}}))
	chartCase("symlink.tgz", makeTgz(t, []tarEntry{{name: "web/Chart.yaml", body: []byte(hostileChartYAML)}, {name: "web/templates/x.yaml", typ: tar.TypeSymlink, linkname: "/etc/passwd"}}))
	chartCase("hardlink.tgz", makeTgz(t, []tarEntry{{name: "web/Chart.yaml", body: []byte(hostileChartYAML)}, {name: "web/templates/x.yaml", typ: tar.TypeLink, linkname: "../../etc/passwd"}}))
	tiny := []tarEntry{{name: "web/Chart.yaml", body: []byte(hostileChartYAML)}}
	for i := 0; i < 20000; i++ {
		tiny = append(tiny, tarEntry{name: fmt.Sprintf("web/files/f%05d", i), body: []byte("x")})
	}
	chartCase("tinyfiles.tgz", makeTgz(t, tiny))
	chartCase("notgzip.tgz", random)
	chartCase("deepchart.tgz", makeTgz(t, []tarEntry{{name: "web/Chart.yaml", body: []byte("apiVersion: v2\nname: web\nversion: 1.0.0\nannotations: " + strings.Repeat("{a: ", 100000) + "b" + strings.Repeat("}", 100000) + "\n")}}))

	// Through keyctl verify: a repository published from this store, a
	// chart signed by an active maintainer, and hostile archives and .prov
	// files in its place.
	site := filepath.Join(dir, "site")
	e.mustRun(t, "--store", e.store, "publish", "--to", site, "--root-key", e.rootKey)
	rootPubData, err := os.ReadFile(e.rootPub)
	if err != nil {
		t.Fatal(err)
	}
	rootEnt, err := pgpkey.ReadCert(rootPubData)
	if err != nil {
		t.Fatal(err)
	}
	rootFpr := pgpkey.Fingerprint(rootEnt)
	goodChart, err := charts.Archive(charts.Spec{Name: "web", Version: "1.0.0"})
	if err != nil {
		t.Fatal(err)
	}
	goodTgz := writeFile(t, dir, "good-web-1.0.0.tgz", goodChart)
	mSecret := writeFile(t, dir, "hostile-maint.key", armorOf(t, openpgp.PrivateKeyType, secretBytes(t, m.entity)))
	e.mustRun(t, "sign", goodTgz, "--key", mSecret)
	goodProv, err := os.ReadFile(goodTgz + ".prov")
	if err != nil {
		t.Fatal(err)
	}
	verifyArgs := func(chart, prov string) []string {
		return []string{"verify", chart, "--prov", prov, "--repo", site, "--root", rootFpr}
	}
	// The good chart verifies: the hostile cases below fail for their own
	// reason, not for a broken setup.
	if out, errs, code := runIn(verifyArgs(goodTgz, goodTgz+".prov")...); code != 0 {
		t.Fatalf("verify of the good chart: exit %d\n%s%s", code, out, errs)
	}
	for _, name := range []string{"bomb-total.tgz", "bomb-file.tgz", "dotdot.tgz", "symlink.tgz", "tinyfiles.tgz", "notgzip.tgz", "deepchart.tgz"} {
		cases["verify "+name] = verifyArgs(filepath.Join(dir, name), goodTgz+".prov")
	}
	provCase := func(name string, data []byte) {
		cases["verify "+name] = verifyArgs(goodTgz, writeFile(t, dir, name, data))
	}
	provCase("huge.prov", append(bytes.Repeat([]byte("# padding\n"), 2<<20), goodProv...))
	provCase("random.prov", random)
	provCase("truncated.prov", goodProv[:len(goodProv)/2])
	provCase("tampered.prov", bytes.Replace(goodProv, []byte("version: 1.0.0"), []byte("version: 1.0.1"), 1))
	provCase("nested.prov", append([]byte("-----BEGIN PGP SIGNED MESSAGE-----\nHash: SHA512\n\nname: "+strings.Repeat("[", 200000)+"\n...\nfiles: {}\n"), goodProv[bytes.Index(goodProv, []byte("-----BEGIN PGP SIGNATURE")):]...))
	otherProv := filepath.Join(dir, "other-web-1.0.0.tgz")
	writeFile(t, dir, "other-web-1.0.0.tgz", goodChart)
	e.mustRun(t, "sign", otherProv, "--key", signerKey) // Other is not in the store
	cases["verify unknown-signer.prov"] = verifyArgs(goodTgz, otherProv+".prov")

	if len(cases) < 40 {
		t.Fatalf("only %d hostile cases were built", len(cases))
	}
	var ms runtime.MemStats
	names := make([]string, 0, len(cases))
	for n := range cases {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, name := range names {
		args := cases[name]
		t.Run(name, func(t *testing.T) {
			before := fileSum(t, e.store)
			runtime.GC()
			runtime.ReadMemStats(&ms)
			allocBefore := ms.TotalAlloc
			out, errs, code := runIn(append([]string{"--store", e.store}, args...)...)
			runtime.ReadMemStats(&ms)
			alloc := ms.TotalAlloc - allocBefore
			if code != 1 && code != 2 {
				t.Fatalf("exit %d, want 1 or 2\nstdout: %s\nstderr: %s", code, out, errs)
			}
			assertVoice(t, errs)
			if strings.Contains(errs, "PRIVATE KEY") || strings.Contains(errs, string(goodArmor[40:80])) {
				t.Errorf("the message echoes key material:\n%s", errs)
			}
			if len(errs) > 64<<10 {
				t.Errorf("a %d-byte error message", len(errs))
			}
			if alloc > hostileAllocLimit {
				t.Errorf("allocated %d MiB, over the %d MiB bound", alloc>>20, hostileAllocLimit>>20)
			}
			if !bytes.Equal(fileSum(t, e.store), before) {
				t.Errorf("the store changed: keyctl %s was refused (exit %d) but left a change", strings.Join(args, " "), code)
			}
			t.Logf("exit %d, %d KiB allocated: %s", code, alloc>>10, strings.SplitN(errs, "\n", 2)[0])
		})
	}
	for _, p := range []string{"bomb-total.tgz", "dotdot.tgz", "symlink.tgz", "tinyfiles.tgz"} {
		if _, err := os.Stat(filepath.Join(dir, p+".prov")); err == nil {
			t.Errorf("sign wrote %s.prov for a refused archive", p)
		}
	}
	// An armor checksum that disagrees with an intact body is not a reason
	// to refuse (RFC 9580 §6.1: an implementation MUST NOT reject an object
	// because of its CRC24 footer; go-crypto no longer checks it). The body
	// is what counts: a damaged body (badbody.asc above) is refused, an
	// intact one reads as the key it is.
	if out, errs, code := runIn("--store", e.store, "check", badChecksum); code != 0 || !strings.Contains(out, "passes the key policy") {
		t.Errorf("check of an intact key with a wrong armor checksum: exit %d\n%s%s", code, out, errs)
	}

	// The baseline key is still there and the log still verifies.
	if out := e.mustRun(t, "--store", e.store, "list"); !strings.Contains(out, m.fpr) {
		t.Fatalf("list after the hostile inputs:\n%s", out)
	}
	e.mustRun(t, "--store", e.store, "log", "--verify")
}

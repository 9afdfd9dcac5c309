package main

// Red team, round 3, change 1 (klauspost/compress inflates archives, member
// by member). Hostile gzip framing around a real chart, each archive signed
// by an active maintainer key over its exact bytes (what a repository host
// serving a maintainer's archive, or a maintainer, can publish): keyctl
// verify (Trusted.Check and the command) and keyctl audit (revoke.Audit and
// the command) must give the same verdict, and keyctl may trust an archive
// only where Go's compress/gzip (Helm's chart loader) reads the same tar
// stream from it.

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"crypto"
	"errors"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"testing"
	"time"

	"github.com/keyctl/keyctl/internal/client"
	"github.com/keyctl/keyctl/internal/provenance"
	"github.com/keyctl/keyctl/internal/revoke"
	"github.com/keyctl/keyctl/internal/ring"
	"github.com/keyctl/keyctl/internal/root"
	"github.com/keyctl/keyctl/internal/testutil/charts"
)

// gzMember is one gzip member holding data, written by compress/gzip.
func gzMember(t *testing.T, data []byte, level int, hdr func(*gzip.Writer)) []byte {
	t.Helper()
	var b bytes.Buffer
	w, err := gzip.NewWriterLevel(&b, level)
	if err != nil {
		t.Fatal(err)
	}
	if hdr != nil {
		hdr(w)
	}
	if _, err := w.Write(data); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// chartTar is the tar stream of a clean chart name 1.0.0.
func chartTar(t *testing.T, name string) []byte {
	t.Helper()
	tgz, err := charts.Archive(charts.Spec{Name: name, Version: "1.0.0"})
	if err != nil {
		t.Fatal(err)
	}
	zr, err := gzip.NewReader(bytes.NewReader(tgz))
	if err != nil {
		t.Fatal(err)
	}
	raw, err := io.ReadAll(zr)
	if err != nil {
		t.Fatal(err)
	}
	return raw
}

// helmReads is what Go's compress/gzip and archive/tar (Helm's loader)
// make of an archive: nil when they read its tar stream to the end.
func helmReads(data []byte) error {
	zr, err := gzip.NewReader(bytes.NewReader(data))
	if err != nil {
		return err
	}
	tr := tar.NewReader(zr)
	for {
		_, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return err
		}
		if _, err := io.Copy(io.Discard, tr); err != nil {
			return err
		}
	}
}

func TestVerifyAndAuditAgreeOnHostileGzip(t *testing.T) {
	cs := newCLIStore(t, "responder@example.org")
	work, k, mustRun := cs.work, cs.args, cs.mustRun
	out := mustRun("root", "create", "--name", "root", "--secret-out", filepath.Join(work, "root.key"), "--public-out", filepath.Join(work, "root.pub"), "--no-passphrase")
	rootFpr := regexp.MustCompile(`[0-9A-F]{40}`).FindString(out)
	if rootFpr == "" {
		t.Fatalf("root create printed no fingerprint:\n%s", out)
	}
	mustRun("init", "--repository", "charts.example.org", "--root-key", filepath.Join(work, "root.pub"))
	real := time.Now().UTC().Truncate(time.Second)
	made := real.Add(-20 * 24 * time.Hour)
	signAt := made.Add(time.Hour)
	maint := engineKey(t, work, "maint", made, 365*24*time.Hour)
	mustRun("add", maint.file, "--reason", "maintainer")

	repo := filepath.Join(work, "repo")
	if err := os.MkdirAll(filepath.Join(repo, "charts"), 0o755); err != nil {
		t.Fatal(err)
	}
	type gcase struct {
		name string
		want revoke.Status
	}
	var cases []gcase
	put := func(name string, want revoke.Status, archive []byte) {
		t.Helper()
		if want == revoke.Trusted {
			if err := helmReads(archive); err != nil {
				t.Fatalf("%s: the test expects it trusted, but compress/gzip and archive/tar refuse it: %v", name, err)
			}
		}
		p := filepath.Join(repo, "charts", name+"-1.0.0.tgz")
		if err := os.WriteFile(p, archive, 0o644); err != nil {
			t.Fatal(err)
		}
		prov := clearsignText(t, maint, provText(t, name, "1.0.0", archive), crypto.SHA512, signAt)
		if err := os.WriteFile(p+".prov", prov, 0o644); err != nil {
			t.Fatal(err)
		}
		cases = append(cases, gcase{name, want})
	}
	cut := func(b []byte, n int) ([]byte, []byte) { return b[:n], b[n:] }

	// A baseline: one member, as helm package writes it.
	put("gz-plain", revoke.Trusted, gzMember(t, chartTar(t, "gz-plain"), gzip.DefaultCompression, nil))
	// The tar stream split across two members (gzip -c a b > ab.gz):
	// compress/gzip reads them as one stream, and so must keyctl.
	a, b := cut(chartTar(t, "gz-two"), 700)
	put("gz-two", revoke.Trusted, append(gzMember(t, a, 9, nil), gzMember(t, b, 1, nil)...))
	// An empty member first, then the chart; names, comments, extra
	// fields and a header CRC in the headers.
	named := func(w *gzip.Writer) { w.Name, w.Comment, w.Extra = "x.tar", "a comment", []byte("ex") }
	put("gz-emptyfirst", revoke.Trusted, append(gzMember(t, nil, 6, named), gzMember(t, chartTar(t, "gz-emptyfirst"), 6, named)...))
	// A second member holding bytes after the tar stream's end (read by
	// compress/gzip, ignored by archive/tar).
	put("gz-trail-member", revoke.Trusted, append(gzMember(t, chartTar(t, "gz-trail-member"), 6, nil), gzMember(t, []byte("after the tar end\n"), 6, nil)...))
	// A second member whose header is cut short inside its comment, after
	// the name, after the fixed part, or right after the magic bytes.
	clean := func(name string) []byte { return gzMember(t, chartTar(t, name), 6, nil) }
	put("gz-cut-comment", revoke.Invalid, append(clean("gz-cut-comment"), 0x1f, 0x8b, 8, 0x18, 0, 0, 0, 0, 0, 0xff, 'n', 0, 'c', 'o', 'm'))
	put("gz-cut-name", revoke.Invalid, append(clean("gz-cut-name"), 0x1f, 0x8b, 8, 0x08, 0, 0, 0, 0, 0, 0xff, 'n', 'a'))
	put("gz-cut-fixed", revoke.Invalid, append(clean("gz-cut-fixed"), 0x1f, 0x8b, 8, 0, 0, 0, 0))
	put("gz-cut-magic", revoke.Invalid, append(clean("gz-cut-magic"), 0x1f, 0x8b))
	// A second member cut inside its deflate data, and one whose trailer
	// is wrong.
	second := gzMember(t, bytes.Repeat([]byte("padding "), 500), 6, nil)
	put("gz-cut-deflate", revoke.Invalid, append(clean("gz-cut-deflate"), second[:len(second)/2]...))
	bad := append([]byte(nil), second...)
	bad[len(bad)-5] ^= 1
	put("gz-bad-crc", revoke.Invalid, append(clean("gz-bad-crc"), bad...))
	// A wrong header CRC.
	hcrc := gzMember(t, chartTar(t, "gz-bad-hcrc"), 6, nil)
	hcrc = append(append(append([]byte(nil), hcrc[:10]...), 0xde, 0xad), hcrc[10:]...)
	hcrc[3] |= 0x02
	put("gz-bad-hcrc", revoke.Invalid, hcrc)
	// Reserved flag bits: compress/gzip ignores them, klauspost refuses
	// them (the difference gunzip.go documents): refused by both
	// commands alike, in the first member and in a second one.
	rsv := clean("gz-reserved")
	rsv[3] |= 0xe0
	put("gz-reserved", revoke.Invalid, rsv)
	rsv2 := gzMember(t, []byte("x"), 6, nil)
	rsv2[3] |= 0x20
	put("gz-reserved-second", revoke.Invalid, append(clean("gz-reserved-second"), rsv2...))
	// Data after the gzip stream: junk, zero padding (as some tape and
	// block tools leave), a lone byte.
	put("gz-junk-after", revoke.Invalid, append(clean("gz-junk-after"), []byte("not gzip at all")...))
	put("gz-zeros-after", revoke.Invalid, append(clean("gz-zeros-after"), make([]byte, 512)...))
	put("gz-byte-after", revoke.Invalid, append(clean("gz-byte-after"), 0x1f))
	// Gzip bombs: one member inflating to 150 MiB after the tar stream,
	// and 150 members of 1 MiB each.
	var bomb bytes.Buffer
	bw, _ := gzip.NewWriterLevel(&bomb, gzip.BestCompression)
	bw.Write(chartTar(t, "gz-bomb"))
	zeros := make([]byte, 1<<20)
	for i := 0; i < 150; i++ {
		bw.Write(zeros)
	}
	bw.Close()
	put("gz-bomb", revoke.Invalid, bomb.Bytes())
	many := clean("gz-bomb-members")
	one := gzMember(t, zeros, gzip.BestCompression, nil)
	for i := 0; i < 150; i++ {
		many = append(many, one...)
	}
	put("gz-bomb-members", revoke.Invalid, many)

	writeIndex(t, repo)
	if _, errs, code := keyctlRun(t, k("publish", "--to", repo, "--root-key", filepath.Join(work, "root.key"))...); code != 0 {
		t.Fatalf("publish: exit %d\n%s", code, errs)
	}

	ctx := context.Background()
	now := real
	tr, err := client.Load(ctx, client.Options{Location: repo, Pins: root.Pins{Fingerprints: []string{rootFpr}}, Now: func() time.Time { return now }})
	if err != nil {
		t.Fatal(err)
	}
	ks, err := revoke.FromTrusted(tr)
	if err != nil {
		t.Fatal(err)
	}
	rep, err := revoke.Audit(ctx, revoke.Options{Repository: repo, Keys: ks, Now: func() time.Time { return now }})
	if err != nil {
		t.Fatal(err)
	}
	audited := map[string]revoke.Result{}
	for _, r := range rep.Results {
		audited[r.Chart] = r
	}
	// The audit command, with the store's keys.
	doc := auditJSONRun(t, 1, k("audit", "--repo", repo)...)
	command := map[string]string{}
	for _, r := range doc.Releases {
		command[r.Chart] = r.Status
	}
	if len(audited) != len(cases) || len(command) != len(cases) {
		t.Fatalf("audit saw %d releases, the command %d, the corpus has %d", len(audited), len(command), len(cases))
	}
	for _, c := range cases {
		file := filepath.Join(repo, "charts", c.name+"-1.0.0.tgz")
		got := verifyPath(t, tr, file, ring.LedgerEntry{})
		au := audited[c.name]
		if got != c.want || au.Status != c.want || command[c.name] != string(c.want) {
			t.Errorf("%s: verify says %s, audit says %s (%s), keyctl audit says %s, want %s", c.name, got, au.Status, au.Detail, command[c.name], c.want)
		}
		t.Logf("%s: %s: %s", c.name, au.Status, au.Detail)
		_, errs, code := keyctlRun(t, "verify", file, "--repo", repo, "--root", rootFpr, "--state", filepath.Join(work, "vstate"))
		if (code == 0) != (c.want == revoke.Trusted) {
			t.Errorf("%s: keyctl verify exits %d, want %s\n%s", c.name, code, c.want, errs)
		}
		// Whatever keyctl trusts, Helm's reader reads to the end too.
		if au.Status == revoke.Trusted {
			data, _ := os.ReadFile(file)
			if err := helmReads(data); err != nil {
				t.Errorf("%s: trusted, but compress/gzip and archive/tar refuse it: %v", c.name, err)
			}
			if a, err := provenance.ReadArchive(bytes.NewReader(data), provenance.DefaultLimits); err != nil || a.Size != int64(len(data)) {
				t.Errorf("%s: ReadArchive hashed %v bytes of %d (%v)", c.name, a, len(data), err)
			}
		}
	}
}

package publish

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/keyctl/keyctl/internal/fail"
	"github.com/keyctl/keyctl/internal/testutil/gcsemu"
)

const pointerName = "keyctl/manifest.json"

func sum(b []byte) []byte {
	s := sha256.Sum256(b)
	return s[:]
}

// testPlan builds a plan whose every object's content names tag, built on
// the pointer content prev (nil: first publish).
func testPlan(prev []byte, tag string) Plan {
	pub := []byte("KEYRING-CONTENT-" + tag)
	rev := []byte("REVOKED-CONTENT-" + tag)
	pubBlob := "blobs/" + hex.EncodeToString(sum(pub)) + ".pgp"
	revBlob := "blobs/" + hex.EncodeToString(sum(rev)) + ".pgp"
	p := Plan{
		Blobs: []Object{
			{Name: pubBlob, Data: pub},
			{Name: revBlob, Data: rev},
		},
		Pointer: Object{Name: pointerName, Data: []byte(fmt.Sprintf(`{"tag":%q,"pubkeys":%q}`, tag, pubBlob))},
		Files: []Object{
			{Name: "pubkeys.pgp", Data: pub},
			{Name: "pubkeys.pgp.sig", Data: []byte("SIGNATURE-CONTENT-" + tag)},
			{Name: "revoked.pgp", Data: rev},
		},
		After: []Object{{Name: "keyctl/history/" + tag + ".json", Data: []byte(`{"history":"` + tag + `"}`)}},
	}
	if prev != nil {
		p.ExpectPrevious = sum(prev)
	}
	return p
}

func allObjects(p Plan) []Object {
	out := append([]Object(nil), p.Blobs...)
	out = append(out, p.Pointer)
	out = append(out, p.Files...)
	return append(out, p.After...)
}

type logRec struct {
	mu    sync.Mutex
	lines []string
}

func (l *logRec) logf(format string, args ...any) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.lines = append(l.lines, fmt.Sprintf(format, args...))
}

func (l *logRec) text() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return strings.Join(l.lines, "\n")
}

func fastOpts(l *logRec) *Options {
	o := &Options{MaxAttempts: 4, InitialBackoff: time.Millisecond, MaxElapsed: 10 * time.Second, AttemptTimeout: 5 * time.Second}
	if l != nil {
		o.Log = l.logf
	}
	return o
}

func open(t *testing.T, loc string, l *logRec) *Bucket {
	t.Helper()
	b, err := Open(context.Background(), loc, fastOpts(l))
	if err != nil {
		t.Fatalf("Open(%q): %v", loc, err)
	}
	t.Cleanup(func() { b.Close() })
	return b
}

func checkAll(t *testing.T, b *Bucket, p Plan) {
	t.Helper()
	for _, o := range allObjects(p) {
		got, err := b.Get(context.Background(), o.Name, 1<<20)
		if err != nil {
			t.Fatalf("Get(%s): %v", o.Name, err)
		}
		if !bytes.Equal(got, o.Data) {
			t.Fatalf("Get(%s) = %q, want %q", o.Name, got, o.Data)
		}
	}
}

func getString(t *testing.T, b *Bucket, name string) string {
	t.Helper()
	got, err := b.Get(context.Background(), name, 1<<20)
	if err != nil {
		t.Fatalf("Get(%s): %v", name, err)
	}
	return string(got)
}

func TestRoundTrip(t *testing.T) {
	ctx := context.Background()
	tmp := t.TempDir()
	srv := gcsemu.Start(t, "bkt")
	for _, tc := range []struct {
		name, loc string
		reopen    bool   // a fresh Open sees what the first wrote
		dir       string // where a directory target lives on disk
		attrs     bool   // the backend records Cache-Control and Content-Type
	}{
		{name: "dir", loc: filepath.Join(tmp, "new", "repo"), reopen: true, dir: filepath.Join(tmp, "new", "repo")},
		{name: "file", loc: "file://" + filepath.ToSlash(filepath.Join(tmp, "f")), reopen: true, dir: filepath.Join(tmp, "f")},
		{name: "mem", loc: "mem://pre/fix", attrs: true},
		{name: "gs", loc: "gs://bkt/charts/stable", reopen: true, attrs: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var l logRec
			b := open(t, tc.loc, &l)
			p1 := testPlan(nil, tc.name+"-v1")
			if err := b.Publish(ctx, p1); err != nil {
				t.Fatalf("first publish: %v", err)
			}
			checkAll(t, b, p1)
			p2 := testPlan(p1.Pointer.Data, tc.name+"-v2")
			if err := b.Publish(ctx, p2); err != nil {
				t.Fatalf("second publish: %v", err)
			}
			checkAll(t, b, p2)
			// v1's content-addressed blobs stay for clients that raced.
			for _, o := range p1.Blobs {
				if ok, err := b.Exists(ctx, o.Name); err != nil || !ok {
					t.Fatalf("Exists(%s) = %v, %v after the next publish", o.Name, ok, err)
				}
			}
			if tc.reopen {
				checkAll(t, open(t, tc.loc, nil), p2)
			}
			if tc.dir != "" {
				if _, err := os.Stat(filepath.Join(tc.dir, pointerName+".lock")); !errors.Is(err, fs.ErrNotExist) {
					t.Fatalf("lock file left behind: %v", err)
				}
				if m, _ := filepath.Glob(filepath.Join(tc.dir, "*.attrs")); len(m) != 0 {
					t.Fatalf("sidecar files written: %v", m)
				}
				if _, err := os.Stat(filepath.Join(tc.dir, "pubkeys.pgp")); err != nil {
					t.Fatalf("object not at its plain path: %v", err)
				}
			}
			if tc.attrs {
				checkAttrs(t, b, srv, tc.name == "gs", p2)
			}
			log := l.text()
			for _, o := range allObjects(p2) {
				if !strings.Contains(log, o.Name) {
					t.Errorf("log does not mention %s:\n%s", o.Name, log)
				}
			}
			for _, secretish := range []string{"KEYRING-CONTENT", "SIGNATURE-CONTENT", `"tag"`} {
				if strings.Contains(log, secretish) {
					t.Errorf("log shows object content %q:\n%s", secretish, log)
				}
			}
		})
	}
}

func checkAttrs(t *testing.T, b *Bucket, srv *gcsemu.Server, gcs bool, p Plan) {
	t.Helper()
	want := map[string][2]string{ // name -> content type, cache control
		p.Blobs[0].Name:   {"application/pgp-keys", cacheImmutable},
		p.Pointer.Name:    {"application/json", "no-cache"},
		"pubkeys.pgp":     {"application/pgp-keys", "no-cache"},
		"pubkeys.pgp.sig": {"application/pgp-signature", "no-cache"},
	}
	for name, w := range want {
		var ct, cc string
		if gcs {
			obj, err := srv.Emulator.GetObject("bkt", "charts/stable/"+name)
			if err != nil {
				t.Fatalf("emulator has no charts/stable/%s: %v", name, err)
			}
			ct, cc = obj.ContentType, obj.CacheControl
		} else {
			a, err := b.driverNow().Attributes(context.Background(), name)
			if err != nil {
				t.Fatal(err)
			}
			ct, cc = a.ContentType, a.CacheControl
		}
		if ct != w[0] || cc != w[1] {
			t.Errorf("%s: Content-Type %q Cache-Control %q, want %q %q", name, ct, cc, w[0], w[1])
		}
	}
}

func TestObjectOverridesTypeAndCache(t *testing.T) {
	ctx := context.Background()
	b := open(t, "mem://", nil)
	p := testPlan(nil, "o")
	p.Files[0].ContentType = "application/x-custom"
	p.Files[0].CacheControl = "max-age=60"
	if err := b.Publish(ctx, p); err != nil {
		t.Fatal(err)
	}
	a, err := b.driverNow().Attributes(ctx, p.Files[0].Name)
	if err != nil {
		t.Fatal(err)
	}
	if a.ContentType != "application/x-custom" || a.CacheControl != "max-age=60" {
		t.Fatalf("got %q %q", a.ContentType, a.CacheControl)
	}
}

func TestPointerConflictBeforeAnyWrite(t *testing.T) {
	ctx := context.Background()
	for _, loc := range []string{t.TempDir(), "mem://"} {
		b := open(t, loc, nil)
		p1 := testPlan(nil, "v1")
		if err := b.Publish(ctx, p1); err != nil {
			t.Fatal(err)
		}
		for _, stale := range []Plan{
			testPlan(nil, "stale-first"),                // built as if nothing was published
			testPlan([]byte("something else"), "stale"), // built on another pointer
		} {
			err := b.Publish(ctx, stale)
			var ce *ConflictError
			if !errors.As(err, &ce) {
				t.Fatalf("%s: err = %v, want a ConflictError", loc, err)
			}
			if !bytes.Equal(ce.LiveSHA256, sum(p1.Pointer.Data)) || !bytes.Equal(ce.Live, p1.Pointer.Data) {
				t.Fatalf("conflict does not describe the live pointer: %+v", ce)
			}
			if !strings.Contains(err.Error(), "another publish went live") || len(fail.HintsOf(err)) == 0 {
				t.Fatalf("message %q hints %q", err, fail.HintsOf(err))
			}
			if strings.Contains(err.Error(), string(p1.Pointer.Data)) {
				t.Fatalf("message shows pointer content: %v", err)
			}
			for _, o := range stale.Blobs {
				if ok, _ := b.Exists(ctx, o.Name); ok {
					t.Fatalf("%s: blob %s written despite the conflict", loc, o.Name)
				}
			}
		}
		if got := getString(t, b, pointerName); got != string(p1.Pointer.Data) {
			t.Fatalf("pointer changed: %s", got)
		}
	}
}

func TestBlobWithDifferentContentRefused(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	b := open(t, dir, nil)
	p := testPlan(nil, "v1")
	if err := os.MkdirAll(filepath.Join(dir, "blobs"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, filepath.FromSlash(p.Blobs[0].Name)), []byte("tampered"), 0o644); err != nil {
		t.Fatal(err)
	}
	err := b.Publish(ctx, p)
	if err == nil || fail.KindOf(err) != fail.Security || !strings.Contains(err.Error(), p.Blobs[0].Name) {
		t.Fatalf("err = %v (kind %v), want a security error naming the blob", err, fail.KindOf(err))
	}
	if ok, _ := b.Exists(ctx, pointerName); ok {
		t.Fatal("pointer written after a refused blob")
	}
	// Same content already there is fine.
	if err := os.WriteFile(filepath.Join(dir, filepath.FromSlash(p.Blobs[0].Name)), p.Blobs[0].Data, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := b.Publish(ctx, p); err != nil {
		t.Fatalf("publish over an identical blob: %v", err)
	}
}

func TestPlanChecked(t *testing.T) {
	b := open(t, "mem://", nil)
	for name, mut := range map[string]func(*Plan){
		"no pointer":    func(p *Plan) { p.Pointer.Name = "" },
		"empty pointer": func(p *Plan) { p.Pointer.Data = nil },
		"duplicate":     func(p *Plan) { p.Files = append(p.Files, p.Files[0]) },
		"pointer twice": func(p *Plan) { p.After = append(p.After, Object{Name: pointerName, Data: []byte("x")}) },
		"lock name":     func(p *Plan) { p.Files = append(p.Files, Object{Name: pointerName + ".lock", Data: []byte("x")}) },
		"bad hash":      func(p *Plan) { p.ExpectPrevious = []byte{1, 2} },
		"escaping name": func(p *Plan) { p.Blobs[0].Name = "../x" },
		"absolute name": func(p *Plan) { p.Files[0].Name = "/etc/x" },
	} {
		p := testPlan(nil, "x")
		mut(&p)
		if err := b.Publish(context.Background(), p); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
	if ok, _ := b.Exists(context.Background(), pointerName); ok {
		t.Fatal("a refused plan wrote the pointer")
	}
}

func TestGetMissingDirectoryNotCreated(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "nope")
	b := open(t, dir, nil)
	_, err := b.Get(context.Background(), "pubkeys.pgp", 100)
	if !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("err = %v, want not-exist", err)
	}
	var nf *NotFoundError
	if !errors.As(err, &nf) || nf.Name != "pubkeys.pgp" || !strings.Contains(err.Error(), dir) {
		t.Fatalf("not-found error does not name object and location: %v", err)
	}
	if _, err := os.Stat(dir); !errors.Is(err, fs.ErrNotExist) {
		t.Fatal("reading created the directory")
	}
	if _, err := Open(context.Background(), filepath.Join(t.TempDir()), nil); err != nil {
		t.Fatal(err)
	}
	f := filepath.Join(t.TempDir(), "file")
	if err := os.WriteFile(f, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := Open(context.Background(), f, nil); err == nil || !strings.Contains(err.Error(), "not a directory") {
		t.Fatalf("Open(a file) = %v", err)
	}
}

func TestGetLimit(t *testing.T) {
	ctx := context.Background()
	b := open(t, "mem://", nil)
	p := testPlan(nil, "v1")
	if err := b.Publish(ctx, p); err != nil {
		t.Fatal(err)
	}
	n := int64(len(p.Files[0].Data))
	if _, err := b.Get(ctx, "pubkeys.pgp", n); err != nil {
		t.Fatalf("Get at exactly the limit: %v", err)
	}
	_, err := b.Get(ctx, "pubkeys.pgp", n-1)
	var tl *TooLargeError
	if !errors.As(err, &tl) || tl.Limit != n-1 {
		t.Fatalf("err = %v, want TooLargeError", err)
	}
	if _, err := b.Get(ctx, "pubkeys.pgp", 0); err == nil {
		t.Fatal("limit 0 accepted")
	}
}

// Get reads an object into one buffer of its size, not into a slice that
// doubles its way up (which allocated about three times the object).
func TestGetAllocatesOnce(t *testing.T) {
	dir := t.TempDir()
	const size = 4 << 20
	if err := os.WriteFile(filepath.Join(dir, "big.pgp"), bytes.Repeat([]byte("k"), size), 0o644); err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(http.FileServer(http.Dir(dir)))
	defer srv.Close()
	for _, loc := range []string{dir, srv.URL} {
		b := open(t, loc, nil)
		ctx := context.Background()
		if _, err := b.Get(ctx, "big.pgp", size+1); err != nil { // warm up
			t.Fatal(err)
		}
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		data, err := b.Get(ctx, "big.pgp", size+1)
		runtime.ReadMemStats(&after)
		if err != nil || len(data) != size {
			t.Fatalf("%s: Get: %d bytes, %v", loc, len(data), err)
		}
		if got := after.TotalAlloc - before.TotalAlloc; got > size*3/2 {
			t.Fatalf("%s: reading a %d-byte object allocated %d bytes", loc, size, got)
		}
	}
}

// TestBeforeWrittenBeforePointer: Plan.Before objects (the log checkpoint)
// are in place when the pointer goes up, and replace what was there.
func TestBeforeWrittenBeforePointer(t *testing.T) {
	ctx := context.Background()
	for _, loc := range []string{t.TempDir(), "mem://"} {
		b := open(t, loc, nil)
		p1 := testPlan(nil, "v1")
		p1.Before = []Object{{Name: "keyctl/log/checkpoint", Data: []byte("checkpoint 1\n")}}
		if err := b.Publish(ctx, p1); err != nil {
			t.Fatal(err)
		}
		p2 := testPlan(p1.Pointer.Data, "v2")
		p2.Before = []Object{{Name: "keyctl/log/checkpoint", Data: []byte("checkpoint 2\n")}}
		seen := ""
		b.hookBeforePointer = func(context.Context) error {
			seen = getString(t, b, "keyctl/log/checkpoint")
			if got := getString(t, b, pointerName); got != string(p1.Pointer.Data) {
				t.Errorf("%s: pointer already replaced before its Before objects were checked", loc)
			}
			return nil
		}
		if err := b.Publish(ctx, p2); err != nil {
			t.Fatal(err)
		}
		if seen != "checkpoint 2\n" {
			t.Fatalf("%s: at the pointer write the checkpoint was %q", loc, seen)
		}
		// A conflicting plan writes no Before object.
		stale := testPlan(nil, "stale")
		stale.Before = []Object{{Name: "keyctl/log/checkpoint", Data: []byte("stale\n")}}
		b.hookBeforePointer = nil
		if err := b.Publish(ctx, stale); err == nil {
			t.Fatal("stale plan published")
		}
		if got := getString(t, b, "keyctl/log/checkpoint"); got != "checkpoint 2\n" {
			t.Fatalf("%s: a refused plan wrote its Before object: %q", loc, got)
		}
	}
}

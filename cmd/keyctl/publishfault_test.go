package main

// Publishing survives transient bucket errors and never shows clients a
// half-published state (SPEC §2, §7): `keyctl publish --to gs://...` runs
// as a real subprocess against the in-process GCS emulator, which injects
// 503s and dropped connections.

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/keyctl/keyctl/internal/ring"
	"github.com/keyctl/keyctl/internal/root"
	"github.com/keyctl/keyctl/internal/testutil/gcsemu"
)

const (
	faultBucket = "charts"
	faultPrefix = "stable/"
	faultURL    = "gs://" + faultBucket + "/stable"
)

// liveState is what a client sees at the location, read from the emulator
// in memory (past the fault injection).
type liveState struct {
	manifestBytes []byte
	manifest      *root.Manifest
}

// clientView checks the published state the way a client does: the
// manifest at its fixed name verifies with the root set's signatures
// published at its content address, and pubkeys.pgp and revoked.pgp, both
// at their content addresses and at their plain names, match it.
func clientView(t *testing.T, emu *gcsemu.Server, set *root.RootSet) liveState {
	t.Helper()
	get := func(name string) []byte {
		o, err := emu.Emulator.GetObject(faultBucket, faultPrefix+name)
		if err != nil {
			t.Fatalf("client cannot read %s: %v", name, err)
		}
		return o.Content
	}
	mb := get(root.ManifestName)
	sigs := get(root.ContentPath(root.Hash(mb)) + root.SigSuffix)
	m, err := root.VerifyManifest(mb, sigs, set, time.Now())
	if err != nil {
		t.Fatalf("live manifest does not verify: %v", err)
	}
	for _, f := range m.Files {
		if err := m.CheckFile(f.Name, get(root.ContentPath(f.SHA256))); err != nil {
			t.Fatalf("content-addressed copy of %s: %v", f.Name, err)
		}
	}
	return liveState{manifestBytes: mb, manifest: m}
}

func storeRootSet(t *testing.T, path string) *root.RootSet {
	t.Helper()
	s, err := ring.Open(path, ring.Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	links, err := s.RootLinks()
	if err != nil || len(links) == 0 {
		t.Fatalf("root links: %v (%d)", err, len(links))
	}
	set, err := root.ParseRootSet(links[len(links)-1].Data)
	if err != nil {
		t.Fatal(err)
	}
	return set
}

// publishProc runs keyctl publish to the emulator as a subprocess; the
// child finds the emulator through STORAGE_EMULATOR_HOST, which
// gcsemu.Start set.
func (e *relEnv) publishProc(t *testing.T) (stdout, stderr string, code int) {
	t.Helper()
	cmd, out, errb := e.keyctlCmd(t, "publish", "--to", faultURL, "--root-key", e.rootKey)
	code = exitCode(cmd.Run())
	return out.String(), errb.String(), code
}

func contentUpload(r gcsemu.Request) bool {
	return r.Upload && strings.HasPrefix(r.Object, faultPrefix+root.ContentDir)
}

func TestPublishFaults(t *testing.T) {
	e := newRelEnv(t)
	emu := gcsemu.Start(t, faultBucket)
	set := storeRootSet(t, e.store)
	add := func(name string) {
		k := newMaintainer(t, e.dir, name)
		e.mustRun(t, "--store", e.store, "add", k.file, "--reason", "publish faults")
	}

	// 1. Transient errors are retried: 503s, a 429 and dropped connections
	// on uploads, a dropped connection on the first read of the manifest.
	add("Alpha")
	emu.FailNext(2, gcsemu.Unavailable, gcsemu.AnyUpload())
	emu.FailNext(1, gcsemu.TooManyRequests, gcsemu.AnyUpload())
	emu.FailNext(1, gcsemu.DropConn, gcsemu.AnyUpload())
	emu.FailNext(1, gcsemu.DropResponse, gcsemu.AnyUpload())
	out, errs, code := e.publishProc(t)
	if code != 0 {
		t.Fatalf("publish with transient faults: exit %d\n%s%s", code, out, errs)
	}
	if n := emu.Pending(); n != 0 {
		t.Fatalf("%d injected faults were never hit: the retries were not exercised", n)
	}
	v1 := clientView(t, emu, set)
	if v1.manifest.Version != 1 || !strings.Contains(out, "published manifest version 1") {
		t.Fatalf("first publish: version %d, output %q", v1.manifest.Version, out)
	}

	// 2. A publish that gives up before its manifest goes live (every
	// content-addressed upload fails, more times than the retries) leaves
	// version 1 live and whole for clients, and records nothing.
	add("Bravo")
	emu.Reset()
	emu.FailNext(1000, gcsemu.Unavailable, contentUpload)
	out, errs, code = e.publishProc(t)
	if code != 2 {
		t.Fatalf("publish against a failing bucket: exit %d, want 2\n%s%s", code, out, errs)
	}
	assertVoice(t, errs)
	if got := clientView(t, emu, set); string(got.manifestBytes) != string(v1.manifestBytes) {
		t.Fatalf("a failed publish changed the live manifest (now version %d)", got.manifest.Version)
	}
	if st := readStore(t, e.store); st.published != 1 {
		t.Fatalf("store records version %d as published after a failed publish", st.published)
	}

	// A re-run, with the bucket healthy again, completes it.
	emu.Reset()
	if out, errs, code = e.publishProc(t); code != 0 {
		t.Fatalf("re-run after a failed publish: exit %d\n%s%s", code, out, errs)
	}
	v2 := clientView(t, emu, set)
	if v2.manifest.Version != 2 || len(v2.manifest.Keys) != 2 {
		t.Fatalf("re-run published version %d with %d keys, want version 2 with 2", v2.manifest.Version, len(v2.manifest.Keys))
	}
	checkPlainCopies(t, emu, v2)

	// 3. A publish that gives up after its manifest went live (the plain
	// pubkeys.pgp copy cannot be written) still shows clients a whole
	// state: the new manifest and everything it points at are there.
	add("Charlie")
	emu.Reset()
	emu.FailNext(1000, gcsemu.Unavailable, gcsemu.Upload(faultPrefix+root.PubkeysFile))
	out, errs, code = e.publishProc(t)
	if code != 2 {
		t.Fatalf("publish with pubkeys.pgp failing: exit %d, want 2\n%s%s", code, out, errs)
	}
	assertVoice(t, errs)
	v3 := clientView(t, emu, set)
	if v3.manifest.Version != 3 {
		t.Fatalf("live manifest is version %d, want 3 (it goes up before the plain copies)", v3.manifest.Version)
	}
	// A re-run completes it: the plain copies catch up, and the store and
	// the bucket agree on what is live.
	emu.Reset()
	out, errs, code = e.publishProc(t)
	if code != 0 {
		t.Fatalf("re-run after a publish that failed after its manifest went live: exit %d\n%s%s"+
			"\n(the store did not record version 3, so the re-run is built on version 2 and conflicts with what is live; see docs/reliability.md)", code, out, errs)
	}
	v4 := clientView(t, emu, set)
	if len(v4.manifest.Keys) != 3 {
		t.Fatalf("after the re-run the live manifest has %d keys, want 3", len(v4.manifest.Keys))
	}
	checkPlainCopies(t, emu, v4)
	if st := readStore(t, e.store); st.published != v4.manifest.Version {
		t.Fatalf("store records version %d, the bucket has %d", st.published, v4.manifest.Version)
	}
}

// checkPlainCopies checks the copies that helm verify --keyring and gpgv
// users read (pubkeys.pgp, revoked.pgp at their plain names) against the
// manifest.
func checkPlainCopies(t *testing.T, emu *gcsemu.Server, v liveState) {
	t.Helper()
	for _, f := range v.manifest.Files {
		o, err := emu.Emulator.GetObject(faultBucket, faultPrefix+f.Name)
		if err != nil {
			t.Fatalf("plain copy %s: %v", f.Name, err)
		}
		if err := v.manifest.CheckFile(f.Name, o.Content); err != nil {
			t.Fatalf("plain copy %s: %v", f.Name, fmt.Errorf("does not match the live manifest: %w", err))
		}
	}
}

package main

// The publish fault test of publishfault_test.go, against s3:// (an
// in-process S3 emulator): `keyctl publish --to s3://...` as a real
// subprocess, with 503s, 429s and dropped connections injected.

import (
	"strings"
	"testing"
	"time"

	"github.com/keyctl/keyctl/internal/root"
	"github.com/keyctl/keyctl/internal/testutil/s3emu"
)

func s3ClientView(t *testing.T, emu *s3emu.Server, set *root.RootSet) liveState {
	t.Helper()
	get := func(name string) []byte {
		data, err := emu.Get(faultBucket, faultPrefix+name)
		if err != nil {
			t.Fatalf("client cannot read %s: %v", name, err)
		}
		return data
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
		if err := m.CheckFile(f.Name, get(f.Name)); err != nil {
			t.Fatalf("plain copy of %s: %v", f.Name, err)
		}
	}
	return liveState{manifestBytes: mb, manifest: m}
}

func TestPublishFaultsS3(t *testing.T) {
	e := newRelEnv(t)
	emu := s3emu.Start(t, faultBucket)
	loc := emu.Location(faultBucket, strings.TrimSuffix(faultPrefix, "/"))
	set := storeRootSet(t, e.store)
	add := func(name string) {
		k := newMaintainer(t, e.dir, name)
		e.mustRun(t, "--store", e.store, "add", k.file, "--reason", "publish faults")
	}
	publish := func() (string, string, int) {
		cmd, out, errb := e.keyctlCmd(t, "publish", "--to", loc, "--root-key", e.rootKey)
		cmd.Env = append(cmd.Env, "AWS_EC2_METADATA_DISABLED=true")
		code := exitCode(cmd.Run())
		return out.String(), errb.String(), code
	}
	noLock := func() {
		t.Helper()
		if _, err := emu.Get(faultBucket, faultPrefix+root.ManifestName+".lock"); err == nil {
			t.Fatal("a lock object was left behind")
		}
	}

	// 1. Transient errors are retried.
	add("Alpha")
	emu.FailNext(2, s3emu.Unavailable, s3emu.AnyUpload())
	emu.FailNext(1, s3emu.TooManyRequests, s3emu.AnyUpload())
	emu.FailNext(1, s3emu.DropConn, s3emu.AnyUpload())
	emu.FailNext(1, s3emu.DropResponse, s3emu.AnyUpload())
	out, errs, code := publish()
	if code != 0 {
		t.Fatalf("publish with transient faults: exit %d\n%s%s", code, out, errs)
	}
	if n := emu.Pending(); n != 0 {
		t.Fatalf("%d injected faults were never hit", n)
	}
	v1 := s3ClientView(t, emu, set)
	if v1.manifest.Version != 1 {
		t.Fatalf("first publish: version %d", v1.manifest.Version)
	}
	noLock()

	// 2. Giving up before the manifest goes live leaves version 1 live.
	add("Bravo")
	emu.Reset()
	emu.FailNext(1000, s3emu.Unavailable, func(r s3emu.Request) bool {
		return r.Upload && strings.HasPrefix(r.Object, faultPrefix+root.ContentDir)
	})
	out, errs, code = publish()
	if code != 2 {
		t.Fatalf("publish against a failing bucket: exit %d, want 2\n%s%s", code, out, errs)
	}
	assertVoice(t, errs)
	if got := s3ClientView(t, emu, set); string(got.manifestBytes) != string(v1.manifestBytes) {
		t.Fatalf("a failed publish changed the live manifest (now version %d)", got.manifest.Version)
	}
	noLock()
	emu.Reset()
	if out, errs, code = publish(); code != 0 {
		t.Fatalf("re-run: exit %d\n%s%s", code, out, errs)
	}
	if v2 := s3ClientView(t, emu, set); v2.manifest.Version != 2 {
		t.Fatalf("re-run published version %d, want 2", v2.manifest.Version)
	}

	// 3. Giving up after the manifest went live: whole for clients, and a
	// re-run completes it.
	add("Charlie")
	emu.Reset()
	emu.FailNext(1000, s3emu.Unavailable, s3emu.Upload(faultPrefix+root.PubkeysFile))
	out, errs, code = publish()
	if code != 2 {
		t.Fatalf("publish with pubkeys.pgp failing: exit %d, want 2\n%s%s", code, out, errs)
	}
	emu.Reset()
	if out, errs, code = publish(); code != 0 {
		t.Fatalf("re-run after the manifest went live: exit %d\n%s%s", code, out, errs)
	}
	if v := s3ClientView(t, emu, set); len(v.manifest.Keys) != 3 {
		t.Fatalf("live manifest has %d keys, want 3", len(v.manifest.Keys))
	}
	noLock()
	// The manifest writes were conditional.
	emu.Reset()
	add("Delta")
	if out, errs, code = publish(); code != 0 {
		t.Fatalf("publish: exit %d\n%s%s", code, out, errs)
	}
	for _, r := range emu.Requests() {
		if r.Upload && r.Object == faultPrefix+root.ManifestName && !r.Conditional {
			t.Fatal("the manifest was written without If-Match")
		}
	}
}

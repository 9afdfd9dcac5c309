package publish

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// A publish whose lock was removed by hand while it stalled, and taken by
// the next publish since, must not delete that publish's lock when it
// finishes.
func TestUnlockLeavesAnotherPublishersLockDirectory(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	var l logRec
	a := open(t, dir, &l)
	lockPath := filepath.Join(dir, "keyctl", "manifest.json.lock")
	next := lockContent("00112233445566778899aabbccddeeff", time.Now())
	a.hookBeforePointer = func(context.Context) error {
		// An operator removes the "stale" lock; the next publish takes it.
		if err := os.Remove(lockPath); err != nil {
			return err
		}
		return os.WriteFile(lockPath, next, 0o644)
	}
	if err := a.Publish(ctx, testPlan(nil, "a")); err != nil {
		t.Fatalf("publish: %v", err)
	}
	got, err := os.ReadFile(lockPath)
	if err != nil {
		t.Fatalf("the next publisher's lock was removed: %v", err)
	}
	if !bytes.Equal(got, next) {
		t.Fatalf("lock = %q, want the next publisher's %q", got, next)
	}
	if !strings.Contains(l.text(), "no longer this publish's") {
		t.Fatalf("log does not say the lock was left: %q", l.text())
	}

	// Our own lock is still released.
	if err := os.Remove(lockPath); err != nil {
		t.Fatal(err)
	}
	b := open(t, dir, nil)
	if err := b.Publish(ctx, testPlan(testPlan(nil, "a").Pointer.Data, "b")); err != nil {
		t.Fatalf("second publish: %v", err)
	}
	if _, err := os.Stat(lockPath); err == nil {
		t.Fatal("own lock left behind")
	}
}

func TestUnlockLeavesAnotherPublishersLockObject(t *testing.T) {
	ctx := context.Background()
	var l logRec
	a := open(t, "mem://", &l)
	name := pointerName + lockSuffix
	next := lockContent("00112233445566778899aabbccddeeff", time.Now())
	a.hookBeforePointer = func(ctx context.Context) error {
		d := a.driverNow()
		if err := d.Delete(ctx, name); err != nil {
			return err
		}
		_, err := d.Write(ctx, name, next, writeOptions{})
		return err
	}
	if err := a.Publish(ctx, testPlan(nil, "a")); err != nil {
		t.Fatalf("publish: %v", err)
	}
	got, err := a.Get(ctx, name, 4096)
	if err != nil {
		t.Fatalf("the next publisher's lock was removed: %v", err)
	}
	if !bytes.Equal(got, next) {
		t.Fatalf("lock = %q, want the next publisher's %q", got, next)
	}
	if !strings.Contains(l.text(), "no longer this publish's") {
		t.Fatalf("log does not say the lock was left: %q", l.text())
	}
}

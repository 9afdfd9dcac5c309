package publish

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/keyctl/keyctl/internal/fail"
	"github.com/keyctl/keyctl/internal/testutil/s3emu"
)

// s3 tests run the same faults as the gs:// ones in reliability_test.go,
// against an in-process S3 emulator.

func s3Name(name string) string { return "charts/" + name }

// s3Published starts an emulator and publishes v1 to s3://bkt/charts.
func s3Published(t *testing.T) (*s3emu.Server, string, *Bucket, Plan) {
	t.Helper()
	srv := s3emu.Start(t, "bkt")
	loc := srv.Location("bkt", "charts")
	b := open(t, loc, nil)
	p1 := testPlan(nil, "v1")
	if err := b.Publish(context.Background(), p1); err != nil {
		t.Fatal(err)
	}
	srv.Reset()
	return srv, loc, b, p1
}

// pointerWrites returns the uploads of the pointer seen by srv.
func pointerWrites(srv *s3emu.Server) []s3emu.Request {
	var out []s3emu.Request
	for _, r := range srv.Requests() {
		if r.Upload && r.Object == s3Name(pointerName) {
			out = append(out, r)
		}
	}
	return out
}

func noLock(t *testing.T, srv *s3emu.Server, b *Bucket) {
	t.Helper()
	if ok, err := b.Exists(context.Background(), pointerName+lockSuffix); err != nil || ok {
		t.Fatalf("lock object present (%v, %v)", ok, err)
	}
	for _, r := range srv.Requests() {
		if strings.HasSuffix(r.Object, lockSuffix) && r.Upload {
			t.Fatalf("a lock was taken although the service writes conditionally: %+v", r)
		}
	}
}

func TestS3RoundTripIsConditionalWithoutLock(t *testing.T) {
	ctx := context.Background()
	srv := s3emu.Start(t, "bkt")
	loc := srv.Location("bkt", "charts")
	b := open(t, loc, nil)
	p1 := testPlan(nil, "v1")
	if err := b.Publish(ctx, p1); err != nil {
		t.Fatal(err)
	}
	checkAll(t, open(t, loc, nil), p1)
	p2 := testPlan(p1.Pointer.Data, "v2")
	if err := b.Publish(ctx, p2); err != nil {
		t.Fatal(err)
	}
	checkAll(t, open(t, loc, nil), p2)
	pw := pointerWrites(srv)
	if len(pw) != 2 || !pw[0].Conditional || !pw[1].Conditional {
		t.Fatalf("pointer writes %+v, want two conditional ones", pw)
	}
	noLock(t, srv, b)
}

func TestS3PointerConflictDetectedByETag(t *testing.T) {
	ctx := context.Background()
	srv, loc, b, p1 := s3Published(t)
	// Between b's step 1 and its pointer write, another writer replaces the
	// pointer behind keyctl's back (no lock to stop it): If-Match fails.
	other := open(t, loc, nil)
	b.hookBeforePointer = func(ctx context.Context) error {
		bb := other.driverNow()
		_, err := other.writeOnce(ctx, bb, Object{Name: pointerName, Data: []byte("intruder")}, cacheMutable, overwrite, version{})
		return err
	}
	err := b.Publish(ctx, testPlan(p1.Pointer.Data, "v2"))
	var ce *ConflictError
	if !errors.As(err, &ce) || string(ce.Live) != "intruder" {
		t.Fatalf("err = %v, want a ConflictError naming the live pointer", err)
	}
	if got := getString(t, b, pointerName); got != "intruder" {
		t.Fatalf("pointer = %q: the conditional write was not conditional", got)
	}
	_ = srv
}

func TestS3TransientFaultsAreRetried(t *testing.T) {
	for _, fault := range []s3emu.Fault{s3emu.Unavailable, s3emu.TooManyRequests, s3emu.DropConn, s3emu.DropResponse} {
		t.Run(fault.String(), func(t *testing.T) {
			ctx := context.Background()
			srv, _, b, p1 := s3Published(t)
			p2 := testPlan(p1.Pointer.Data, "v2")
			srv.FailNext(2, fault, s3emu.Download(s3Name(pointerName)))
			srv.FailNext(3, fault, s3emu.Upload(s3Name(p2.Blobs[0].Name)))
			srv.FailNext(3, fault, s3emu.Upload(s3Name(pointerName)))
			srv.FailNext(2, fault, s3emu.Upload(s3Name("pubkeys.pgp")))
			var l logRec
			b.opts.Log = l.logf
			if err := b.Publish(ctx, p2); err != nil {
				t.Fatalf("publish: %v", err)
			}
			if n := srv.Pending(); n != 0 {
				t.Fatalf("%d injected faults never hit", n)
			}
			checkAll(t, b, p2)
			if !strings.Contains(l.text(), "retrying") {
				t.Fatalf("retries not logged:\n%s", l.text())
			}
		})
	}
}

func TestS3RetriesRunOut(t *testing.T) {
	ctx := context.Background()
	srv, _, b, p1 := s3Published(t)
	b.opts.MaxAttempts = 3
	srv.FailNext(100, s3emu.Unavailable, s3emu.AnyUpload())
	err := b.Publish(ctx, testPlan(p1.Pointer.Data, "v2"))
	if err == nil || !strings.Contains(err.Error(), "kept failing") || !strings.Contains(err.Error(), "failed 3 times") {
		t.Fatalf("err = %v", err)
	}
	if fail.ExitCode(err) != 2 {
		t.Errorf("exit code %d", fail.ExitCode(err))
	}
	// Exactly MaxAttempts requests: the S3 client adds no retries of its own.
	if got := srv.Fired(); got != 3 {
		t.Errorf("%d upload attempts, want 3", got)
	}
	if got := getString(t, b, pointerName); got != string(p1.Pointer.Data) {
		t.Fatalf("pointer moved: %s", got)
	}
}

func TestS3FailureBeforePointerLeavesPreviousLive(t *testing.T) {
	ctx := context.Background()
	srv, _, b, p1 := s3Published(t)
	p2 := testPlan(p1.Pointer.Data, "v2")
	srv.FailNext(100, s3emu.Unavailable, s3emu.Upload(s3Name(p2.Blobs[1].Name)))
	err := b.Publish(ctx, p2)
	if err == nil || !strings.Contains(err.Error(), "kept failing") {
		t.Fatalf("err = %v, want kept failing", err)
	}
	if le := (*LiveError)(nil); errors.As(err, &le) {
		t.Fatalf("a failure before the pointer is reported as live: %v", err)
	}
	if got := getString(t, b, pointerName); got != string(p1.Pointer.Data) {
		t.Fatalf("pointer moved although a blob failed: %s", got)
	}
	srv.Reset()
	if err := b.Publish(ctx, p2); err != nil {
		t.Fatalf("re-run: %v", err)
	}
	checkAll(t, b, p2)
}

func TestS3FailureAfterPointerIsConsistentAndResumes(t *testing.T) {
	ctx := context.Background()
	srv, loc, b, p1 := s3Published(t)
	p2 := testPlan(p1.Pointer.Data, "v2")
	srv.FailNext(100, s3emu.Unavailable, s3emu.Upload(s3Name("pubkeys.pgp")))
	err := b.Publish(ctx, p2)
	if le := (*LiveError)(nil); !errors.As(err, &le) {
		t.Fatalf("a failure after the pointer is not reported as live: %v", err)
	}
	if got := getString(t, b, pointerName); got != string(p2.Pointer.Data) {
		t.Fatalf("pointer = %s, want v2", got)
	}
	srv.Reset()
	var l logRec
	b2 := open(t, loc, &l)
	if err := b2.Publish(ctx, p2); err != nil {
		t.Fatalf("re-run: %v", err)
	}
	checkAll(t, b2, p2)
	if !strings.Contains(l.text(), "finishing an earlier run") {
		t.Fatalf("re-run did not say it resumed:\n%s", l.text())
	}
}

func TestS3FirstPublishWhoseAnswerWasLost(t *testing.T) {
	ctx := context.Background()
	srv := s3emu.Start(t, "bkt")
	b := open(t, srv.Location("bkt", "charts"), nil)
	p := testPlan(nil, "v1")
	// The If-None-Match write lands, its answer is lost; the retry fails
	// the precondition against our own object.
	srv.FailNext(1, s3emu.DropResponse, s3emu.Upload(s3Name(pointerName)))
	if err := b.Publish(ctx, p); err != nil {
		t.Fatalf("publish: %v", err)
	}
	if srv.Pending() != 0 {
		t.Fatal("fault not hit")
	}
	checkAll(t, b, p)
}

// A publish killed between its blobs and its pointer (the process dies:
// here its context is cancelled) leaves the old set live and no lock to
// remove by hand; the next run simply succeeds.
func TestS3KilledPublishLeavesNoLock(t *testing.T) {
	ctx := context.Background()
	srv, loc, b, p1 := s3Published(t)
	p2 := testPlan(p1.Pointer.Data, "v2")
	kctx, kill := context.WithCancel(ctx)
	b.hookBeforePointer = func(context.Context) error {
		kill()
		return kctx.Err()
	}
	if err := b.Publish(kctx, p2); err == nil {
		t.Fatal("killed publish succeeded")
	}
	if got := getString(t, b, pointerName); got != string(p1.Pointer.Data) {
		t.Fatalf("pointer moved: %s", got)
	}
	noLock(t, srv, b)
	if err := open(t, loc, nil).Publish(ctx, p2); err != nil {
		t.Fatalf("re-run after the kill: %v", err)
	}
	checkAll(t, b, p2)
}

// barrierOrTimeout is barrier that gives up after 10 s, so that a
// publisher that fails before the barrier fails the test instead of
// hanging it.
func barrierOrTimeout(t *testing.T, n int) func(context.Context) error {
	var wg sync.WaitGroup
	wg.Add(n)
	return func(context.Context) error {
		wg.Done()
		done := make(chan struct{})
		go func() { wg.Wait(); close(done) }()
		select {
		case <-done:
			return nil
		case <-time.After(10 * time.Second):
			return errors.New("the other publisher never reached the pointer write")
		}
	}
}

func TestConcurrentPublishersS3(t *testing.T) {
	ctx := context.Background()
	srv, loc, b, p1 := s3Published(t)
	pubs := []*Bucket{open(t, loc, nil), open(t, loc, nil)}
	plans := []Plan{testPlan(p1.Pointer.Data, "a"), testPlan(p1.Pointer.Data, "b")}
	// Both have read the same ETag and uploaded their blobs before either
	// writes the pointer: without a lock, only If-Match keeps one out.
	hook := barrierOrTimeout(t, 2)
	errs := make([]error, 2)
	var wg sync.WaitGroup
	for i := range pubs {
		pubs[i].hookBeforePointer = hook
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = pubs[i].Publish(ctx, plans[i])
		}()
	}
	wg.Wait()
	winner := -1
	for i, err := range errs {
		var ce *ConflictError
		switch {
		case err == nil:
			if winner != -1 {
				t.Fatal("both publishers won")
			}
			winner = i
		case errors.As(err, &ce):
			if !strings.Contains(err.Error(), "another publish went live") {
				t.Fatalf("conflict message: %v", err)
			}
		default:
			t.Fatalf("publisher %d: %v", i, err)
		}
	}
	if winner == -1 {
		t.Fatal("no publisher won")
	}
	checkAll(t, b, plans[winner])
	noLock(t, srv, b)
	loser := 1 - winner
	pubs[loser].hookBeforePointer = nil
	p3 := testPlan(plans[winner].Pointer.Data, "c")
	if err := pubs[loser].Publish(ctx, p3); err != nil {
		t.Fatalf("rebuilt publish: %v", err)
	}
	checkAll(t, b, p3)
}

func TestS3NewerPublishTakesOverMutableCopies(t *testing.T) {
	ctx := context.Background()
	_, loc, b, p1 := s3Published(t)
	pa := testPlan(p1.Pointer.Data, "a")
	pb := testPlan(pa.Pointer.Data, "b")
	other := open(t, loc, nil)
	var l logRec
	var otherErr error
	ran := false
	b.opts.Log = func(format string, args ...any) {
		l.logf(format, args...)
		if !ran && strings.HasPrefix(fmt.Sprintf(format, args...), "wrote "+pointerName) {
			ran = true
			otherErr = other.Publish(ctx, pb)
		}
	}
	if err := b.Publish(ctx, pa); err != nil {
		t.Fatalf("a: %v", err)
	}
	if !ran || otherErr != nil {
		t.Fatalf("b ran %v: %v", ran, otherErr)
	}
	checkAll(t, b, pb)
	if !strings.Contains(l.text(), "replaced by a newer publish") {
		t.Fatalf("a did not say it stopped:\n%s", l.text())
	}
}

// An S3-compatible service without conditional writes answers them 501:
// the publish falls back to the lock object and still lands, once.
func TestS3WithoutConditionalWritesFallsBackToLock(t *testing.T) {
	ctx := context.Background()
	srv, _, b, p1 := s3Published(t)
	srv.FailNext(100, s3emu.NotImplemented, s3emu.Conditional(), s3emu.Upload(s3Name(pointerName)))
	var l logRec
	b.opts.Log = l.logf
	p2 := testPlan(p1.Pointer.Data, "v2")
	if err := b.Publish(ctx, p2); err != nil {
		t.Fatalf("publish: %v", err)
	}
	checkAll(t, b, p2)
	if !strings.Contains(l.text(), "does not support conditional writes; taking the lock") {
		t.Fatalf("fallback not logged:\n%s", l.text())
	}
	if got := srv.Fired(); got != 1 {
		t.Fatalf("%d 501 answers, want 1 (501 is not retried)", got)
	}
	tookLock := false
	for _, r := range srv.Requests() {
		if r.Upload && r.Object == s3Name(pointerName+lockSuffix) {
			tookLock = true
		}
	}
	if !tookLock {
		t.Fatal("fell back without taking the lock")
	}
	if ok, _ := b.Exists(ctx, pointerName+lockSuffix); ok {
		t.Fatal("lock left behind")
	}
	// The next publish through this bucket locks from the start.
	srv.Reset()
	p3 := testPlan(p2.Pointer.Data, "v3")
	if err := b.Publish(ctx, p3); err != nil {
		t.Fatalf("second publish: %v", err)
	}
	checkAll(t, b, p3)
	if pw := pointerWrites(srv); len(pw) != 1 || pw[0].Conditional {
		t.Fatalf("pointer writes %+v, want one plain write under the lock", pw)
	}
}

// In the fallback, a pointer that moved between step 1 and taking the lock
// is a conflict, not overwritten.
func TestS3FallbackRechecksPointerUnderLock(t *testing.T) {
	ctx := context.Background()
	srv, loc, b, p1 := s3Published(t)
	srv.FailNext(100, s3emu.NotImplemented, s3emu.Conditional(), s3emu.Upload(s3Name(pointerName)))
	other := open(t, loc, nil)
	b.hookBeforePointer = func(ctx context.Context) error {
		_, err := other.writeOnce(ctx, other.driverNow(), Object{Name: pointerName, Data: []byte("intruder")}, cacheMutable, overwrite, version{})
		return err
	}
	err := b.Publish(ctx, testPlan(p1.Pointer.Data, "v2"))
	var ce *ConflictError
	if !errors.As(err, &ce) {
		t.Fatalf("err = %v, want ConflictError", err)
	}
	if got := getString(t, b, pointerName); got != "intruder" {
		t.Fatalf("pointer overwritten: %q", got)
	}
	if ok, _ := b.Exists(ctx, pointerName+lockSuffix); ok {
		t.Fatal("lock left behind")
	}
}

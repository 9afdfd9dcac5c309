package publish

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/keyctl/keyctl/internal/fail"
	"github.com/keyctl/keyctl/internal/testutil/gcsemu"
)

const gsLoc = "gs://bkt/charts"

func gsName(name string) string { return "charts/" + name }

// published starts an emulator and publishes v1 to it.
func published(t *testing.T) (*gcsemu.Server, *Bucket, Plan) {
	t.Helper()
	srv := gcsemu.Start(t, "bkt")
	b := open(t, gsLoc, nil)
	p1 := testPlan(nil, "v1")
	if err := b.Publish(context.Background(), p1); err != nil {
		t.Fatal(err)
	}
	srv.Reset()
	return srv, b, p1
}

func TestFailureBeforePointerLeavesPreviousLive(t *testing.T) {
	ctx := context.Background()
	srv, b, p1 := published(t)
	p2 := testPlan(p1.Pointer.Data, "v2")
	srv.FailNext(100, gcsemu.Unavailable, gcsemu.Upload(gsName(p2.Blobs[1].Name)))
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
	if got := getString(t, b, "pubkeys.pgp"); got != string(p1.Files[0].Data) {
		t.Fatalf("mutable copy written before the pointer: %s", got)
	}
	srv.Reset()
	if err := b.Publish(ctx, p2); err != nil {
		t.Fatalf("re-run: %v", err)
	}
	checkAll(t, b, p2)
}

func TestFailureAfterPointerIsConsistentAndResumes(t *testing.T) {
	ctx := context.Background()
	srv, b, p1 := published(t)
	p2 := testPlan(p1.Pointer.Data, "v2")
	srv.FailNext(100, gcsemu.Unavailable, gcsemu.Upload(gsName("pubkeys.pgp")))
	err := b.Publish(ctx, p2)
	if err == nil {
		t.Fatal("publish succeeded through a failing pubkeys.pgp")
	}
	if le := (*LiveError)(nil); !errors.As(err, &le) {
		t.Fatalf("a failure after the pointer is not reported as live: %v", err)
	}
	// The new set is live and complete: pointer new, its blobs present.
	if got := getString(t, b, pointerName); got != string(p2.Pointer.Data) {
		t.Fatalf("pointer = %s, want v2", got)
	}
	for _, o := range p2.Blobs {
		if got := getString(t, b, o.Name); got != string(o.Data) {
			t.Fatalf("blob %s = %q", o.Name, got)
		}
	}
	if got := getString(t, b, "pubkeys.pgp"); got != string(p1.Files[0].Data) {
		t.Fatalf("pubkeys.pgp = %q, want the old copy (the failure came first)", got)
	}
	srv.Reset()
	// Running the same plan again finishes it, although the pointer no
	// longer has the hash the plan was built on.
	var l logRec
	b2 := open(t, gsLoc, &l)
	if err := b2.Publish(ctx, p2); err != nil {
		t.Fatalf("re-run: %v", err)
	}
	checkAll(t, b2, p2)
	if !strings.Contains(l.text(), "finishing an earlier run") {
		t.Fatalf("re-run did not say it resumed:\n%s", l.text())
	}
}

func TestTransientFaultsAreRetried(t *testing.T) {
	for _, fault := range []gcsemu.Fault{gcsemu.Unavailable, gcsemu.TooManyRequests, gcsemu.DropConn, gcsemu.DropResponse} {
		t.Run(fault.String(), func(t *testing.T) {
			ctx := context.Background()
			srv, b, p1 := published(t)
			p2 := testPlan(p1.Pointer.Data, "v2")
			// Every kind of object, and the step-1 read, fails 2 or 3 times.
			srv.FailNext(2, fault, gcsemu.Download(gsName(pointerName)))
			srv.FailNext(3, fault, gcsemu.Upload(gsName(p2.Blobs[0].Name)))
			srv.FailNext(3, fault, gcsemu.Upload(gsName(pointerName)))
			srv.FailNext(2, fault, gcsemu.Upload(gsName("pubkeys.pgp")))
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

func TestFirstPublishWhoseAnswerWasLost(t *testing.T) {
	ctx := context.Background()
	srv := gcsemu.Start(t, "bkt")
	b := open(t, gsLoc, nil)
	p := testPlan(nil, "v1")
	// The DoesNotExist write lands, its answer is lost; the retry fails
	// the precondition against our own object.
	srv.FailNext(1, gcsemu.DropResponse, gcsemu.Upload(gsName(pointerName)))
	if err := b.Publish(ctx, p); err != nil {
		t.Fatalf("publish: %v", err)
	}
	if srv.Pending() != 0 {
		t.Fatal("fault not hit")
	}
	checkAll(t, b, p)
}

func TestRetriesRunOut(t *testing.T) {
	ctx := context.Background()
	srv, b, p1 := published(t)
	b.opts.MaxAttempts = 3
	srv.FailNext(100, gcsemu.Unavailable, gcsemu.AnyUpload())
	err := b.Publish(ctx, testPlan(p1.Pointer.Data, "v2"))
	if err == nil {
		t.Fatal("publish succeeded")
	}
	msg := err.Error()
	for _, want := range []string{"gs://bkt/charts kept failing", "failed 3 times", "blobs/"} {
		if !strings.Contains(msg, want) {
			t.Errorf("message %q lacks %q", msg, want)
		}
	}
	if h := strings.Join(fail.HintsOf(err), "\n"); !strings.Contains(h, "again") {
		t.Errorf("hints %q do not say what to do", h)
	}
	if fail.ExitCode(err) != 2 {
		t.Errorf("exit code %d", fail.ExitCode(err))
	}
	// Exactly MaxAttempts requests: the storage library added none.
	if got := srv.Fired(); got != 3 {
		t.Errorf("%d upload attempts, want 3", got)
	}
	if got := getString(t, b, pointerName); got != string(p1.Pointer.Data) {
		t.Fatalf("pointer moved: %s", got)
	}
}

func TestFinalErrorsAreNotRetried(t *testing.T) {
	ctx := context.Background()
	srv, b, _ := published(t)
	if _, err := b.Get(ctx, "nothing-here", 10); err == nil {
		t.Fatal("Get of a missing object succeeded")
	}
	if n := len(srv.Requests()); n != 1 {
		t.Fatalf("not-found took %d requests, want 1", n)
	}
}

// barrier lets n goroutines wait until all have arrived.
func barrier(n int) func(context.Context) error {
	var wg sync.WaitGroup
	wg.Add(n)
	return func(context.Context) error {
		wg.Done()
		wg.Wait()
		return nil
	}
}

func TestConcurrentPublishersGCS(t *testing.T) {
	ctx := context.Background()
	_, b, p1 := published(t)
	_ = b
	pubs := []*Bucket{open(t, gsLoc, nil), open(t, gsLoc, nil)}
	plans := []Plan{testPlan(p1.Pointer.Data, "a"), testPlan(p1.Pointer.Data, "b")}
	// Both have read the same generation and uploaded their blobs before
	// either writes the pointer.
	hook := barrier(2)
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
	// The loser rebuilds on what is live and succeeds.
	loser := 1 - winner
	pubs[loser].hookBeforePointer = nil
	p3 := testPlan(plans[winner].Pointer.Data, "c")
	if err := pubs[loser].Publish(ctx, p3); err != nil {
		t.Fatalf("rebuilt publish: %v", err)
	}
	checkAll(t, b, p3)
}

func TestLockDirectory(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	first := open(t, dir, nil)
	p1 := testPlan(nil, "v1")
	if err := first.Publish(ctx, p1); err != nil {
		t.Fatal(err)
	}
	a, bpub := open(t, dir, nil), open(t, dir, nil)
	pa, pb := testPlan(p1.Pointer.Data, "a"), testPlan(p1.Pointer.Data, "b")

	inside, release := make(chan struct{}), make(chan struct{})
	a.hookBeforePointer = func(context.Context) error {
		close(inside)
		<-release
		return nil
	}
	errA := make(chan error, 1)
	go func() { errA <- a.Publish(ctx, pa) }()
	<-inside
	// While a holds the lock, b is told so.
	err := bpub.Publish(ctx, pb)
	var le *LockedError
	lockPath := filepath.Join(dir, "keyctl", "manifest.json.lock")
	if !errors.As(err, &le) || le.Lock != lockPath || !strings.Contains(le.Holder, fmt.Sprint(os.Getpid())) {
		t.Fatalf("err = %v, want LockedError on %s", err, lockPath)
	}
	if !strings.Contains(err.Error(), "another publish holds the lock") ||
		!strings.Contains(strings.Join(fail.HintsOf(err), "\n"), "rm "+lockPath) {
		t.Fatalf("message %q hints %q", err, fail.HintsOf(err))
	}
	if time.Since(le.Since) > time.Minute || time.Since(le.Since) < -time.Minute {
		t.Fatalf("lock since %v", le.Since)
	}
	close(release)
	if err := <-errA; err != nil {
		t.Fatalf("a: %v", err)
	}
	// b, built on v1, now meets a's pointer.
	var ce *ConflictError
	if err := bpub.Publish(ctx, pb); !errors.As(err, &ce) {
		t.Fatalf("b after a: %v, want ConflictError", err)
	}
	checkAll(t, first, pa)
	if _, err := os.Stat(lockPath); err == nil {
		t.Fatal("lock left behind")
	}
}

func TestLockDirectoryRealRace(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	p1 := testPlan(nil, "v1")
	if err := open(t, dir, nil).Publish(ctx, p1); err != nil {
		t.Fatal(err)
	}
	for round := range 5 {
		prev := getString(t, open(t, dir, nil), pointerName)
		pubs := []*Bucket{open(t, dir, nil), open(t, dir, nil)}
		plans := []Plan{testPlan([]byte(prev), fmt.Sprint("a", round)), testPlan([]byte(prev), fmt.Sprint("b", round))}
		errs := make([]error, 2)
		start := make(chan struct{})
		var wg sync.WaitGroup
		for i := range pubs {
			wg.Add(1)
			go func() {
				defer wg.Done()
				<-start
				errs[i] = pubs[i].Publish(ctx, plans[i])
			}()
		}
		close(start)
		wg.Wait()
		wins := 0
		for _, err := range errs {
			var ce *ConflictError
			var le *LockedError
			switch {
			case err == nil:
				wins++
			case errors.As(err, &ce), errors.As(err, &le):
			default:
				t.Fatalf("round %d: %v", round, err)
			}
		}
		if wins != 1 {
			t.Fatalf("round %d: %d winners (%v)", round, wins, errs)
		}
	}
}

func TestStaleLockFile(t *testing.T) {
	dir := t.TempDir()
	lock := filepath.Join(dir, "keyctl", "manifest.json.lock")
	if err := os.MkdirAll(filepath.Dir(lock), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(lock, []byte("keyctl publish lock\nsince 2020-01-02T03:04:05Z\npid 4242\nhost buildbox\ntoken x\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	err := open(t, dir, nil).Publish(context.Background(), testPlan(nil, "v1"))
	var le *LockedError
	if !errors.As(err, &le) || !strings.Contains(err.Error(), "since 2020-01-02T03:04:05Z, pid 4242 on buildbox") {
		t.Fatalf("err = %v", err)
	}
	if _, err := os.Stat(lock); err != nil {
		t.Fatal("someone else's lock was removed")
	}
	if err := os.Remove(lock); err != nil {
		t.Fatal(err)
	}
	if err := open(t, dir, nil).Publish(context.Background(), testPlan(nil, "v1")); err != nil {
		t.Fatalf("after removing the lock: %v", err)
	}
}

func TestLockObjectMem(t *testing.T) {
	ctx := context.Background()
	b := open(t, "mem://", nil)
	inside, release := make(chan struct{}), make(chan struct{})
	b.hookBeforePointer = func(context.Context) error {
		close(inside)
		<-release
		return nil
	}
	errA := make(chan error, 1)
	go func() { errA <- b.Publish(ctx, testPlan(nil, "a")) }()
	<-inside
	b2 := &Bucket{loc: b.loc, opts: b.opts, drv: b.driverNow()} // same memory bucket, no hook
	err := b2.Publish(ctx, testPlan(nil, "b"))
	var le *LockedError
	if !errors.As(err, &le) || le.Lock != "mem:///"+pointerName+".lock" {
		t.Fatalf("err = %v, want LockedError", err)
	}
	close(release)
	if err := <-errA; err != nil {
		t.Fatal(err)
	}
	if ok, _ := b.Exists(ctx, pointerName+".lock"); ok {
		t.Fatal("lock object left behind")
	}
}

func TestNewerPublishTakesOverMutableCopies(t *testing.T) {
	ctx := context.Background()
	_, b, p1 := published(t)
	pa := testPlan(p1.Pointer.Data, "a")
	pb := testPlan(pa.Pointer.Data, "b")
	other := open(t, gsLoc, nil)
	var l logRec
	var otherErr error
	ran := false
	// Right after a's pointer lands, a complete publish b (built on a)
	// goes through before a writes its mutable copies.
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
	// a did not overwrite b's newer copies with its own.
	checkAll(t, b, pb)
	if !strings.Contains(l.text(), "replaced by a newer publish") {
		t.Fatalf("a did not say it stopped:\n%s", l.text())
	}
}

package client

import (
	"os"
	"syscall"
	"testing"
	"time"
)

// Attack (low; someone who can edit files in the client's state folder,
// e.g. a shared CI cache): readChecked opens PATH.lock with O_RDONLY and
// falls back to an unlocked read only when the open fails. A FIFO planted
// at PATH.lock makes that open block until a writer appears, which never
// happens: every run with nothing new to write hangs forever instead of
// failing closed with an error (writeChecked opens the same FIFO O_RDWR
// and does not block, so only the new read path hangs). Rule: a run that
// cannot lock or read its state fails with an error, it never hangs.
// Fix: open the lock file with O_NONBLOCK|O_NOFOLLOW and refuse anything
// that is not a regular file (fstat), as a damaged state.
func TestAttackStateLockFIFOHangsUnchangedRun(t *testing.T) {
	dir := t.TempDir()
	f := newStateFile(dir, "https://charts.example.org/")
	if err := syscall.Mkfifo(f.path+".lock", 0o600); err != nil {
		t.Skipf("mkfifo: %v", err)
	}
	done := make(chan error, 1)
	go func() { done <- f.readChecked(State{}, nil) }()
	select {
	case err := <-done:
		if err == nil {
			t.Fatal("readChecked trusted the state though PATH.lock is a FIFO, not a lock file")
		}
	case <-time.After(3 * time.Second):
		// Release the blocked open so the goroutine ends.
		if w, err := os.OpenFile(f.path+".lock", os.O_WRONLY|syscall.O_NONBLOCK, 0); err == nil {
			w.Close()
		}
		t.Fatal("readChecked hangs on a FIFO planted at the state lock: the run never ends and never fails")
	}
}

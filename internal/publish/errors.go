package publish

import (
	"encoding/hex"
	"fmt"
	"io/fs"
	"time"

	"github.com/keyctl/keyctl/internal/fail"
)

// NotFoundError says an object is not at a location. errors.Is(err,
// fs.ErrNotExist) is true for it.
type NotFoundError struct {
	Name, Location string
}

func (e *NotFoundError) Error() string {
	return fmt.Sprintf("no object %s at %s", e.Name, e.Location)
}

// Is makes errors.Is(err, fs.ErrNotExist) true.
func (e *NotFoundError) Is(target error) bool { return target == fs.ErrNotExist }

// LiveError is a publish that failed after its pointer went live (step 4,
// the mutable copies): clients already see the new state, consistent
// through the content-addressed blobs; a re-run completes the copies. The
// cause keeps its kind and hints.
type LiveError struct{ Err error }

func (e *LiveError) Error() string { return e.Err.Error() }
func (e *LiveError) Unwrap() error { return e.Err }

// TooLargeError says an object is larger than the caller's limit.
type TooLargeError struct {
	Name, Location string
	Limit          int64
}

func (e *TooLargeError) Error() string {
	return fmt.Sprintf("object %s at %s is larger than %d bytes", e.Name, e.Location, e.Limit)
}

// ConflictError says the pointer object is not what the publish was built
// on: another publish went live in between. Live holds the pointer's
// current content (nil when it does not exist) so that the caller can say
// which version is live; it is never printed.
type ConflictError struct {
	Location, Pointer string
	// Expected is the SHA-256 the publish was built on; nil means "no
	// pointer yet".
	Expected []byte
	// LiveSHA256 is the SHA-256 of the live pointer, nil when there is none.
	LiveSHA256 []byte
	Live       []byte
}

func (e *ConflictError) Error() string {
	built := "an empty location"
	if e.Expected != nil {
		built = "sha256 " + short(e.Expected)
	}
	live := "no " + e.Pointer + " at all"
	if e.LiveSHA256 != nil {
		live = "sha256 " + short(e.LiveSHA256)
	}
	return fmt.Sprintf("another publish went live at %s: %s is now %s, this publish was built on %s", e.Location, e.Pointer, live, built)
}

func short(h []byte) string {
	s := hex.EncodeToString(h)
	if len(s) > 16 {
		s = s[:16]
	}
	return s
}

// LockedError says a lock file or object is held by another publish (on
// backends without generation preconditions).
type LockedError struct {
	Location string
	Lock     string // path or object name of the lock
	Since    time.Time
	Holder   string // "pid N on HOST", when the lock says so
}

func (e *LockedError) Error() string {
	s := fmt.Sprintf("another publish holds the lock (%s, since %s", e.Lock, e.Since.UTC().Format(time.RFC3339))
	if e.Holder != "" {
		s += ", " + e.Holder
	}
	return s + ")"
}

func notFound(name, loc string) error {
	return &fail.Error{Kind: fail.Input, Err: &NotFoundError{Name: name, Location: loc},
		Hints: []string{"check that " + loc + " is the repository root that keyctl publish wrote to"}}
}

func tooLarge(name, loc string, limit int64) error {
	return &fail.Error{Kind: fail.Input, Err: &TooLargeError{Name: name, Location: loc, Limit: limit},
		Hints: []string{"the object is bigger than anything keyctl publishes there; check that the location is right and the object was not replaced"}}
}

func conflict(e *ConflictError) error {
	return &fail.Error{Kind: fail.Input, Err: e, Hints: []string{
		"nothing was changed by this publish; what is live is the other publish",
		"run keyctl publish again: it rebuilds on top of what is live now",
	}}
}

func locked(e *LockedError, remove string) error {
	return &fail.Error{Kind: fail.Input, Err: e, Hints: []string{
		"wait for the other publish to finish and run keyctl publish again",
		"if no publish is running (one was killed), remove the lock: " + remove,
	}}
}

// NotFound, TooLarge and Conflict build the errors Get and Publish return,
// for Remote implementations: callers tell them apart the same way
// whatever the location.
func NotFound(name, loc string) error              { return notFound(name, loc) }
func TooLarge(name, loc string, limit int64) error { return tooLarge(name, loc, limit) }
func Conflict(e *ConflictError) error              { return conflict(e) }

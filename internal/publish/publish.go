package publish

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/keyctl/keyctl/internal/fail"
)

// Object is one object to write. Name is relative to the location (its
// prefix is added). Empty ContentType and CacheControl get defaults from
// the object's role and extension.
type Object struct {
	Name         string
	Data         []byte
	ContentType  string
	CacheControl string
}

// Plan is one publish. See the package documentation for the order.
type Plan struct {
	// Blobs are content-addressed and immutable.
	Blobs []Object
	// Before are mutable objects written after the blobs and before the
	// pointer: what the new pointer needs readers to find already, such
	// as the transparency log's checkpoint that includes it.
	Before []Object
	// Pointer is the object that makes the set live.
	Pointer Object
	// ExpectPrevious is the SHA-256 of the pointer's content this publish
	// was built on; nil means the pointer must not exist yet.
	ExpectPrevious []byte
	// Files are mutable convenience copies, overwritten after the pointer.
	Files []Object
	// After is written last.
	After []Object
	// Version is the manifest version this plan publishes, for locations
	// that tag it (OCI, see internal/oci); 0 for none.
	Version uint64
}

// MaxPointerSize caps how much of the live pointer Publish reads.
const MaxPointerSize = 64 << 20

const lockSuffix = ".lock"

func (p *Plan) check() error {
	if err := checkName(p.Pointer.Name); err != nil {
		return fail.Hint(err, "the plan's pointer object needs a name")
	}
	if len(p.Pointer.Data) == 0 {
		return fail.Inputf("pointer %s is empty", p.Pointer.Name)
	}
	if p.ExpectPrevious != nil && len(p.ExpectPrevious) != sha256.Size {
		return fail.Inputf("expected previous pointer hash is %d bytes, want a %d-byte SHA-256", len(p.ExpectPrevious), sha256.Size)
	}
	seen := map[string]bool{p.Pointer.Name: true, p.Pointer.Name + lockSuffix: true}
	for _, group := range [][]Object{p.Blobs, p.Before, p.Files, p.After} {
		for _, o := range group {
			if err := checkName(o.Name); err != nil {
				return err
			}
			if seen[o.Name] {
				return fail.Inputf("object %s appears twice in the plan, or is the pointer or its lock", o.Name)
			}
			seen[o.Name] = true
		}
	}
	return nil
}

// Publish writes p: blobs first, the pointer with a precondition, then the
// mutable files. It returns a *ConflictError (inside a *fail.Error) when the
// pointer is not what p was built on, and a *LockedError when another
// publish holds the lock.
func (b *Bucket) Publish(ctx context.Context, p Plan) (err error) {
	if b.remote != nil {
		if err := p.check(); err != nil {
			return err
		}
		return b.remote.Publish(ctx, p)
	}
	if b.loc.kind == kindHTTP {
		return fail.Inputf("%s is read-only: http(s) locations can be read, not published to", b.loc.display).
			WithHint("publish to the directory or bucket behind it (a directory, file://, gs:// or s3://)")
	}
	if err := p.check(); err != nil {
		return err
	}
	bb, err := b.driverForWrite()
	if err != nil {
		return err
	}

	// 0. Lock, where the pointer cannot be written conditionally.
	var unlock func() error
	defer func() {
		if unlock == nil {
			return
		}
		if uerr := unlock(); uerr != nil {
			b.logf("could not remove the lock %s: %v", p.Pointer.Name+lockSuffix, uerr)
			if err == nil {
				err = fail.Inputf("published to %s, but could not remove the lock %s", b.loc.display, p.Pointer.Name+lockSuffix).
					Wrap(uerr).WithHint("remove it by hand before the next publish")
			}
		}
	}()
	if !b.conditional() {
		if unlock, err = b.lock(ctx, bb, p.Pointer.Name); err != nil {
			return err
		}
	}

	// 1. What is live now?
	cur, ver, err := b.readRetry(ctx, p.Pointer.Name, MaxPointerSize)
	exists := err == nil
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	var liveSum []byte
	if exists {
		s := sha256.Sum256(cur)
		liveSum = s[:]
	}
	resume := false
	switch {
	case !exists && p.ExpectPrevious == nil, exists && bytes.Equal(liveSum, p.ExpectPrevious):
	case exists && bytes.Equal(cur, p.Pointer.Data):
		resume = true
		b.logf("%s already holds this publish; finishing an earlier run", p.Pointer.Name)
	default:
		return conflict(&ConflictError{Location: b.loc.display, Pointer: p.Pointer.Name,
			Expected: p.ExpectPrevious, LiveSHA256: liveSum, Live: cur})
	}

	// 2. Content-addressed blobs.
	for _, o := range p.Blobs {
		if err := b.putBlob(ctx, bb, o); err != nil {
			return err
		}
	}

	// 2b. Mutable objects the pointer needs before it goes live.
	for _, o := range p.Before {
		if err := b.putMutable(ctx, bb, o); err != nil {
			return err
		}
	}

	// 3. The pointer.
	if b.hookBeforePointer != nil {
		if err := b.hookBeforePointer(ctx); err != nil {
			return err
		}
	}
	newVer := ver
	if !resume {
		if !exists {
			ver = version{} // must not exist
		}
		newVer, err = b.putPointer(ctx, bb, p, ver, unlock != nil)
		if errors.Is(err, errNoConditional) {
			// An S3-compatible service without conditional writes: the
			// lock, then the same check and an unconditional write.
			b.noConditional = true
			b.logf("%s does not support conditional writes; taking the lock instead", b.loc.display)
			if unlock, err = b.lock(ctx, bb, p.Pointer.Name); err != nil {
				return err
			}
			again, _, rerr := b.readRetry(ctx, p.Pointer.Name, MaxPointerSize)
			switch {
			case rerr == nil && exists && bytes.Equal(again, cur), errors.Is(rerr, fs.ErrNotExist) && !exists:
			case rerr != nil && !errors.Is(rerr, fs.ErrNotExist):
				return rerr
			default:
				ce := &ConflictError{Location: b.loc.display, Pointer: p.Pointer.Name, Expected: p.ExpectPrevious}
				if rerr == nil {
					s := sha256.Sum256(again)
					ce.LiveSHA256, ce.Live = s[:], again
				}
				return conflict(ce)
			}
			newVer, err = b.putPointer(ctx, bb, p, ver, true)
		}
		if err != nil {
			return err
		}
	}

	// 4. Mutable copies, then After.
	for _, group := range [][]Object{p.Files, p.After} {
		for _, o := range group {
			if unlock == nil {
				moved, err := b.pointerMoved(ctx, bb, p.Pointer, newVer)
				if err != nil {
					return &LiveError{Err: err}
				}
				if moved {
					b.logf("%s was replaced by a newer publish; leaving %s and the rest to it", p.Pointer.Name, o.Name)
					return nil
				}
			}
			if err := b.putMutable(ctx, bb, o); err != nil {
				return &LiveError{Err: err}
			}
		}
	}
	return nil
}

// conditional reports whether the pointer is written with a precondition
// (GCS generations, S3 ETags) rather than under the lock.
func (b *Bucket) conditional() bool {
	switch b.loc.kind {
	case kindGCS:
		return true
	case kindS3:
		return !b.noConditional
	}
	return false
}

// errNoConditional is what putPointer returns when an S3-compatible service
// answers a conditional write with 501 Not Implemented.
var errNoConditional = errors.New("conditional writes not implemented")

// notImplemented reports whether err is a 501 Not Implemented answer.
func notImplemented(err error) bool { return errorCode(err) == codeUnimplemented }

func (b *Bucket) putBlob(ctx context.Context, bb driver, o Object) error {
	err := b.retry(ctx, "upload "+o.Name, func(ctx context.Context) error {
		_, err := b.writeOnce(ctx, bb, o, cacheImmutable, ifNotExist, version{})
		return err
	})
	if err == nil {
		b.logf("uploaded %s (%d bytes)", o.Name, len(o.Data))
		return nil
	}
	if errorCode(err) != codePreconditionFailed {
		return b.opError("upload", o.Name, err)
	}
	same, _, rerr := b.sameContent(ctx, o.Name, o.Data)
	if rerr != nil {
		return rerr
	}
	if !same {
		return fail.Securityf("content-addressed object %s at %s already exists with different content", o.Name, b.loc.display).
			WithHint("content-addressed objects never change: something else altered it; inspect it, delete it if keyctl did not write it, and publish again")
	}
	b.logf("%s already present", o.Name)
	return nil
}

// putPointer writes the pointer: under the lock (locked) without a
// precondition, otherwise only if it is still at ver (zero: absent).
func (b *Bucket) putPointer(ctx context.Context, bb driver, p Plan, ver version, locked bool) (version, error) {
	o := p.Pointer
	mode := ifVersionMatch
	if locked {
		mode = overwrite
	}
	var newVer version
	err := b.retry(ctx, "write "+o.Name, func(ctx context.Context) error {
		var err error
		newVer, err = b.writeOnce(ctx, bb, o, cacheMutable, mode, ver)
		return err
	})
	if err == nil {
		b.logf("wrote %s (%d bytes)", o.Name, len(o.Data))
		return newVer, nil
	}
	if mode == ifVersionMatch && b.loc.kind == kindS3 && notImplemented(err) {
		return version{}, errNoConditional
	}
	if errorCode(err) != codePreconditionFailed {
		return version{}, b.opError("write", o.Name, err)
	}
	// Another publisher's write, or ours: an earlier attempt that landed
	// although its answer was lost.
	cur, curVer, rerr := b.readRetry(ctx, o.Name, MaxPointerSize)
	if rerr == nil && bytes.Equal(cur, o.Data) {
		b.logf("wrote %s (%d bytes; an earlier attempt had landed)", o.Name, len(o.Data))
		return curVer, nil
	}
	ce := &ConflictError{Location: b.loc.display, Pointer: o.Name, Expected: p.ExpectPrevious}
	switch {
	case rerr == nil:
		s := sha256.Sum256(cur)
		ce.LiveSHA256, ce.Live = s[:], cur
	case !errors.Is(rerr, fs.ErrNotExist):
		return version{}, rerr
	}
	return version{}, conflict(ce)
}

func (b *Bucket) putMutable(ctx context.Context, bb driver, o Object) error {
	err := b.retry(ctx, "upload "+o.Name, func(ctx context.Context) error {
		_, err := b.writeOnce(ctx, bb, o, cacheMutable, overwrite, version{})
		return err
	})
	if err != nil {
		return b.opError("upload", o.Name, err)
	}
	b.logf("uploaded %s (%d bytes)", o.Name, len(o.Data))
	return nil
}

// pointerMoved reports whether the pointer is no longer what this publish
// wrote: on GCS its generation is not ver's; elsewhere its content is not
// ours.
func (b *Bucket) pointerMoved(ctx context.Context, bb driver, pointer Object, ver version) (bool, error) {
	if b.loc.kind != kindGCS || ver.gen == 0 {
		same, _, err := b.sameContent(ctx, pointer.Name, pointer.Data)
		if errors.Is(err, fs.ErrNotExist) {
			return true, nil
		}
		return !same, err
	}
	var cur int64
	err := b.retry(ctx, "check "+pointer.Name, func(ctx context.Context) error {
		a, err := bb.Attributes(ctx, pointer.Name)
		if err != nil {
			return err
		}
		cur = a.Version.gen
		return nil
	})
	if err != nil {
		if errorCode(err) == codeNotFound {
			return true, nil
		}
		return false, b.opError("check", pointer.Name, err)
	}
	return cur != 0 && cur != ver.gen, nil
}

// lock takes the publish lock next to pointer and returns its release.
func (b *Bucket) lock(ctx context.Context, bb driver, pointer string) (func() error, error) {
	token := make([]byte, 16)
	if _, err := rand.Read(token); err != nil {
		return nil, fail.Inputf("make a lock token").Wrap(err)
	}
	tok := hex.EncodeToString(token)
	content := lockContent(tok, time.Now())
	if b.loc.kind == kindDir {
		return b.lockFile(pointer, content, tok)
	}
	return b.lockObject(ctx, bb, pointer+lockSuffix, content, tok)
}

// lockToken returns the token line of a lock written by lockContent, or "".
func lockToken(data []byte) string {
	sc := bufio.NewScanner(bytes.NewReader(data))
	for sc.Scan() {
		if k, v, _ := strings.Cut(sc.Text(), " "); k == "token" {
			return v
		}
	}
	return ""
}

// notOurLock is logged when the lock to release holds another token: it
// was removed by hand while this publish stalled, and another publish has
// taken it since. That lock is not ours to delete.
func (b *Bucket) notOurLock(lock string) {
	b.logf("the lock %s is no longer this publish's (removed by hand while it ran?); leaving it to its holder", lock)
}

func lockContent(token string, now time.Time) []byte {
	host, _ := os.Hostname()
	return fmt.Appendf(nil, "keyctl publish lock\nsince %s\npid %d\nhost %s\ntoken %s\n",
		now.UTC().Format(time.RFC3339), os.Getpid(), host, token)
}

// parseLock reads what lockContent wrote; unknown or broken lines are
// skipped, since the lock only informs the message.
func parseLock(data []byte) (since time.Time, holder string) {
	var pid, host string
	sc := bufio.NewScanner(bytes.NewReader(data))
	for sc.Scan() {
		k, v, _ := strings.Cut(sc.Text(), " ")
		switch k {
		case "since":
			since, _ = time.Parse(time.RFC3339, v)
		case "pid":
			if _, err := strconv.Atoi(v); err == nil {
				pid = v
			}
		case "host":
			host = v
		}
	}
	if pid != "" {
		holder = "pid " + pid
		if host != "" {
			holder += " on " + host
		}
	}
	return since, holder
}

func (b *Bucket) lockFile(pointer string, content []byte, token string) (func() error, error) {
	p := filepath.Join(b.loc.dir, filepath.FromSlash(pointer)) + lockSuffix
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		return nil, fail.Inputf("create %s", filepath.Dir(p)).Wrap(err)
	}
	f, err := os.OpenFile(p, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
	if errors.Is(err, fs.ErrExist) {
		le := &LockedError{Location: b.loc.display, Lock: p}
		if old, rerr := readSmallFile(p); rerr == nil {
			le.Since, le.Holder = parseLock(old)
		}
		if le.Since.IsZero() {
			if fi, serr := os.Stat(p); serr == nil {
				le.Since = fi.ModTime()
			}
		}
		return nil, locked(le, "rm "+p)
	}
	if err != nil {
		return nil, fail.Inputf("create the lock %s", p).Wrap(err)
	}
	_, werr := f.Write(content)
	if cerr := f.Close(); werr == nil {
		werr = cerr
	}
	if werr != nil {
		_ = os.Remove(p)
		return nil, fail.Inputf("write the lock %s", p).Wrap(werr)
	}
	return func() error {
		// Delete the lock only if it still holds our token. Between the
		// read and the remove another publish could still slip in; that
		// needs the lock to be removed by hand at just that moment.
		cur, err := readSmallFile(p)
		if errors.Is(err, fs.ErrNotExist) {
			return nil
		}
		if err != nil {
			return err
		}
		if lockToken(cur) != token {
			b.notOurLock(p)
			return nil
		}
		err = os.Remove(p)
		if errors.Is(err, fs.ErrNotExist) {
			return nil
		}
		return err
	}, nil
}

func readSmallFile(p string) ([]byte, error) {
	f, err := os.Open(p)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return io.ReadAll(io.LimitReader(f, 4096))
}

func (b *Bucket) lockObject(ctx context.Context, bb driver, name string, content []byte, token string) (func() error, error) {
	obj := Object{Name: name, Data: content, ContentType: "text/plain; charset=utf-8"}
	err := b.retry(ctx, "lock "+name, func(ctx context.Context) error {
		_, err := b.writeOnce(ctx, bb, obj, cacheMutable, ifNotExist, version{})
		return err
	})
	if err != nil && errorCode(err) != codePreconditionFailed {
		return nil, b.opError("create the lock", name, err)
	}
	if err != nil {
		old, _, rerr := b.readRetry(ctx, name, 4096)
		if rerr != nil || !bytes.Equal(old, content) { // equal: our own attempt landed
			le := &LockedError{Location: b.loc.display, Lock: b.loc.display + "/" + name}
			if rerr == nil {
				le.Since, le.Holder = parseLock(old)
			}
			return nil, locked(le, "delete the object "+le.Lock)
		}
	}
	return func() error {
		// Release even when the publish was interrupted.
		ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), b.opts.MaxElapsed)
		defer cancel()
		// Delete the lock only if it still holds our token. Object stores
		// have no delete-if-content-matches, so this is read, compare,
		// then delete: a lock taken by another publish between the read and
		// the delete would still go, but only if ours was removed by hand
		// at just that moment.
		cur, _, err := b.readRetry(ctx, name, 4096)
		if errors.Is(err, fs.ErrNotExist) {
			return nil
		}
		if err != nil {
			return err
		}
		if lockToken(cur) != token {
			b.notOurLock(b.loc.display + "/" + name)
			return nil
		}
		return b.retry(ctx, "unlock "+name, func(ctx context.Context) error {
			err := bb.Delete(ctx, name)
			if errorCode(err) == codeNotFound {
				return nil
			}
			return err
		})
	}, nil
}

// Package ring is the team lead's store: the governed set of maintainer
// keys, the append-only change log, the first-seen ledger of chart
// releases, the pinned root set and what was last published, all in one
// embedded bbolt file.
//
// # Bucket layout (schema 2)
//
//	meta/
//	  schema       -> uint64 big-endian: schema version
//	  repository   -> repository identity given to init
//	  rootset      -> current root set (internal/root canonical bytes)
//	  loghead      -> SHA-256 of the newest log record (detects truncation)
//	  published    -> JSON Published: last manifest published from this store
//	  pending      -> JSON Pending: a publish started and not yet recorded
//	keys/
//	  <FPR>        -> JSON Key (the minimized public certificate inside)
//	keyids/
//	  <KEYID16>    -> FPR of the certificate holding that primary or subkey ID
//	log/
//	  <seq u64 BE> -> JSON LogRecord, hash-chained through Prev, binding
//	                  the SHA-256 of the key/ledger records it wrote
//	ledger/
//	  <chart>\x00<version> -> JSON LedgerEntry (first-seen record)
//	rootsets/
//	  <version u64 BE> -> JSON RootLink (root set bytes and signatures)
//
// Values are JSON so that a human with bbolt's CLI can read them; every
// value is copied out of its transaction before use. Nothing is ever
// deleted: removal moves a key to status "removed".
//
// # Store integrity
//
// The log explains the records: every change that writes a key or ledger
// record appends, in the same transaction, a log record carrying the
// SHA-256 of each value it wrote (LogRecord.Records). VerifyLog checks the
// hash chain and then replays those bindings: every key and ledger record
// must hash to what the newest log record naming it wrote, none may be
// missing or unlogged, each key's status and removal reason must follow
// its newest add/update/remove record, each key's role (maintainer or
// index) the one its add record gave it (a role never changes), and the
// key-ID index must match
// the keys. Someone editing the file directly (turning a compromised key
// active again, altering a ledger entry, adding a key) is caught unless
// they also rewrite the whole log, which a backup or the published
// manifests show. Publishing (internal/release) runs VerifyLog first and
// refuses a store the log does not explain.
//
// Schema 1 stores logged changes without these hashes. Migration 1 -> 2
// (bindExisting) checks each key against its log records and then binds
// every key and ledger record as it is, in one "bind" log record; a
// ledger entry altered before the upgrade cannot be told from the
// original.
//
// The file is opened with a lock timeout: a second writer waits up to
// Options.Timeout and then gets ErrLocked. Read-only commands take a shared
// lock, so they run alongside each other.
package ring

import (
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"go.etcd.io/bbolt"
	bolterrors "go.etcd.io/bbolt/errors"

	"github.com/keyctl/keyctl/internal/fail"
)

// SchemaVersion is the store layout this code writes.
const SchemaVersion = 2

var (
	bMeta     = []byte("meta")
	bKeys     = []byte("keys")
	bKeyIDs   = []byte("keyids")
	bLog      = []byte("log")
	bLedger   = []byte("ledger")
	bRootSets = []byte("rootsets")

	kSchema     = []byte("schema")
	kRepository = []byte("repository")
	kRootSet    = []byte("rootset")
	kLogHead    = []byte("loghead")
	kPublished  = []byte("published")
	kPending    = []byte("pending")
)

// migrations is the ordered table of schema upgrades; migrations[i] moves a
// store from schema i to i+1. All pending ones run in one transaction at
// open, with the store's clock.
var migrations = []func(tx *bbolt.Tx, now time.Time) error{
	// 0 -> 1: the initial layout.
	func(tx *bbolt.Tx, _ time.Time) error {
		for _, b := range [][]byte{bMeta, bKeys, bKeyIDs, bLog, bLedger, bRootSets} {
			if _, err := tx.CreateBucketIfNotExists(b); err != nil {
				return err
			}
		}
		return nil
	},
	// 1 -> 2: log records bind the hash of the records they write; the
	// records already stored are bound by one "bind" log record, after a
	// check that each key's status agrees with its log (bindExisting).
	bindExisting,
}

// ErrLocked is returned when another keyctl holds the store.
var ErrLocked = errors.New("store is locked")

// ErrNotInitialized is returned by operations that need `keyctl init` first.
var ErrNotInitialized = errors.New("store is not initialized")

// Options configure Open.
type Options struct {
	ReadOnly bool
	// Timeout bounds the wait for the file lock; 0 means 5 seconds.
	Timeout time.Duration
	// Now returns the current time; nil means time.Now.
	Now func() time.Time
}

// Store is an open keyctl store.
type Store struct {
	db   *bbolt.DB
	path string
	now  func() time.Time
}

// DefaultPath is where the store lives unless --store says otherwise:
// $XDG_DATA_HOME/keyctl/keyctl.db (~/.local/share/keyctl/keyctl.db).
func DefaultPath() string {
	base := os.Getenv("XDG_DATA_HOME")
	if base == "" {
		home, err := os.UserHomeDir()
		if err != nil {
			home = "."
		}
		base = filepath.Join(home, ".local", "share")
	}
	return filepath.Join(base, "keyctl", "keyctl.db")
}

// Open opens (or, unless read-only, creates) the store at path.
func Open(path string, opts Options) (*Store, error) {
	if opts.Timeout == 0 {
		opts.Timeout = 5 * time.Second
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.ReadOnly {
		if _, err := os.Stat(path); err != nil {
			if os.IsNotExist(err) {
				return nil, fail.Inputf("no store at %s", path).Wrap(ErrNotInitialized).
					WithHint("create one with: keyctl init --repository ID --root-key ROOT.pub", "or point at an existing store with --store PATH")
			}
			return nil, fail.Inputf("cannot read store %s", path).Wrap(err)
		}
	} else if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, fail.Inputf("cannot create the store's folder").Wrap(err)
	}
	db, err := bbolt.Open(path, 0o600, &bbolt.Options{Timeout: opts.Timeout, ReadOnly: opts.ReadOnly})
	if err != nil {
		if errors.Is(err, bolterrors.ErrTimeout) {
			return nil, (&fail.Error{Kind: fail.Input, Msg: fmt.Sprintf("store is locked: %s is held by another keyctl", path), Err: ErrLocked}).
				WithHint(fmt.Sprintf("waited %s; try again when the other command has finished (--lock-timeout sets the wait)", opts.Timeout))
		}
		return nil, fail.Inputf("cannot open store %s", path).Wrap(err).
			WithHint("if the file is damaged, restore it from a backup; keyctl never deletes records")
	}
	s := &Store{db: db, path: path, now: opts.Now}
	if err := s.migrate(opts.ReadOnly); err != nil {
		db.Close()
		return nil, err
	}
	return s, nil
}

func (s *Store) migrate(readOnly bool) error {
	var have uint64
	err := s.db.View(func(tx *bbolt.Tx) error {
		if m := tx.Bucket(bMeta); m != nil {
			if v := m.Get(kSchema); len(v) == 8 {
				have = binary.BigEndian.Uint64(v)
			}
		}
		return nil
	})
	if err != nil {
		return err
	}
	if have > SchemaVersion {
		return fail.Inputf("store %s has schema %d, newer than this keyctl understands (%d)", s.path, have, SchemaVersion).
			WithHint("upgrade keyctl")
	}
	if have == SchemaVersion {
		return nil
	}
	if readOnly {
		if have == 0 {
			return fail.Inputf("store %s is not initialized", s.path).Wrap(ErrNotInitialized).
				WithHint("create it with: keyctl init --repository ID --root-key ROOT.pub")
		}
		return fail.Inputf("store %s has schema %d and needs an upgrade to %d", s.path, have, SchemaVersion).
			WithHint("any command that changes the store upgrades it (keyctl add, remove or publish); the upgrade binds the stored records to the change log, see docs/manifest.md")
	}
	return s.db.Update(func(tx *bbolt.Tx) error {
		for v := have; v < SchemaVersion; v++ {
			if err := migrations[v](tx, s.Now()); err != nil {
				var fe *fail.Error
				if errors.As(err, &fe) {
					return fe
				}
				return fmt.Errorf("migrating store schema %d to %d: %w", v, v+1, err)
			}
		}
		return tx.Bucket(bMeta).Put(kSchema, u64(SchemaVersion))
	})
}

// Close releases the store and its lock.
func (s *Store) Close() error { return s.db.Close() }

// Path is the store's file.
func (s *Store) Path() string { return s.path }

// Now is the store's clock.
func (s *Store) Now() time.Time { return s.now().UTC() }

func u64(v uint64) []byte {
	b := make([]byte, 8)
	binary.BigEndian.PutUint64(b, v)
	return b
}

func clone(b []byte) []byte {
	if b == nil {
		return nil
	}
	return append([]byte(nil), b...)
}

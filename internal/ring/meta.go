package ring

import (
	"bytes"
	"encoding/json"
	"fmt"
	"time"

	"go.etcd.io/bbolt"

	"github.com/keyctl/keyctl/internal/fail"
)

// Info summarizes the store.
type Info struct {
	Path       string
	Schema     int
	Repository string
	RootSet    []byte
	Active     int
	Removed    int
	LogRecords int
	Published  *Published
	Pending    *Pending
}

// Init records the repository identity and pins the root set. It runs once.
func (s *Store) Init(repository string, rootSet RootLink, detail, actor string) error {
	now := s.Now()
	return s.db.Update(func(tx *bbolt.Tx) error {
		m := tx.Bucket(bMeta)
		if v := m.Get(kRepository); v != nil {
			return fail.Inputf("store %s is already initialized for repository %q", s.path, string(v)).
				WithHint("use another --store for another repository; root keys change with keyctl root rotate")
		}
		if err := m.Put(kRepository, []byte(repository)); err != nil {
			return err
		}
		if err := m.Put(kRootSet, rootSet.Data); err != nil {
			return err
		}
		v, err := json.Marshal(rootSet)
		if err != nil {
			return err
		}
		if err := tx.Bucket(bRootSets).Put(u64(rootSet.Version), v); err != nil {
			return err
		}
		return appendLog(tx, LogRecord{Time: now, Action: "init", Reason: "repository " + repository, Actor: actor, Detail: detail})
	})
}

// Info returns the store summary.
func (s *Store) Info() (*Info, error) {
	info := &Info{Path: s.path, Schema: SchemaVersion}
	err := s.db.View(func(tx *bbolt.Tx) error {
		if err := readMeta(tx, info); err != nil {
			return err
		}
		info.LogRecords = tx.Bucket(bLog).Stats().KeyN
		return tx.Bucket(bKeys).ForEach(func(_, v []byte) error {
			var k struct {
				Status Status `json:"status"`
			}
			if err := json.Unmarshal(v, &k); err != nil {
				return err
			}
			if k.Status == Active {
				info.Active++
			} else {
				info.Removed++
			}
			return nil
		})
	})
	if err != nil {
		return nil, err
	}
	if err := s.checkInitialized(info); err != nil {
		return nil, err
	}
	return info, nil
}

// LastPublished returns the record of the last manifest the store
// published, nil when it has published none: Info without the count of
// keys, which reads every key record (9 ms of an audit at 1,000 keys).
func (s *Store) LastPublished() (*Published, error) {
	info := &Info{}
	if err := s.db.View(func(tx *bbolt.Tx) error { return readMeta(tx, info) }); err != nil {
		return nil, err
	}
	if err := s.checkInitialized(info); err != nil {
		return nil, err
	}
	return info.Published, nil
}

// readMeta fills info from the meta bucket.
func readMeta(tx *bbolt.Tx, info *Info) error {
	m := tx.Bucket(bMeta)
	info.Repository = string(m.Get(kRepository))
	info.RootSet = clone(m.Get(kRootSet))
	if v := m.Get(kPublished); v != nil {
		var p Published
		if err := json.Unmarshal(v, &p); err != nil {
			return fmt.Errorf("published record is damaged: %w", err)
		}
		info.Published = &p
	}
	if v := m.Get(kPending); v != nil {
		var p Pending
		if err := json.Unmarshal(v, &p); err != nil {
			return fmt.Errorf("pending publish record is damaged: %w", err)
		}
		info.Pending = &p
	}
	return nil
}

func (s *Store) checkInitialized(info *Info) error {
	if info.Repository == "" {
		return fail.Inputf("store %s is not initialized", s.path).Wrap(ErrNotInitialized).
			WithHint("run keyctl init --repository ID --root-key ROOT.pub first")
	}
	return nil
}

// Published records the last manifest this store published.
type Published struct {
	Version  uint64 `json:"version"`
	SHA256   string `json:"sha256"`
	Manifest []byte `json:"manifest"`
	// ManifestSigs are the manifest's root signatures, carried into
	// signing directories so that holders can authenticate the manifest
	// they are shown changes against (absent in stores of older keyctl).
	ManifestSigs []byte    `json:"manifest_sigs,omitempty"`
	Location     string    `json:"location"`
	Time         time.Time `json:"time"`
	Expires      time.Time `json:"expires"`
}

// Pending is a publish this store has started: the manifest it is about to
// put live. It is written before the upload, so that a publish killed
// after its manifest went live can be recognised as this store's own.
type Pending struct {
	Version  uint64 `json:"version"`
	SHA256   string `json:"sha256"`
	Location string `json:"location"`
}

// SetPending records the publish about to start (SetPublished clears it).
func (s *Store) SetPending(p Pending) error {
	v, err := json.Marshal(p)
	if err != nil {
		return err
	}
	return s.db.Update(func(tx *bbolt.Tx) error { return tx.Bucket(bMeta).Put(kPending, v) })
}

// SetPublished records a successful publish and logs it.
func (s *Store) SetPublished(p Published, actor string) error {
	p.Time = s.Now()
	v, err := json.Marshal(p)
	if err != nil {
		return err
	}
	return s.db.Update(func(tx *bbolt.Tx) error {
		if err := tx.Bucket(bMeta).Delete(kPending); err != nil {
			return err
		}
		if err := tx.Bucket(bMeta).Put(kPublished, v); err != nil {
			return err
		}
		return appendLog(tx, LogRecord{Time: p.Time, Action: "publish", Actor: actor,
			Detail: fmt.Sprintf("version %d sha256:%s to %s, expires %s", p.Version, p.SHA256, p.Location, p.Expires.Format(time.RFC3339))})
	})
}

// RootLink is one root set in the rotation chain, with the signatures that
// make it follow from its predecessor.
type RootLink struct {
	Version uint64 `json:"version"`
	Data    []byte `json:"data"`
	Sigs    []byte `json:"sigs"`
}

// PutRootSet makes data the current root set and keeps the link in the
// chain; the caller has verified the link.
func (s *Store) PutRootSet(link RootLink, detail, actor string) error {
	now := s.Now()
	v, err := json.Marshal(link)
	if err != nil {
		return err
	}
	return s.db.Update(func(tx *bbolt.Tx) error {
		if err := requireInit(tx); err != nil {
			return err
		}
		b := tx.Bucket(bRootSets)
		if v := b.Get(u64(link.Version)); v != nil {
			var old RootLink
			if err := json.Unmarshal(v, &old); err != nil {
				return fmt.Errorf("root set record %d is damaged: %w", link.Version, err)
			}
			// The same set may come back with its signatures (version 1 is
			// signed at the first publish); a different set may not.
			if !bytes.Equal(old.Data, link.Data) {
				return fail.Inputf("root set version %d is already in the store with other content", link.Version).
					WithHint("rotate from the current root set: keyctl root rotate")
			}
			if len(old.Sigs) > 0 && len(link.Sigs) == 0 {
				return nil
			}
		}
		if err := b.Put(u64(link.Version), v); err != nil {
			return err
		}
		// The current root set is the newest link in the chain.
		_, newest := b.Cursor().Last()
		var cur RootLink
		if err := json.Unmarshal(newest, &cur); err != nil {
			return err
		}
		if err := tx.Bucket(bMeta).Put(kRootSet, cur.Data); err != nil {
			return err
		}
		return appendLog(tx, LogRecord{Time: now, Action: "root-set", Reason: fmt.Sprintf("root set version %d", link.Version), Actor: actor, Detail: detail})
	})
}

// RootLinks returns the stored chain, oldest first.
func (s *Store) RootLinks() ([]RootLink, error) {
	var out []RootLink
	err := s.db.View(func(tx *bbolt.Tx) error {
		return tx.Bucket(bRootSets).ForEach(func(_, v []byte) error {
			var l RootLink
			if err := json.Unmarshal(v, &l); err != nil {
				return fmt.Errorf("root set record is damaged: %w", err)
			}
			out = append(out, l)
			return nil
		})
	})
	return out, err
}

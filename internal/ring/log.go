package ring

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"time"

	"go.etcd.io/bbolt"

	"github.com/keyctl/keyctl/internal/fail"
)

// MaxLogRecord caps one stored log record.
const MaxLogRecord = 64 << 10

// LogRecord is one entry of the append-only change log. Prev is the
// SHA-256 (hex) of the previous record's stored bytes, so altering,
// inserting or deleting a record breaks the chain; the newest record's hash
// is also kept in meta/loghead, so dropping the tail is caught too.
type LogRecord struct {
	Seq         uint64    `json:"seq"`
	Time        time.Time `json:"time"`
	Action      string    `json:"action"`
	Fingerprint string    `json:"fingerprint,omitempty"`
	Reason      string    `json:"reason,omitempty"`
	Ticket      string    `json:"ticket,omitempty"`
	Actor       string    `json:"actor,omitempty"`
	Detail      string    `json:"detail,omitempty"`
	// Role is the role an "add" record gave the key when it is not
	// maintainer (records of maintainer keys, and those written before
	// roles existed, have none). A key's role never changes after its add.
	Role Role `json:"role,omitempty"`
	// Records binds the stored records this change wrote: record name
	// (RecordName) -> SHA-256 (hex) of the value written. VerifyLog
	// replays these and requires every key and ledger record to be the
	// one the newest log record naming it wrote (schema 2).
	Records map[string]string `json:"records,omitempty"`
	Prev    string            `json:"prev"`
}

// RecordName names a stored record in LogRecord.Records: "keys/<FPR>" or
// "ledger/<chart>/<version>".
func RecordName(bucket, key []byte) string {
	return string(bucket) + "/" + string(bytes.ReplaceAll(key, []byte{0}, []byte("/")))
}

func recordHash(v []byte) string {
	h := sha256.Sum256(v)
	return hex.EncodeToString(h[:])
}

// bind adds the current value of bucket/key in tx to r.Records.
func bind(tx *bbolt.Tx, r *LogRecord, bucket, key []byte) {
	if r.Records == nil {
		r.Records = map[string]string{}
	}
	r.Records[RecordName(bucket, key)] = recordHash(tx.Bucket(bucket).Get(key))
}

func appendLog(tx *bbolt.Tx, r LogRecord) error {
	b := tx.Bucket(bLog)
	seq, err := b.NextSequence()
	if err != nil {
		return err
	}
	r.Seq = seq
	r.Time = r.Time.UTC()
	if head := tx.Bucket(bMeta).Get(kLogHead); head != nil {
		r.Prev = hex.EncodeToString(head)
	}
	v, err := json.Marshal(r)
	if err != nil {
		return err
	}
	if err := b.Put(u64(seq), v); err != nil {
		return err
	}
	h := sha256.Sum256(v)
	return tx.Bucket(bMeta).Put(kLogHead, h[:])
}

// ParseLogRecord decodes one stored record strictly.
func ParseLogRecord(v []byte) (*LogRecord, error) {
	if len(v) > MaxLogRecord {
		return nil, fmt.Errorf("log record is %d bytes, over the %d limit", len(v), MaxLogRecord)
	}
	var r LogRecord
	dec := json.NewDecoder(bytes.NewReader(v))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&r); err != nil {
		return nil, fmt.Errorf("log record is not valid: %w", err)
	}
	if dec.More() {
		return nil, fmt.Errorf("log record has trailing data")
	}
	if r.Action == "" {
		return nil, fmt.Errorf("log record has no action")
	}
	for name, h := range r.Records {
		if b, err := hex.DecodeString(h); err != nil || len(b) != sha256.Size || name == "" {
			return nil, fmt.Errorf("log record binds %q with a malformed hash", name)
		}
	}
	if r.Prev != "" {
		if b, err := hex.DecodeString(r.Prev); err != nil || len(b) != sha256.Size {
			return nil, fmt.Errorf("log record has a malformed prev hash")
		}
	}
	return &r, nil
}

// Log returns every change log record, oldest first. Records that do not
// parse are returned as errors by VerifyLog; Log skips nothing and fails.
func (s *Store) Log() ([]LogRecord, error) {
	var out []LogRecord
	err := s.db.View(func(tx *bbolt.Tx) error {
		return tx.Bucket(bLog).ForEach(func(k, v []byte) error {
			r, err := ParseLogRecord(v)
			if err != nil {
				return fail.Untrustedf("log record %d is damaged", binary.BigEndian.Uint64(k)).Wrap(err).
					WithHint("run keyctl log --verify to check the whole chain")
			}
			out = append(out, *r)
			return nil
		})
	})
	return out, err
}

// BrokenChainError names the first log record that does not chain.
type BrokenChainError struct {
	Seq    uint64
	Reason string
}

func (e *BrokenChainError) Error() string {
	return fmt.Sprintf("change log is broken at record %d: %s", e.Seq, e.Reason)
}

// VerifyLog checks the hash chain from the first record to meta/loghead,
// then that every key, key-ID and ledger record is what the log explains
// (see explain). It returns the number of records checked, or a
// *fail.Error (Untrusted) wrapping a *BrokenChainError or an
// *UnexplainedError naming the first record that fails.
func (s *Store) VerifyLog() (int, error) {
	n := 0
	var broken *BrokenChainError
	var bad *UnexplainedError
	err := s.db.View(func(tx *bbolt.Tx) error {
		var prev []byte
		var want uint64 = 1
		c := tx.Bucket(bLog).Cursor()
		for k, v := c.First(); k != nil; k, v = c.Next() {
			seq := uint64(0)
			if len(k) == 8 {
				seq = binary.BigEndian.Uint64(k)
			}
			r, err := ParseLogRecord(v)
			switch {
			case err != nil:
				broken = &BrokenChainError{Seq: seq, Reason: err.Error()}
			case seq != want || r.Seq != seq:
				broken = &BrokenChainError{Seq: seq, Reason: fmt.Sprintf("expected record %d (a record was inserted or deleted)", want)}
			case prev == nil && r.Prev != "":
				broken = &BrokenChainError{Seq: seq, Reason: "first record points at a predecessor"}
			case prev != nil && r.Prev != hex.EncodeToString(prev):
				broken = &BrokenChainError{Seq: seq, Reason: "its prev hash does not match record " + fmt.Sprint(seq-1) + " (that record was altered)"}
			}
			if broken != nil {
				return nil
			}
			h := sha256.Sum256(v)
			prev = h[:]
			want++
			n++
		}
		head := tx.Bucket(bMeta).Get(kLogHead)
		if !bytes.Equal(head, prev) {
			broken = &BrokenChainError{Seq: want, Reason: "the newest record does not match the stored log head (records were dropped or the last one altered)"}
			return nil
		}
		bad = explain(tx, true)
		return nil
	})
	if err != nil {
		return n, err
	}
	if broken != nil {
		return n, (&fail.Error{Kind: fail.Untrusted, Err: broken}).
			WithHint("the store was changed outside keyctl; restore it from a backup and compare with keyctl log")
	}
	if bad != nil {
		return n, unexplained(bad)
	}
	return n, nil
}

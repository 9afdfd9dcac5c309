package tlog

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"

	"filippo.io/torchwood"
	"golang.org/x/mod/sumdb/note"
	"golang.org/x/mod/sumdb/tlog"

	"github.com/keyctl/keyctl/internal/fail"
)

// Names and limits.
const (
	Prefix         = "keyctl/log/"
	CheckpointPath = Prefix + "checkpoint"

	// MaxCheckpointSize caps a checkpoint note with its (co)signatures.
	MaxCheckpointSize = 64 << 10
	// MaxEntrySize caps one log entry.
	MaxEntrySize = 128
	// MaxBundleSize caps one entry bundle: 256 entries of at most
	// MaxEntrySize bytes, each with its 2-byte length.
	MaxBundleSize = torchwood.TileWidth * (2 + MaxEntrySize)
	// MaxTreeSize bounds the tree size a checkpoint may claim.
	MaxTreeSize = 1 << 40

	entryPrefix = "keyctl-manifest "
	height      = torchwood.TileHeight
)

// Entry is one log entry: a manifest version and the hex SHA-256 of the
// manifest's bytes.
type Entry struct {
	Version uint64
	SHA256  string
}

// Marshal returns the entry's bytes (see the package documentation).
func (e Entry) Marshal() []byte {
	return []byte(entryPrefix + strconv.FormatUint(e.Version, 10) + " " + e.SHA256 + "\n")
}

// ParseEntry parses one entry and refuses anything but its canonical form.
func ParseEntry(b []byte) (Entry, error) {
	bad := func(why string) (Entry, error) {
		return Entry{}, fail.Inputf("log entry is malformed: %s", why)
	}
	if len(b) > MaxEntrySize {
		return bad("too long")
	}
	s, ok := strings.CutPrefix(string(b), entryPrefix)
	if !ok || !strings.HasSuffix(s, "\n") {
		return bad("not a keyctl-manifest line")
	}
	v, h, ok := strings.Cut(strings.TrimSuffix(s, "\n"), " ")
	if !ok {
		return bad("no hash")
	}
	n, err := strconv.ParseUint(v, 10, 64)
	if err != nil || n == 0 || strconv.FormatUint(n, 10) != v {
		return bad("bad version")
	}
	if len(h) != 64 || strings.ToLower(h) != h {
		return bad("bad hash")
	}
	if _, err := hex.DecodeString(h); err != nil {
		return bad("bad hash")
	}
	return Entry{Version: n, SHA256: h}, nil
}

// Reader reads published objects by name; a missing object is an error
// matching fs.ErrNotExist. publish.Bucket is one.
type Reader interface {
	Get(ctx context.Context, name string, limit int64) ([]byte, error)
}

// Object is one object the log adds to the bucket.
type Object struct {
	Name string
	Data []byte
}

// validName follows torchwood: non-empty UTF-8, no spaces, no '+'.
func validName(name string) bool {
	return name != "" && len(name) <= 256 && utf8.ValidString(name) && strings.IndexFunc(name, unicode.IsSpace) < 0 && !strings.Contains(name, "+")
}

// GenerateLogKey makes a log key named origin: an Ed25519 signed-note key.
// skey is secret; vkey goes into the root set.
func GenerateLogKey(origin string) (skey, vkey string, err error) {
	if !validName(origin) {
		return "", "", fail.Inputf("log name %q is not valid", origin).WithHint("use a name without spaces or '+', such as charts.example.org/keyctl-log")
	}
	return note.GenerateKey(rand.Reader, origin)
}

// NewLogSigner parses a log key's secret form.
func NewLogSigner(skey string) (note.Signer, error) {
	s, err := note.NewSigner(strings.TrimSpace(skey))
	if err != nil {
		return nil, fail.Inputf("the log key file is not a signed-note secret key").
			WithHint("make one with keyctl log-key create")
	}
	return s, nil
}

// NewLogVerifier parses a log key's public form (vkey).
func NewLogVerifier(vkey string) (note.Verifier, error) {
	v, err := note.NewVerifier(strings.TrimSpace(vkey))
	if err != nil {
		return nil, fail.Inputf("%q is not a signed-note Ed25519 public key (NAME+HASH+KEY)", trunc(vkey))
	}
	return v, nil
}

const algCosignatureV1 = 4

func keyHash(name string, key []byte) uint32 {
	h := sha256.New()
	h.Write([]byte(name))
	h.Write([]byte("\n"))
	h.Write(key)
	return binary.BigEndian.Uint32(h.Sum(nil))
}

// GenerateWitnessKey makes a witness key named name (C2SP
// tlog-cosignature/v1, Ed25519). The secret form is
// PRIVATE+KEY+NAME+HASH+base64(0x04 || seed).
func GenerateWitnessKey(name string) (skey, vkey string, err error) {
	if !validName(name) {
		return "", "", fail.Inputf("witness name %q is not valid", name).WithHint("use a name without spaces or '+', such as witness.example.com")
	}
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return "", "", err
	}
	h := keyHash(name, append([]byte{algCosignatureV1}, pub...))
	skey = fmt.Sprintf("PRIVATE+KEY+%s+%08x+%s", name, h, base64.StdEncoding.EncodeToString(append([]byte{algCosignatureV1}, priv.Seed()...)))
	vkey = fmt.Sprintf("%s+%08x+%s", name, h, base64.StdEncoding.EncodeToString(append([]byte{algCosignatureV1}, pub...)))
	return skey, vkey, nil
}

// NewWitnessSigner parses a witness key's secret form.
func NewWitnessSigner(skey string) (*torchwood.CosignatureSigner, error) {
	bad := fail.Inputf("the witness key file is not a witness secret key").WithHint("make one with keyctl witness keygen")
	parts := strings.SplitN(strings.TrimSpace(skey), "+", 5)
	if len(parts) != 5 || parts[0] != "PRIVATE" || parts[1] != "KEY" {
		return nil, bad
	}
	key, err := base64.StdEncoding.DecodeString(parts[4])
	if err != nil || len(key) != 1+ed25519.SeedSize || key[0] != algCosignatureV1 {
		return nil, bad
	}
	priv := ed25519.NewKeyFromSeed(key[1:])
	s, err := torchwood.NewCosignatureSigner(parts[2], priv)
	if err != nil || fmt.Sprintf("%08x", s.KeyHash()) != parts[3] {
		return nil, bad
	}
	return s, nil
}

// WitnessVerifier verifies C2SP tlog-cosignature/v1 cosignatures.
type WitnessVerifier struct {
	name string
	hash uint32
	key  ed25519.PublicKey
	vkey string
}

func (v *WitnessVerifier) Name() string    { return v.name }
func (v *WitnessVerifier) KeyHash() uint32 { return v.hash }
func (v *WitnessVerifier) String() string  { return v.vkey }

// Verify checks sig (timestamp || Ed25519 signature) over msg.
func (v *WitnessVerifier) Verify(msg, sig []byte) bool {
	if len(sig) != 8+ed25519.SignatureSize {
		return false
	}
	t := binary.BigEndian.Uint64(sig)
	c, err := torchwood.ParseCheckpoint(string(msg))
	if err != nil || c.String() != string(msg) {
		return false
	}
	m := fmt.Sprintf("cosignature/v1\ntime %d\n%s", t, msg)
	return ed25519.Verify(v.key, []byte(m), sig[8:])
}

// NewWitnessVerifier parses a witness public key (vkey, type 0x04).
func NewWitnessVerifier(vkey string) (*WitnessVerifier, error) {
	vkey = strings.TrimSpace(vkey)
	bad := fail.Inputf("%q is not a witness public key (NAME+HASH+KEY, cosignature/v1)", trunc(vkey)).
		WithHint("ask the witness for the public key printed by keyctl witness keygen")
	parts := strings.SplitN(vkey, "+", 3)
	if len(parts) != 3 || !validName(parts[0]) || len(parts[1]) != 8 {
		return nil, bad
	}
	h, err := strconv.ParseUint(parts[1], 16, 32)
	if err != nil {
		return nil, bad
	}
	key, err := base64.StdEncoding.DecodeString(parts[2])
	if err != nil || len(key) != 1+ed25519.PublicKeySize || key[0] != algCosignatureV1 {
		return nil, bad
	}
	if keyHash(parts[0], key) != uint32(h) {
		return nil, bad
	}
	return &WitnessVerifier{name: parts[0], hash: uint32(h), key: ed25519.PublicKey(key[1:]), vkey: vkey}, nil
}

func trunc(s string) string {
	if len(s) > 80 {
		return s[:80] + "..."
	}
	return s
}

// Head is a checkpoint whose log signature verified.
type Head struct {
	torchwood.Checkpoint
	// Note is the signed note as read.
	Note []byte
	// Witnesses names the required witness keys whose valid cosignature
	// the note carries.
	Witnesses []string
}

// Tree returns the head's tree.
func (h *Head) Tree() tlog.Tree { return h.Checkpoint.Tree }

// ParseCheckpoint parses a checkpoint note without checking any
// signature: the size cap, the note syntax and the checkpoint text.
func ParseCheckpoint(data []byte) (torchwood.Checkpoint, error) {
	if len(data) > MaxCheckpointSize {
		return torchwood.Checkpoint{}, fail.Inputf("checkpoint is larger than %d bytes", MaxCheckpointSize)
	}
	text, _, ok := bytes.Cut(data, []byte("\n\n"))
	if !ok {
		return torchwood.Checkpoint{}, fail.Inputf("checkpoint is not a signed note")
	}
	c, err := torchwood.ParseCheckpoint(string(text) + "\n")
	if err != nil {
		return torchwood.Checkpoint{}, fail.Inputf("checkpoint is malformed").Wrap(err)
	}
	if c.N > MaxTreeSize {
		return torchwood.Checkpoint{}, fail.Inputf("checkpoint claims %d entries, more than %d", c.N, int64(MaxTreeSize))
	}
	return c, nil
}

// OpenCheckpoint verifies a checkpoint note: signed by the log key, origin
// equal to the log key's name, and counts the valid cosignatures by the
// witnesses given. A note signed by a witness alone is refused.
//
// Each witness's cosignature is verified on its own: one that does not
// verify counts as absent and does not fail the checkpoint (a k-of-n
// threshold must survive bad witnesses), and a witness counts when any of
// the lines by its name and key hash verifies (a forged line next to a
// valid one cancels nothing). Witnesses are counted by distinct public
// key: one key named twice (under two names) counts once.
func OpenCheckpoint(data []byte, log note.Verifier, witnesses []*WitnessVerifier) (*Head, error) {
	h, _, err := openCheckpoint(data, log, witnesses)
	return h, err
}

// openCheckpoint is OpenCheckpoint, also returning the note with the log
// signature and the counted witnesses' cosignatures only.
func openCheckpoint(data []byte, log note.Verifier, witnesses []*WitnessVerifier) (*Head, *note.Note, error) {
	c, err := ParseCheckpoint(data)
	if err != nil {
		return nil, nil, err
	}
	n, err := note.Open(data, note.VerifierList(log))
	if err != nil {
		var ie *note.InvalidSignatureError
		if errors.As(err, &ie) {
			return nil, nil, fail.Untrustedf("checkpoint carries an invalid signature by the log key %s", log.Name()).
				WithHint("the bucket or a cache is serving a damaged or forged checkpoint; see docs/runbook.md, section monitor raised an alarm")
		}
		return nil, nil, fail.Untrustedf("checkpoint is not signed by the log key %s", log.Name()).Wrap(err).
			WithHint("the log key is the one named in the root set; see docs/verify.md")
	}
	logSigned := false
	for _, s := range n.Sigs {
		if s.Name == log.Name() && s.Hash == log.KeyHash() {
			logSigned = true
		}
	}
	if !logSigned {
		return nil, nil, fail.Untrustedf("checkpoint is not signed by the log key %s", log.Name()).
			WithHint("the log key is the one named in the root set; see docs/verify.md")
	}
	if c.Origin != log.Name() {
		return nil, nil, fail.Untrustedf("checkpoint origin %q is not the log's %q", trunc(c.Origin), log.Name())
	}
	h := &Head{Checkpoint: c, Note: data}
	kept := &note.Note{Text: n.Text, Sigs: n.Sigs}
	counted := map[string]bool{} // public keys counted
	for _, w := range witnesses {
		if counted[string(w.key)] {
			continue
		}
		if s, ok := cosigned(n, w); ok {
			counted[string(w.key)] = true
			h.Witnesses = append(h.Witnesses, w.String())
			kept.Sigs = append(kept.Sigs, s)
		}
	}
	return h, kept, nil
}

// cosigned returns a line of n by w's name and key hash that verifies as
// w's cosignature of n's text. Every such line is tried: note.Open
// verifies only the first line per name and key hash, and fails the whole
// note on it, so a line anyone can forge under w's name, placed before
// w's valid one, would otherwise cancel it. n was opened with the log key
// alone, so its UnverifiedSigs are all the other lines (well-formed,
// identical ones once); a witness named and hashed as the log key is
// never among them (it is not counted).
func cosigned(n *note.Note, w *WitnessVerifier) (note.Signature, bool) {
	for _, s := range n.UnverifiedSigs {
		if s.Name != w.Name() || s.Hash != w.KeyHash() {
			continue
		}
		sig, err := base64.StdEncoding.DecodeString(s.Base64)
		if err != nil || len(sig) < 4 {
			continue
		}
		if w.Verify([]byte(n.Text), sig[4:]) {
			return s, true
		}
	}
	return note.Signature{}, false
}

// DistinctWitnesses returns how many distinct public keys ws hold: the
// most witnesses a checkpoint can count toward a threshold.
func DistinctWitnesses(ws []*WitnessVerifier) int {
	keys := map[string]bool{}
	for _, w := range ws {
		keys[string(w.key)] = true
	}
	return len(keys)
}

// CheckedCosignatures opens a cosigned checkpoint (OpenCheckpoint) and
// returns it with the log signature and the valid cosignatures of the
// witnesses given only, every other line dropped, and the vkeys of the
// witnesses it keeps. It refuses a note that keeps none.
func CheckedCosignatures(data []byte, log note.Verifier, witnesses []*WitnessVerifier) ([]byte, []string, error) {
	h, kept, err := openCheckpoint(data, log, witnesses)
	if err != nil {
		return nil, nil, err
	}
	if len(h.Witnesses) == 0 {
		return nil, nil, fail.Untrustedf("the cosigned checkpoint (size %d) carries no valid cosignature by the witnesses given", h.N).
			WithHint("check that --witness names the public key of the witness that cosigned it, and that the file is the one it wrote; ask the witness to cosign again")
	}
	out, err := note.Sign(kept)
	if err != nil {
		return nil, nil, fail.Untrustedf("the cosigned checkpoint is malformed").Wrap(err)
	}
	return out, h.Witnesses, nil
}

// SignCheckpoint signs a checkpoint for tree with the log key.
func SignCheckpoint(t tlog.Tree, s note.Signer) ([]byte, error) {
	c := torchwood.Checkpoint{Origin: s.Name(), Tree: t}
	return note.Sign(&note.Note{Text: c.String()}, s)
}

// Cosign adds a witness cosignature to a checkpoint note (whose log
// signature the caller verified).
func Cosign(data []byte, w *torchwood.CosignatureSigner, log note.Verifier) ([]byte, error) {
	n, err := note.Open(data, note.VerifierList(log))
	if err != nil {
		return nil, fail.Untrustedf("checkpoint is not signed by the log key %s", log.Name()).Wrap(err)
	}
	// Drop an earlier cosignature by the same witness.
	var keep []note.Signature
	for _, s := range n.UnverifiedSigs {
		if s.Name == w.Name() && s.Hash == w.KeyHash() {
			continue
		}
		keep = append(keep, s)
	}
	n.UnverifiedSigs = keep
	return note.Sign(n, w)
}

// MergeCosignatures returns cur with the cosignature lines of others added,
// where others are notes over the same text. Lines already present and
// lines over other text are left out; the signatures are not checked here
// (readers check them).
func MergeCosignatures(cur []byte, others ...[]byte) ([]byte, error) {
	if _, err := ParseCheckpoint(cur); err != nil {
		return nil, err
	}
	text, sigs, _ := bytes.Cut(cur, []byte("\n\n"))
	have := map[string]bool{}
	for _, l := range strings.SplitAfter(string(sigs), "\n") {
		if l != "" {
			have[l] = true
		}
	}
	out := append([]byte(nil), cur...)
	for _, o := range others {
		if _, err := ParseCheckpoint(o); err != nil {
			return nil, err
		}
		ot, osigs, _ := bytes.Cut(o, []byte("\n\n"))
		if !bytes.Equal(ot, text) {
			return nil, fail.Inputf("the cosigned checkpoint is for another tree than the one published")
		}
		for _, l := range strings.SplitAfter(string(osigs), "\n") {
			if l != "" && !have[l] {
				have[l] = true
				out = append(out, l...)
			}
		}
	}
	if len(out) > MaxCheckpointSize {
		return nil, fail.Inputf("the checkpoint would be larger than %d bytes", MaxCheckpointSize)
	}
	return out, nil
}

// TilePath returns the object name of a tile.
func TilePath(t tlog.Tile) string { return Prefix + torchwood.TilePath(t) }

// ParseTile checks the bytes of a hash tile (L >= 0) read for t: exactly
// t.W hashes.
func ParseTile(t tlog.Tile, data []byte) ([]tlog.Hash, error) {
	if t.L < 0 || t.W < 1 || t.W > torchwood.TileWidth {
		return nil, fail.Inputf("tile %s is not a hash tile", torchwood.TilePath(t))
	}
	if len(data) != t.W*tlog.HashSize {
		return nil, fail.Untrustedf("tile %s holds %d bytes, want %d", torchwood.TilePath(t), len(data), t.W*tlog.HashSize)
	}
	out := make([]tlog.Hash, t.W)
	for i := range out {
		copy(out[i][:], data[i*tlog.HashSize:])
	}
	return out, nil
}

// ParseBundle splits an entry bundle read for data tile t into exactly
// t.W entries, each of which must parse.
func ParseBundle(t tlog.Tile, data []byte) ([][]byte, error) {
	if len(data) > MaxBundleSize {
		return nil, fail.Untrustedf("entry bundle %s is larger than %d bytes", torchwood.TilePath(t), MaxBundleSize)
	}
	var out [][]byte
	rest := data
	for len(rest) > 0 {
		if len(out) == t.W {
			return nil, fail.Untrustedf("entry bundle %s holds more than %d entries", torchwood.TilePath(t), t.W)
		}
		e, r, err := torchwood.ReadTileEntry(rest)
		if err != nil {
			return nil, fail.Untrustedf("entry bundle %s is malformed", torchwood.TilePath(t)).Wrap(err)
		}
		if _, err := ParseEntry(e); err != nil {
			return nil, err
		}
		out = append(out, e)
		rest = r
	}
	if len(out) != t.W {
		return nil, fail.Untrustedf("entry bundle %s holds %d entries, want %d", torchwood.TilePath(t), len(out), t.W)
	}
	return out, nil
}

// tileReader reads hash tiles from a bucket for tlog.TileHashReader, which
// checks them against the tree's hash.
type tileReader struct {
	ctx context.Context
	r   Reader
	// saved holds tiles that tlog.TileHashReader checked (SaveTiles), so
	// that one proof or append reads each tile once.
	saved map[tlog.Tile][]byte
}

func (tr tileReader) Height() int { return height }

func (tr tileReader) ReadTiles(tiles []tlog.Tile) ([][]byte, error) {
	out := make([][]byte, len(tiles))
	for i, t := range tiles {
		if b, ok := tr.saved[t]; ok {
			out[i] = b
			continue
		}
		b, err := tr.r.Get(tr.ctx, TilePath(t), int64(t.W*tlog.HashSize))
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				return nil, &MissingError{What: "tile " + torchwood.TilePath(t), Err: err}
			}
			return nil, err
		}
		if _, err := ParseTile(t, b); err != nil {
			return nil, err
		}
		out[i] = b
	}
	return out, nil
}

func (tr tileReader) SaveTiles(tiles []tlog.Tile, data [][]byte) {
	for i, t := range tiles {
		tr.saved[t] = data[i]
	}
}

// HashReader returns a reader of the stored hashes of tree t, reading
// tiles from r and checking each against t's root hash.
func HashReader(ctx context.Context, r Reader, t tlog.Tree) tlog.HashReader {
	return tlog.TileHashReader(t, tileReader{ctx, r, map[tlog.Tile][]byte{}})
}

// MissingError is a tile or bundle that the bucket does not hold.
type MissingError struct {
	What string
	Err  error
}

func (e *MissingError) Error() string { return e.What + " is missing from the log" }
func (e *MissingError) Unwrap() error { return e.Err }

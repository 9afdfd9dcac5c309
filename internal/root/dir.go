package root

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	openpgp "github.com/ProtonMail/go-crypto/openpgp/v2"

	"github.com/keyctl/keyctl/internal/fail"
	"github.com/keyctl/keyctl/internal/pgpkey"
)

// Offline directory layout and limits (docs/manifest.md, "Offline signing").
const (
	PrepareIndex   = "prepare.json"
	PrepareFormat  = "keyctl-prepare/1"
	SigsDirSuffix  = ".sigs" // NAME.sigs/ holds signature files dropped in by gpg users
	MaxPrepared    = 16      // files in one directory
	MaxPreparedLen = 64 << 20
	maxIndexSize   = 64 << 10
)

// PreparedFile is one file of an offline directory with every signature
// found for it, merged (nil when there is none).
type PreparedFile struct {
	Name string
	Data []byte
	Sigs []byte
}

// Prepared is an offline signing directory as LoadDir read it.
type Prepared struct {
	Dir   string
	Files []PreparedFile // in index order (sorted by name)
}

type prepareJSON struct {
	Format string        `json:"format"`
	Files  []fileRefJSON `json:"files"`
}

func validFileName(n string) error {
	if n == "" || len(n) > 128 || n == PrepareIndex || n == PreviousManifest || n == AnchorDir || strings.HasPrefix(n, ".") ||
		strings.HasSuffix(n, SigSuffix) || strings.HasSuffix(n, SigsDirSuffix) {
		return fmt.Errorf("%q cannot be a file name in a signing directory", n)
	}
	for _, c := range n {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '.' || c == '-' || c == '_') {
			return fmt.Errorf("%q: file names use letters, digits, '.', '-' and '_' only", n)
		}
	}
	return nil
}

// WriteDir writes files (name → content) and the prepare.json index into
// dir for offline signing, and previous (the manifest currently published,
// when not nil) as previous-manifest.json, outside the index: it is shown
// to holders, never signed. dir is created (0755) if needed and must be
// empty. Files are written 0644: only public data is ever prepared.
func WriteDir(dir string, files map[string][]byte, previous []byte) error {
	return WriteDirAnchored(dir, files, previous, nil)
}

// WriteDirAnchored is WriteDir that also writes anchor (when not nil) into
// the AnchorDir subdirectory, for the holders to authenticate the
// directory against their pinned root set (Review.Authenticate).
func WriteDirAnchored(dir string, files map[string][]byte, previous []byte, anchor *Anchor) error {
	if len(files) == 0 || len(files) > MaxPrepared {
		return fail.Inputf("a signing directory holds 1 to %d files, not %d", MaxPrepared, len(files))
	}
	idx := prepareJSON{Format: PrepareFormat}
	for name, data := range files {
		if err := validFileName(name); err != nil {
			return fail.Inputf("%v", err)
		}
		if len(data) > MaxPreparedLen {
			return fail.Inputf("%s is larger than %d bytes", name, MaxPreparedLen)
		}
		idx.Files = append(idx.Files, fileRefJSON{Name: name, SHA256: Hash(data), Length: int64(len(data))})
	}
	sort.Slice(idx.Files, func(i, j int) bool { return idx.Files[i].Name < idx.Files[j].Name })
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fail.Inputf("creating the signing directory").Wrap(err)
	}
	ents, err := os.ReadDir(dir)
	if err != nil {
		return fail.Inputf("reading the signing directory").Wrap(err)
	}
	if len(ents) > 0 {
		return fail.Inputf("signing directory %s is not empty", dir).
			WithHint("give a new or empty directory, so that old signatures cannot mix with new files")
	}
	for _, f := range idx.Files {
		if err := writeNew(filepath.Join(dir, f.Name), files[f.Name]); err != nil {
			return err
		}
	}
	if previous != nil {
		if err := writeNew(filepath.Join(dir, PreviousManifest), previous); err != nil {
			return err
		}
	}
	if anchor != nil {
		if err := writeAnchor(dir, anchor); err != nil {
			return err
		}
	}
	b, err := encodeCanonical(idx)
	if err != nil {
		return err
	}
	// The index goes last: a directory without it is an unfinished prepare.
	return writeNew(filepath.Join(dir, PrepareIndex), b)
}

func writeNew(path string, data []byte) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
	if err != nil {
		return fail.Inputf("writing %s", path).Wrap(err)
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		return fail.Inputf("writing %s", path).Wrap(err)
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return fail.Inputf("writing %s", path).Wrap(err)
	}
	if err := f.Close(); err != nil {
		return fail.Inputf("writing %s", path).Wrap(err)
	}
	return nil
}

// writeReplace writes data to path through a temporary file and a rename,
// so a crash leaves the old or the new signatures, never half of them.
func writeReplace(path string, data []byte) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".tmp*")
	if err != nil {
		return fail.Inputf("writing %s", path).Wrap(err)
	}
	name := tmp.Name()
	ok := false
	defer func() {
		if !ok {
			tmp.Close()
			os.Remove(name)
		}
	}()
	if _, err := tmp.Write(data); err != nil {
		return fail.Inputf("writing %s", path).Wrap(err)
	}
	if err := tmp.Chmod(0o644); err != nil {
		return fail.Inputf("writing %s", path).Wrap(err)
	}
	if err := tmp.Sync(); err != nil {
		return fail.Inputf("writing %s", path).Wrap(err)
	}
	if err := tmp.Close(); err != nil {
		return fail.Inputf("writing %s", path).Wrap(err)
	}
	if err := os.Rename(name, path); err != nil {
		return fail.Inputf("writing %s", path).Wrap(err)
	}
	ok = true
	return nil
}

func readCapped(path string, limit int64) ([]byte, error) {
	st, err := os.Lstat(path)
	if err != nil {
		return nil, err
	}
	if !st.Mode().IsRegular() {
		return nil, fmt.Errorf("%s is not a regular file", escapeControl(path))
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return pgpkey.ReadAllCapped(f, limit)
}

// LoadDir reads an offline signing directory: the index, every file (whose
// hash and length must still match the index), and for each file NAME the
// signatures in NAME.sig and in every regular file under NAME.sigs/
// (armored or binary, as gpg writes them), merged with duplicates dropped.
// It does not judge the signatures: see Prepared.Verify.
func LoadDir(dir string) (*Prepared, error) {
	ib, err := readCapped(filepath.Join(dir, PrepareIndex), maxIndexSize)
	if err != nil {
		return nil, fail.Inputf("%s is not a signing directory", dir).Wrap(err).
			WithHint("make one with keyctl publish --prepare DIR")
	}
	var idx prepareJSON
	if err := decodeStrict(ib, &idx); err != nil {
		return nil, fail.Inputf("reading %s", filepath.Join(dir, PrepareIndex)).Wrap(err)
	}
	if idx.Format != PrepareFormat {
		return nil, fail.Inputf("%s: format %q, want %q", PrepareIndex, idx.Format, PrepareFormat)
	}
	if len(idx.Files) == 0 || len(idx.Files) > MaxPrepared {
		return nil, fail.Inputf("%s lists %d files, want 1 to %d", PrepareIndex, len(idx.Files), MaxPrepared)
	}
	p := &Prepared{Dir: dir}
	for i, f := range idx.Files {
		if err := validFileName(f.Name); err != nil {
			return nil, fail.Inputf("%s: %v", PrepareIndex, err)
		}
		if i > 0 && idx.Files[i-1].Name >= f.Name {
			return nil, fail.Inputf("%s: files must be sorted without duplicates", PrepareIndex)
		}
		data, err := readCapped(filepath.Join(dir, f.Name), MaxPreparedLen)
		if err != nil {
			return nil, fail.Inputf("reading %s", f.Name).Wrap(err)
		}
		if int64(len(data)) != f.Length || Hash(data) != f.SHA256 {
			return nil, fail.Inputf("%s changed after it was prepared", filepath.Join(dir, f.Name)).
				WithHint("prepare a new directory with keyctl publish --prepare")
		}
		sigs, err := gatherSigs(dir, f.Name)
		if err != nil {
			return nil, err
		}
		p.Files = append(p.Files, PreparedFile{Name: f.Name, Data: data, Sigs: sigs})
	}
	return p, nil
}

func gatherSigs(dir, name string) ([]byte, error) {
	var inputs [][]byte
	var sources []string
	one := filepath.Join(dir, name+SigSuffix)
	if b, err := readCapped(one, MaxSigSize); err == nil {
		inputs, sources = append(inputs, b), append(sources, one)
	} else if !errors.Is(err, fs.ErrNotExist) {
		return nil, fail.Inputf("reading %s", one).Wrap(err)
	}
	sd := filepath.Join(dir, name+SigsDirSuffix)
	ents, err := os.ReadDir(sd)
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return nil, fail.Inputf("reading %s", sd).Wrap(err)
	}
	if len(ents) > MaxSignatures {
		return nil, fail.Inputf("%s holds more than %d files", sd, MaxSignatures)
	}
	for _, e := range ents {
		if strings.HasPrefix(e.Name(), ".") {
			continue
		}
		p := filepath.Join(sd, e.Name())
		b, err := readCapped(p, MaxSigSize)
		if err != nil {
			return nil, fail.Inputf("reading %s", escapeControl(p)).Wrap(err)
		}
		inputs, sources = append(inputs, b), append(sources, p)
	}
	if len(inputs) == 0 {
		return nil, nil
	}
	for i, in := range inputs {
		if _, err := Merge(in); err != nil {
			return nil, fail.Inputf("%s does not hold OpenPGP signatures", escapeControl(sources[i])).Wrap(err).
				WithHint("make it with gpg --detach-sign (binary or --armor); see docs/manifest.md")
		}
	}
	return Merge(inputs...)
}

// File returns the prepared file called name.
func (p *Prepared) File(name string) (*PreparedFile, bool) {
	for i := range p.Files {
		if p.Files[i].Name == name {
			return &p.Files[i], true
		}
	}
	return nil, false
}

// Verify checks that every prepared file carries signatures by a threshold
// of set at now; it returns the signers per file, and the first file's
// *ThresholdError (What is the file name) otherwise. A root set being
// rotated to is checked with VerifyLink instead (see docs/manifest.md).
func (p *Prepared) Verify(set *RootSet, now time.Time) (map[string][]string, error) {
	out := map[string][]string{}
	for _, f := range p.Files {
		signers, err := set.verify(f.Name, f.Data, f.Sigs, now, atNow)
		if err != nil {
			return out, err
		}
		out[f.Name] = signers
	}
	return out, nil
}

// SignDir reviews an offline directory (ReviewDir) and signs exactly the
// files the review names with signer: see Review.SignWith.
func SignDir(dir string, signer *openpgp.Entity, now time.Time) ([]string, error) {
	r, err := ReviewDir(dir)
	if err != nil {
		return nil, err
	}
	return r.SignWith(signer, now)
}

// SignWith signs the files of the review, as they were read and checked
// (never re-read from the directory), and merges each signature into
// NAME.sig (0644, written atomically). It returns the names signed.
func (r *Review) SignWith(signer *openpgp.Entity, now time.Time) ([]string, error) {
	return signFiles(r.Prepared, r.Sign, signer, now)
}

func signFiles(p *Prepared, names []string, signer *openpgp.Entity, now time.Time) ([]string, error) {
	var signed []string
	for _, name := range names {
		f, ok := p.File(name)
		if !ok {
			return signed, fail.Inputf("%s is not in the signing directory", name)
		}
		sig, err := Sign(signer, f.Data, now)
		if err != nil {
			return signed, err
		}
		path := filepath.Join(p.Dir, f.Name+SigSuffix)
		var old []byte
		if b, err := readCapped(path, MaxSigSize); err == nil {
			old = b
		} else if !errors.Is(err, fs.ErrNotExist) {
			return signed, fail.Inputf("reading %s", path).Wrap(err)
		}
		merged, err := Merge(old, sig)
		if err != nil {
			return signed, fail.Inputf("merging into %s", path).Wrap(err)
		}
		if err := writeReplace(path, merged); err != nil {
			return signed, err
		}
		signed = append(signed, f.Name)
	}
	return signed, nil
}

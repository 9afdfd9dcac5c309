// Package client is what a Helm user, a CI job or an auditor runs against a
// published repository (docs/verify.md): it fetches the published set from any
// location internal/publish opens, enforces every trust rule on it, keeps
// per-repository state, and decides whether a chart's .prov is trusted.
//
// It never opens the team lead's store (a Helm user has no store): everything it knows comes
// from the pinned root fingerprints, the bucket, and its own state file.
//
// # Loading a repository
//
// Load, in this order, refusing at the first failure and writing nothing:
//
//  1. reads the state file of the location (state.go), failing closed when
//     it is damaged;
//  2. reads keyctl-manifest.json and, unverified, the root set version it
//     names (below the one in the state: rollback);
//  3. resolves the root set: when the state recorded one, re-fetches that
//     root set, checks it against the recorded hash (two different root
//     sets at one version are a Security error) and walks only forward
//     from it (root.WalkChain), each link signed by a threshold of the
//     previous set and of its own (root.VerifyLink); a root key that left
//     the set cannot sign its way back in. In every case the pins must
//     name one root set of a valid history exactly, by hash or by all its
//     fingerprints and its threshold (root.Resolve: root set 1 signed by
//     its own threshold, every link checked); pins with fewer keys or a
//     lower threshold are refused (root.PinError), and without a recorded
//     set trust comes from the pinned set, walked forward. Walks go on to
//     the newest validly linked root set, past the one the manifest names,
//     at most MaxRootLinks (tamper, threshold); a manifest naming an older
//     set than that newest one is refused (stale root set: signed under
//     keys that may since have left the set; during a rotation's publish
//     window the hint says to retry), and so is a manifest naming a set
//     that is not published, or a root history with a gap (set N+2
//     published after the walk stopped at N);
//     then checks the manifest's signatures published for exactly
//     those bytes at keyctl/sha256/<hash>.sig, and checks them against the
//     root set's threshold, the repository named by the root set, the root
//     set reference, the issue time and the expiry (tamper, threshold,
//     freeze);
//  4. checks the manifest's repository against the expected one: from
//     Options.Repository, else from the state (replay);
//  5. compares with the state: a lower version is a rollback; the same
//     version with another hash, or a newer manifest whose chain of
//     previous hashes does not pass through the one seen, is equivocation
//     (a Security error);
//  6. fetches pubkeys.pgp and revoked.pgp (and indexkeys.pgp when the
//     manifest binds it) and checks hash and length
//     against the manifest; when the fixed-name copy differs (a publish in
//     progress, or a mix-and-match attack) it fetches the content-addressed
//     copy keyctl/sha256/<hex> and uses it when that matches; a key
//     (primary or subkey) bound to two primaries across the two keyrings,
//     or a key the manifest lists bound as another certificate's subkey,
//     is refused (a Security error);
//  7. refuses a manifest that brings back a key the state recorded as
//     compromised, or binds it or one of its recorded subkeys to another
//     certificate (State.CheckCompromised, a Security error);
//  8. only then writes the new state, atomically, under the state lock,
//     after comparing with a record another run wrote meanwhile; a run
//     with nothing new to write still reads the record again (shared
//     lock) and compares it the same way before trusting anything.
//
// # Verifying a chart
//
// Verify is the one verification for every source (verify.go): a chart
// archive on disk, REPO/CHART through the repository's index.yaml, or an
// OCI reference oci://HOST/PATH/NAME:TAG or @sha256:HEX (internal/oci),
// whose published set is read at oci://HOST/PATH unless the request names
// another location. It loads the set (Load), checks that a fetched archive
// is the release asked for (FetchChart's CheckArchive, CheckOCIArchive),
// decides with Decide and, on request, compares the archive with its
// source folder. Nothing it fetches is written to disk.
package client

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"strings"
	"time"

	openpgp "github.com/ProtonMail/go-crypto/openpgp/v2"

	"github.com/keyctl/keyctl/internal/fail"
	"github.com/keyctl/keyctl/internal/oci"
	"github.com/keyctl/keyctl/internal/pgpkey"
	"github.com/keyctl/keyctl/internal/publish"
	"github.com/keyctl/keyctl/internal/root"
	"github.com/keyctl/keyctl/internal/tlog"
)

// Limits of what Load follows and fetches.
const (
	// MaxRootLinks bounds the root sets fetched to find and follow the
	// chain from set 1 to the pinned set, and from there (or from the set
	// the state recorded) forward.
	MaxRootLinks = 64
	// MaxBackLinks bounds how many previous manifests Load walks back to
	// tie a newer manifest to the one the state recorded.
	MaxBackLinks = 256
)

// Options configure Load.
type Options struct {
	// Location is the repository root: a directory, file://, gs://, s3://
	// or http(s):// (see publish.Open), or an OCI namespace oci://HOST/PATH
	// (see internal/oci; needs Registry). Ignored when Bucket is set, except
	// as the state key when Bucket is nil.
	Location string
	// Bucket, when set, is an already opened location; Load does not close it.
	Bucket *publish.Bucket
	// Pins name the root set: its hash, or all its fingerprints and its
	// threshold.
	Pins root.Pins
	// Repository is the expected repository identity; empty: the one the
	// state recorded from the first trusted manifest (trust on first use).
	Repository string
	// StateDir holds the per-repository state files; empty: no state is
	// read or written (rollback and equivocation cannot be detected across
	// runs).
	StateDir string
	// Now is the clock; nil: time.Now.
	Now func() time.Time
	// Witnesses are the public keys (C2SP vkeys, cosignature/v1) of the
	// witnesses whose cosignatures on the log checkpoint are counted;
	// WitnessThreshold of them are required (0: none).
	Witnesses        []string
	WitnessThreshold int
	// Registry reaches oci:// locations (nil: none can be opened).
	Registry *oci.Client
}

// Trusted is a repository's published set after every check in docs/verify.md.
type Trusted struct {
	Location       string // for output: credentials redacted (RedactURL)
	Manifest       *root.Manifest
	ManifestSHA256 string
	RootSet        *root.RootSet
	// Previous is what the state held before this load (zero when none).
	Previous State
	// Now is the time the checks were made at.
	Now time.Time
	// Fallbacks names the files read from their content-addressed copy
	// because the fixed-name copy did not match the manifest.
	Fallbacks []string
	// Log is the transparency log checkpoint the manifest was found in
	// (nil when the repository keeps no log), LogIndex its entry.
	Log      *tlog.Head
	LogIndex int64
	// Keyrings are the bytes of pubkeys.pgp and revoked.pgp, by name, as
	// the manifest binds them (for the trust page).
	Keyrings map[string][]byte

	// The keyrings are indexed at load (public key packets only) and a
	// certificate is parsed when a check needs it: verifying one chart
	// against a 1,000-key pubkeys.pgp parses one certificate, not 1,000.
	// Certificates the manifest does not list, or lists with another
	// status than their file implies, are not indexed.
	certs     map[string]*cert  // primary fingerprint → certificate
	primaryOf map[string]string // (sub)key fingerprint and key ID → primary fingerprint
	order     []string          // primary fingerprints in file order
}

// cert is one indexed certificate of a published keyring.
type cert struct {
	data   []byte
	span   pgpkey.CertSpan
	status root.Status
	parsed *openpgp.Entity
	err    error
}

// Load fetches and checks a repository's published set (see the package
// documentation) and updates its state.
func Load(ctx context.Context, opts Options) (*Trusted, error) {
	now := time.Now
	if opts.Now != nil {
		now = opts.Now
	}
	t0 := now().UTC()
	b := opts.Bucket
	if b == nil {
		if opts.Location == "" {
			return nil, fail.Inputf("no repository location given").WithHint("pass --repo URL or a repository name from keyctl repo add")
		}
		var err error
		b, err = OpenLocation(ctx, opts.Location, opts.Registry)
		if err != nil {
			return nil, err
		}
		defer b.Close()
	}
	loc := b.Location()

	var st *stateFile
	var prev State
	if opts.StateDir != "" {
		st = newStateFile(opts.StateDir, loc)
		s, err := st.read()
		if err != nil {
			return nil, err
		}
		prev = s
	}
	expect := opts.Repository
	if expect != "" && prev.Repository != "" && expect != prev.Repository {
		// Replay: this location served repository prev.Repository before.
		return nil, fail.Untrustedf("repository %s was trusted as %q before, now %q is expected (replay?)", RedactURL(loc), prev.Repository, expect).
			WithHint("check the repository identity in the configuration",
				"if the repository really changed its identity, move the state file away: "+st.path)
	}
	if expect == "" {
		expect = prev.Repository
	}

	// The manifest first: the root set it names bounds the walk from the
	// pins. Root sets go up before the manifest that names them, so during
	// (or after a failed) publish a newer root set may be published while
	// the live manifest still names the older one; resolving to the newest
	// would refuse that live manifest. The unverified parse only learns
	// which root set to verify with; nothing else is read from it before
	// its signatures are checked.
	mdata, err := b.Get(ctx, root.ManifestName, root.MaxManifestSize)
	if err != nil {
		return nil, err
	}
	mhash := root.Hash(mdata)
	msigs, err := b.Get(ctx, root.ContentPath(mhash)+root.SigSuffix, root.MaxSigSize)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fail.Untrustedf("%s: no signatures are published for manifest sha256 %s", root.ManifestName, mhash).
			WithHint("a publish may be in progress: retry; if it persists the manifest was replaced by hand (tamper)")
	}
	if err != nil {
		return nil, err
	}
	named, err := root.ParseManifest(mdata)
	if err != nil {
		return nil, fail.Untrustedf("%s does not parse (tamper)", root.ManifestName).Wrap(err).
			WithHint("a publish may have been interrupted or the file replaced by hand: ask the repository's team lead")
	}
	if expect != "" {
		// Refused before the root sets are read (nothing unverified is
		// trusted): another repository's root set would otherwise be
		// reported as a second root set for the one recorded.
		if err := named.CheckRepository(expect); err != nil {
			return nil, err
		}
	}
	rootWant := named.Root.Version
	if prev.RootVersion > rootWant {
		return nil, fail.Untrustedf("the manifest names root set %d, but root set %d was trusted before (rollback)", rootWant, prev.RootVersion).
			WithHint("an old copy of the repository is being served; try again later or another mirror")
	}

	if err := opts.Pins.Validate(); err != nil {
		return nil, err
	}
	var badSet error // a fetched root set that does not parse
	fetch := func(v uint64) ([]byte, []byte, error) {
		// Every published root set is followed, also those past the one
		// the manifest names: a manifest under a set that was validly
		// rotated away is refused below (walks are bounded by
		// MaxRootLinks).
		data, err := b.Get(ctx, root.RootSetPath(v), root.MaxRootSetSize)
		if err != nil {
			return nil, nil, err
		}
		if _, perr := root.ParseRootSet(data); perr != nil && badSet == nil {
			badSet = fail.Untrustedf("root set %d does not parse (tamper)", v).Wrap(perr)
		}
		sigs, err := b.Get(ctx, root.RootSetPath(v)+root.SigSuffix, root.MaxSigSize)
		if errors.Is(err, fs.ErrNotExist) {
			return data, nil, nil // no signatures: the threshold check says so
		}
		return data, sigs, err
	}
	type fetched struct {
		data, sigs []byte
		err        error
	}
	cache := map[uint64]fetched{} // each root set is read once
	cached := func(v uint64) ([]byte, []byte, error) {
		if c, ok := cache[v]; ok {
			return c.data, c.sigs, c.err
		}
		data, sigs, err := fetch(v)
		cache[v] = fetched{data, sigs, err}
		return data, sigs, err
	}
	var set *root.RootSet
	err = nil
	if prev.RootSHA256 != "" {
		// The state recorded a root set: trust walks forward from it only,
		// so a root key that has left the set cannot sign its way back in.
		set, err = resume(prev, cached, t0, st.path)
	}
	if err == nil {
		// The pins must name one root set of a valid history exactly (on
		// first use that is where trust comes from; with a state it only
		// adds refusals: pins that do not name the whole set, or name
		// another history, are refused however far the state got).
		var pinned *root.RootSet
		pinned, err = root.Resolve(opts.Pins, cached, MaxRootLinks, t0)
		if err == nil && set != nil && !sameSet(set, pinned) {
			err = fail.Untrustedf("the root history walked from the pins ends at root set %d, the one walked from the client state at root set %d", pinned.Version, set.Version).
				WithHint("the repository changed while it was read: retry; if it persists, report it to the repository's team lead")
		}
		if set == nil {
			set = pinned
		}
	}
	if err != nil {
		if badSet != nil && fail.KindOf(err) == fail.Input {
			return nil, badSet
		}
		var le *root.LinkError
		if errors.As(err, &le) && le.To > rootWant {
			return nil, fail.Hint(err, fmt.Sprintf("root set %d is newer than root set %d, which the manifest names: a rotation may be half-way through its publish; retry in a few minutes", le.To, rootWant),
				"if it persists, the repository's root history was tampered with: do not trust it; tell the repository's team lead")
		}
		return nil, err
	}
	// The walk stopped where root set set.Version+1 is missing; one more
	// after it means the history has a hole: a host hiding a rotation
	// must hide every later set too.
	if _, gerr := b.Get(ctx, root.RootSetPath(set.Version+2), root.MaxRootSetSize); !errors.Is(gerr, fs.ErrNotExist) {
		var tl *publish.TooLargeError
		if gerr != nil && !errors.As(gerr, &tl) {
			return nil, gerr
		}
		return nil, fail.Untrustedf("root set %d is published but root set %d is not: the root history has a gap (tamper)", set.Version+2, set.Version+1).
			WithHint("a rotation may have been hidden to make an older root set look current: do not trust this repository; tell its team lead")
	}
	if set.Version > rootWant {
		// Refused before the manifest's signatures are counted: a manifest
		// naming a root set that has been rotated away is signed under
		// keys that may have left, and a key that left can sign alone.
		return nil, staleRootSet(rootWant, set.Version)
	}
	if set.Version < rootWant {
		return nil, fail.Untrustedf("the manifest names root set %d, but the newest published root set is %d", rootWant, set.Version).
			WithHint("root sets are published before the manifest that names them: the root history was cut back or the manifest forged; do not trust it; tell the repository's team lead")
	}
	if prev.RootVersion > set.Version {
		return nil, fail.Untrustedf("root set %d is the newest published, but root set %d was trusted before (rollback)", set.Version, prev.RootVersion).
			WithHint("an old copy of the repository is being served; try again later or another mirror")
	}

	m := named // parsed above; now checked as signed by the resolved root set
	if err := root.VerifyParsed(m, mdata, msigs, set, t0); err != nil {
		return nil, err
	}
	if expect != "" {
		if err := m.CheckRepository(expect); err != nil {
			return nil, err
		}
	}
	statePath := ""
	if st != nil {
		statePath = st.path
	}
	if prev.RootVersion == set.Version && prev.RootSHA256 != "" && prev.RootSHA256 != m.Root.SHA256 {
		return nil, rootEquivocation(set.Version, prev.RootSHA256, m.Root.SHA256)
	}
	if err := checkHistory(ctx, b, m, mhash, prev, statePath); err != nil {
		return nil, err
	}

	t := &Trusted{Location: RedactURL(loc), Manifest: m, ManifestSHA256: mhash, RootSet: set, Previous: prev, Now: t0,
		primaryOf: map[string]string{}, certs: map[string]*cert{}, Keyrings: map[string][]byte{}}
	if t.Log, t.LogIndex, err = checkLog(ctx, b, set, m, mhash, prev.Log, opts); err != nil {
		return nil, err
	}
	for _, name := range m.FileNames() { // indexkeys.pgp too, when bound (signedindex.go)
		data, fallback, err := fetchBound(ctx, b, m, name)
		if err != nil {
			return nil, err
		}
		if fallback {
			t.Fallbacks = append(t.Fallbacks, name)
		}
		t.Keyrings[name] = data
		if err := t.addKeyring(name, data); err != nil {
			return nil, err
		}
	}
	if err := t.checkListedPrimaries(); err != nil {
		return nil, err
	}
	for _, k := range m.Keys {
		// All of a compromised key's subkeys are recorded, or none is
		// trusted: a cut list could leave out the one that signs.
		if n := len(t.subkeysOf(k.Fingerprint)); k.Status == root.Removed && k.Reason == root.Compromised && n > MaxCompromisedSubkeys {
			return nil, fail.Untrustedf("compromised key %s carries %d subkeys, more than the %d this client records", k.Fingerprint, n, MaxCompromisedSubkeys).
				WithHint("nothing was trusted; tell the repository's team lead to publish the key's certificate without the extra subkeys")
		}
	}

	if st != nil {
		// Compromised keys stay compromised (state.go, CheckCompromised).
		if err := prev.CheckCompromised(m, t); err != nil {
			return nil, err
		}
		next := State{Location: loc, Repository: m.Repository, Version: m.Version, ManifestSHA256: mhash,
			Issued: m.Issued, RootVersion: set.Version, RootSHA256: m.Root.SHA256, Log: prev.Log}.withCompromised(m, t, prev.Compromised)
		if t.Log != nil {
			next.Log = largerLog(string(t.Log.Note), prev.Log)
		}
		// Under the state lock: when another run recorded a version
		// meanwhile, m must descend from that one too.
		// A newer version recorded meanwhile is checked too: this run
		// returns m as trusted, so m must lie in that record's history
		// and the log checkpoint this run checked must be consistent
		// with the one it recorded, or a run shown a fork would trust
		// it without comparing it with what this client knows.
		check := func(cur State) error {
			if cur.Equal(prev) {
				return nil
			}
			if err := checkCompromisedSince(cur, m, t); err != nil {
				return err
			}
			if cur.Log != "" && cur.Log != prev.Log {
				if t.Log == nil {
					// This run's root set names no log: checkLog
					// refuses it against the recorded one.
					if _, _, err := checkLog(ctx, b, set, m, mhash, cur.Log, opts); err != nil {
						return err
					}
				} else if err := checkLogAgainst(ctx, b, cur.Log, t.Log); err != nil {
					return err
				}
			}
			if cur.RootSHA256 != "" && (cur.RootVersion != prev.RootVersion || cur.RootSHA256 != prev.RootSHA256) {
				// Another run recorded a root set meanwhile (never a
				// newer one than set: writeChecked refuses that): the
				// walk from it must end at the set this run trusted.
				again, err := resume(cur, cached, t0, st.path)
				if err != nil {
					return err
				}
				if !sameSet(again, set) {
					return fail.Untrustedf("the root history walked from root set %d, recorded meanwhile by another keyctl run, ends at root set %d, not at root set %d", cur.RootVersion, again.Version, set.Version).
						WithHint("the repository changed while it was read: retry; if it persists, report it to the repository's team lead")
				}
			}
			if cur.Version > m.Version {
				return checkDescendant(ctx, b, cur, m, mhash, st.path)
			}
			return checkHistory(ctx, b, m, mhash, cur, st.path)
		}
		if !next.Equal(prev) {
			err = st.writeChecked(next, check)
		} else {
			// Nothing to write, but another run may have recorded a
			// newer state meanwhile (a compromised key, another log
			// checkpoint): this run returns m as trusted, so m is checked
			// against that record as a write would be. The common case
			// costs one read under the lock.
			err = st.readChecked(next, check)
		}
		if err != nil {
			return nil, err
		}
	}
	return t, nil
}

// checkLog checks the manifest against the repository's transparency log
// when the root set names one (docs/verify.md, section Transparency log):
// the newest checkpoint is signed by the log key, consistent with the one
// the state kept (prevLog), includes the manifest, and carries the
// witness cosignatures required.
func checkLog(ctx context.Context, b *publish.Bucket, set *root.RootSet, m *root.Manifest, mhash, prevLog string, opts Options) (*tlog.Head, int64, error) {
	if set.Log == "" {
		if prevLog != "" {
			old, _ := tlog.ParseCheckpoint([]byte(prevLog))
			return nil, 0, fail.Securityf("root set %d names no transparency log, but this client checked the log %s before", set.Version, old.Origin).
				WithHint("a repository does not drop its log: someone may be serving a manifest that escapes it; keep the client state file as evidence and see docs/runbook.md, section monitor raised an alarm")
		}
		if opts.WitnessThreshold > 0 {
			return nil, 0, (&tlog.TooFewWitnessesError{Need: opts.WitnessThreshold}).Refusal(
				fmt.Sprintf("root set %d names no transparency log, so no witness can have cosigned it", set.Version))
		}
		return nil, 0, nil
	}
	lv, err := tlog.NewLogVerifier(set.Log)
	if err != nil {
		return nil, 0, err
	}
	var ws []*tlog.WitnessVerifier
	for _, k := range opts.Witnesses {
		w, err := tlog.NewWitnessVerifier(k)
		if err != nil {
			return nil, 0, fail.Hint(err, "check --witness (or witness in the config)")
		}
		ws = append(ws, w)
	}
	if n := tlog.DistinctWitnesses(ws); opts.WitnessThreshold > n {
		// Witnesses count by distinct public key: one key under two
		// names is one witness.
		return nil, 0, fail.Inputf("--witness-threshold %d with %d witness keys", opts.WitnessThreshold, n).
			WithHint("name at least as many witnesses (--witness VKEY, repeatable, each with its own key) as the threshold")
	}
	head, err := tlog.ReadHead(ctx, b, lv, ws)
	if err != nil {
		return nil, 0, err
	}
	e := tlog.Entry{Version: m.Version, SHA256: mhash}
	if head == nil {
		return nil, 0, &tlog.NotIncludedError{Entry: e, Why: "the repository publishes no log checkpoint, though its root set names log " + lv.Name()}
	}
	if prevLog != "" {
		if err := checkLogAgainst(ctx, b, prevLog, head); err != nil {
			return nil, 0, err
		}
	}
	idx, err := tlog.Include(ctx, b, head, e)
	if err != nil {
		return nil, 0, err
	}
	if err := tlog.RequireWitnesses(head, opts.WitnessThreshold); err != nil {
		return nil, 0, err
	}
	return head, idx, nil
}

// checkLogAgainst checks that head and the checkpoint prevLog, kept
// earlier, are of one log and lie on one append-only history.
func checkLogAgainst(ctx context.Context, b *publish.Bucket, prevLog string, head *tlog.Head) error {
	old, err := tlog.ParseCheckpoint([]byte(prevLog))
	if err != nil {
		return err
	}
	if old.Origin != head.Origin {
		return &tlog.InconsistentError{Old: []byte(prevLog), New: head.Note, Why: fmt.Sprintf("the log was %q, it is now %q", old.Origin, head.Origin)}
	}
	return tlog.CheckConsistent(ctx, b, old.Tree, []byte(prevLog), head)
}

// checkCompromisedSince is cur.CheckCompromised(m, t) for a record cur
// that another run wrote meanwhile. Keys cur lists as compromised from a
// version after m's (cur is newer than m) are not a sign of a split view:
// m may predate their compromise. They are still not to be trusted, so m
// is refused, as untrusted: the next run checks the newer manifest.
func checkCompromisedSince(cur State, m *root.Manifest, t *Trusted) error {
	older, newer := cur, cur
	older.Compromised, newer.Compromised = nil, nil
	for _, c := range cur.Compromised {
		if c.Version > m.Version {
			newer.Compromised = append(newer.Compromised, c)
		} else {
			older.Compromised = append(older.Compromised, c)
		}
	}
	if err := older.CheckCompromised(m, t); err != nil {
		return err
	}
	if newer.CheckCompromised(m, t) != nil {
		return fail.Untrustedf("manifest version %d, recorded meanwhile by another keyctl run sharing this client state, lists as compromised a key that manifest version %d, which this run checked, still trusts", cur.Version, m.Version).
			WithHint("nothing was trusted: run again (it checks the newer manifest)")
	}
	return nil
}

// checkDescendant checks that the manifest cur records (newer than m,
// recorded meanwhile by another run) descends from m: its history, walked
// back along Previous through the content-addressed copies, holds m's
// hash at m's version.
func checkDescendant(ctx context.Context, b *publish.Bucket, cur State, m *root.Manifest, mhash, statePath string) error {
	data, err := b.Get(ctx, root.ContentPath(cur.ManifestSHA256), root.MaxManifestSize)
	if err != nil {
		return fail.Untrustedf("manifest version %d (sha256 %.12s), recorded meanwhile by another keyctl run sharing this client state, is not published here", cur.Version, cur.ManifestSHA256).
			Wrap(err).WithHint("nothing was trusted: the repository changed while it was read, or this run was shown another history than the other run: retry; if it persists, report it to the repository's team lead")
	}
	if root.Hash(data) != cur.ManifestSHA256 {
		return fail.Untrustedf("the content-addressed copy of manifest sha256 %.12s does not hash to its name (tamper)", cur.ManifestSHA256)
	}
	newer, err := root.ParseManifest(data)
	if err != nil {
		return fail.Untrustedf("the content-addressed copy of manifest sha256 %.12s does not parse (tamper)", cur.ManifestSHA256).Wrap(err)
	}
	if newer.Version != cur.Version {
		return fail.Untrustedf("the content-addressed copy of manifest sha256 %.12s says it is version %d, recorded as version %d", cur.ManifestSHA256, newer.Version, cur.Version)
	}
	return checkHistory(ctx, b, newer, cur.ManifestSHA256, State{Version: m.Version, ManifestSHA256: mhash, Issued: m.Issued}, statePath)
}

// staleRootSet refuses a manifest naming root set named while root set
// newest, validly linked from it, is published.
func staleRootSet(named, newest uint64) error {
	return fail.Untrustedf("stale root set: the manifest names root set %d, but root set %d is published and validly rotated from it; a manifest under a root set that was rotated away is not trusted", named, newest).
		WithHint("during a rotation's publish window the new root set goes up before the manifest that names it: retry in a few minutes",
			"if it persists, the manifest was signed under root keys that have since been rotated out (perhaps by one of them): do not trust it; tell the repository's team lead")
}

func sameSet(a, b *root.RootSet) bool {
	ab, aerr := a.Marshal()
	bb, berr := b.Marshal()
	return aerr == nil && berr == nil && string(ab) == string(bb)
}

// resume returns the newest root set reached by walking the rotation chain
// forward from the one the state recorded, re-fetched and checked by hash.
func resume(prev State, fetch root.Fetch, now time.Time, statePath string) (*root.RootSet, error) {
	data, _, err := fetch(prev.RootVersion)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fail.Untrustedf("root set %d, which this client trusted before, is no longer published (tamper?)", prev.RootVersion).
			WithHint("an old or damaged copy of the repository may be served: try again later or another mirror; tell the repository's team lead")
	}
	if err != nil {
		return nil, err
	}
	if h := root.Hash(data); h != prev.RootSHA256 {
		return nil, rootEquivocation(prev.RootVersion, prev.RootSHA256, h)
	}
	set, err := root.ParseRootSet(data)
	if err != nil {
		return nil, fail.Untrustedf("root set %d recorded in client state %s does not parse", prev.RootVersion, statePath).Wrap(err)
	}
	if set.Version != prev.RootVersion {
		return nil, fail.Untrustedf("root set fetched as version %d says it is version %d (tamper)", prev.RootVersion, set.Version)
	}
	return root.WalkChain(set, fetch, MaxRootLinks, now)
}

// checkHistory compares m (whose bytes hash to mhash) with the state.
func checkHistory(ctx context.Context, b *publish.Bucket, m *root.Manifest, mhash string, prev State, statePath string) error {
	if prev.Version == 0 {
		return nil
	}
	if err := m.CheckSeen(prev.Version, prev.ManifestSHA256, mhash); err != nil {
		var eq *root.EquivocationError
		if errors.As(err, &eq) {
			return equivocation(prev, m, mhash)
		}
		return err
	}
	if m.Version == prev.Version {
		return nil
	}
	// A newer manifest must descend from the one seen: walk back along
	// Previous through the content-addressed copies. Their bytes are bound
	// by hash to the signed manifest, so no signature is needed.
	if m.Version-prev.Version > MaxBackLinks {
		// Fail closed: without the walk a forked history signed by the
		// same roots would pass unnoticed.
		return fail.Untrustedf("manifest version %d is %d versions past version %d seen before, more than the %d this client walks to check they share one history",
			m.Version, m.Version-prev.Version, prev.Version, MaxBackLinks).
			WithHint("if the repository really published that many times since, check it by other means, then move the client state file away to re-bootstrap: mv " + statePath + " " + statePath + ".old")
	}
	cur, want := m, m.Previous
	for cur.Version-1 > prev.Version {
		data, err := b.Get(ctx, root.ContentPath(want), root.MaxManifestSize)
		if err != nil {
			return fail.Untrustedf("manifest version %d names previous manifest sha256 %.12s, which is not published", cur.Version, want).
				Wrap(err).WithHint("the repository's history is incomplete; ask its team lead")
		}
		if root.Hash(data) != want {
			return fail.Untrustedf("the content-addressed copy of manifest sha256 %.12s does not hash to its name (tamper)", want)
		}
		p, err := root.ParseManifest(data)
		if err != nil {
			return err
		}
		if err := cur.CheckSuccessor(p, want); err != nil {
			return err
		}
		cur, want = p, p.Previous
	}
	if cur.Previous != prev.ManifestSHA256 {
		return &fail.Error{Kind: fail.Security, Msg: fmt.Sprintf(
			"two different histories: manifest version %d was seen with sha256 %s, the history of version %d (sha256 %s) holds sha256 %s there",
			prev.Version, prev.ManifestSHA256, m.Version, mhash, cur.Previous),
			Hints: equivocationHints}
	}
	return nil
}

var equivocationHints = []string{
	"the root keys signed two different manifests for one version: report it to the repository's team lead",
	"keep the client state file as evidence",
}

func equivocation(prev State, m *root.Manifest, mhash string) error {
	return &fail.Error{Kind: fail.Security, Msg: fmt.Sprintf(
		"two different manifests carry version %d: seen before sha256 %s (issued %s), served now sha256 %s (issued %s)",
		m.Version, prev.ManifestSHA256, fmtTime(prev.Issued), mhash, fmtTime(m.Issued)),
		Hints: equivocationHints}
}

func fmtTime(t time.Time) string {
	if t.IsZero() {
		return "unknown"
	}
	return t.UTC().Format(time.RFC3339)
}

// fetchBound returns the bytes of a file the manifest binds: the fixed-name
// copy when it matches, else the content-addressed copy. fallback reports
// the latter.
func fetchBound(ctx context.Context, b *publish.Bucket, m *root.Manifest, name string) (data []byte, fallback bool, err error) {
	ref, ok := m.File(name)
	if !ok {
		return nil, false, fail.Inputf("the manifest does not bind %s", name)
	}
	if ref.Length > pgpkey.MaxKeyringSize {
		return nil, false, fail.Untrustedf("the manifest says %s is %d bytes, more than the %d-byte limit", name, ref.Length, pgpkey.MaxKeyringSize)
	}
	limit := ref.Length
	if limit == 0 {
		limit = 1
	}
	var first error
	fixed, err := b.Get(ctx, name, limit)
	if err == nil {
		if first = m.CheckFile(name, fixed); first == nil {
			return fixed, false, nil
		}
	} else {
		var tl *publish.TooLargeError
		if !errors.Is(err, fs.ErrNotExist) && !errors.As(err, &tl) {
			return nil, false, err
		}
		first = err
	}
	cas, err := b.Get(ctx, root.ContentPath(ref.SHA256), limit)
	if err == nil && m.CheckFile(name, cas) == nil {
		return cas, true, nil
	}
	var mm *root.MismatchError
	if errors.As(first, &mm) {
		return nil, false, &fail.Error{Kind: fail.Untrusted, Err: first, Msg: "mix-and-match: " + name + " does not match the manifest, nor does its content-addressed copy",
			Hints: []string{"the file was replaced (an older or foreign copy is being served); do not trust this repository until its team lead re-publishes"}}
	}
	return nil, false, &fail.Error{Kind: fail.Untrusted, Err: first, Msg: "mix-and-match: no copy of " + name + " matches the manifest",
		Hints: []string{"a publish may be in progress: retry; if it persists, tell the repository's team lead"}}
}

// filedFrom reports whether the certificate of the key entry describes is
// read from the bound keyring file name (the first bound file carrying it
// wins): an active maintainer key from pubkeys.pgp, an active index key
// from indexkeys.pgp only, a removed key from any bound file. Clients
// (addKeyring) and the monitor (loadKeyringView) file certificates by
// this one rule, so that the monitor looks at the copy clients judge by.
func filedFrom(entry root.KeyEntry, name string) bool {
	switch entry.Status {
	case root.Active:
		return (entry.Role == root.RoleIndex) == (name == root.IndexKeysFile) && (name == root.PubkeysFile || name == root.IndexKeysFile)
	case root.Removed:
		return true
	}
	return false
}

// addKeyring indexes one published keyring and files its certificates by
// the status the manifest gives them.
func (t *Trusted) addKeyring(name string, data []byte) error {
	if len(data) == 0 {
		return nil
	}
	spans, err := pgpkey.IndexKeyring(data, pgpkey.MaxKeyringSize)
	if err != nil {
		return fail.Untrustedf("%s matches the manifest but is not a valid keyring", name).Wrap(err)
	}
	if len(t.certs) == 0 && len(spans) > 8 {
		// Sized once for the keyring (pubkeys.pgp comes first): growing
		// a 4,000-entry map step by step was a fifth of this function
		// on a 1,000-key repository.
		t.certs = make(map[string]*cert, len(spans))
		t.primaryOf = make(map[string]string, 4*len(spans))
		t.order = make([]string, 0, len(spans))
	}
	for _, sp := range spans {
		fpr := sp.Fingerprint()
		entry, ok := t.Manifest.Key(fpr)
		if !ok || t.certs[fpr] != nil {
			continue
		}
		if !filedFrom(entry, name) {
			continue
		}
		// One key, one primary: a key (primary or subkey) that a listed
		// certificate already holds under another primary is refused, or a
		// compromised subkey would sign again under a new primary.
		keys := []string{fpr}
		for _, sk := range sp.Subkeys {
			keys = append(keys, pgpkey.FormatFingerprint(sk.Fingerprint))
		}
		for _, k := range keys {
			if other, ok := t.primaryOf[k]; ok && other != fpr {
				return &fail.Error{Kind: fail.Security, Msg: fmt.Sprintf(
					"key %s is bound to two primary keys in the published keyrings: %s (%s) and %s (%s, %s)", k, other, t.certs[other].status, fpr, entry.Status, name),
					Hints: []string{"nothing was trusted: a (sub)key belongs to one certificate; bound under a second primary it would escape the first one's removal",
						"report it to the repository's team lead: the store holds a certificate built around someone else's key"}}
			}
		}
		t.certs[fpr] = &cert{data: data, span: sp, status: entry.Status}
		t.order = append(t.order, fpr)
		t.primaryOf[fpr] = fpr
		t.primaryOf[sp.Primary.ID()] = fpr
		for _, sk := range sp.Subkeys {
			t.primaryOf[pgpkey.FormatFingerprint(sk.Fingerprint)] = fpr
			t.primaryOf[sk.ID()] = fpr
		}
	}
	return nil
}

// checkListedPrimaries refuses a key the manifest lists as a primary key
// that a published certificate carries as a subkey of another primary:
// with its own certificate left out, a compromised (or any removed) key
// would sign as the other one.
func (t *Trusted) checkListedPrimaries() error {
	for _, k := range t.Manifest.Keys {
		p, ok := t.primaryOf[k.Fingerprint]
		if !ok || p == k.Fingerprint {
			continue
		}
		return &fail.Error{Kind: fail.Security, Msg: fmt.Sprintf(
			"key %s, which the manifest lists as a primary key (%s), is bound as a subkey of %s (%s)", k.Fingerprint, describeStatus(k), p, t.certs[p].status),
			Hints: []string{"nothing was trusted: a listed key's signatures must be judged under its own entry",
				"report it to the repository's team lead: the store holds a certificate built around another maintainer's key"}}
	}
	return nil
}

func describeStatus(k root.KeyEntry) string {
	if k.Status == root.Removed && k.Reason != "" {
		return string(k.Status) + ", " + string(k.Reason)
	}
	return string(k.Status)
}

// subkeysOf returns the subkey fingerprints of the indexed certificate fpr
// (t may be nil).
func (t *Trusted) subkeysOf(fpr string) []string {
	if t == nil || t.certs[fpr] == nil {
		return nil
	}
	var out []string
	for _, sk := range t.certs[fpr].span.Subkeys {
		out = append(out, pgpkey.FormatFingerprint(sk.Fingerprint))
	}
	return out
}

// entity parses (once) the certificate with primary fingerprint fpr.
func (t *Trusted) entity(fpr string) (*openpgp.Entity, error) {
	c := t.certs[fpr]
	if c == nil {
		return nil, nil
	}
	if c.parsed == nil && c.err == nil {
		c.parsed, c.err = pgpkey.ParseSpan(c.data, c.span)
	}
	return c.parsed, c.err
}

// keys returns the parsed certificates with the given status; with ids,
// only those holding one of the (sub)key IDs or fingerprints.
func (t *Trusted) keys(status root.Status, ids []string) (openpgp.EntityList, error) {
	var out openpgp.EntityList
	add := func(fpr string) error {
		c := t.certs[fpr]
		if c == nil || c.status != status {
			return nil
		}
		for _, e := range out {
			if pgpkey.Fingerprint(e) == fpr {
				return nil
			}
		}
		e, err := t.entity(fpr)
		if err != nil {
			return fail.Untrustedf("certificate %s of the published keyring does not parse", fpr).Wrap(err)
		}
		out = append(out, e)
		return nil
	}
	if ids == nil {
		for _, fpr := range t.order {
			if err := add(fpr); err != nil {
				return nil, err
			}
		}
		return out, nil
	}
	for _, id := range ids {
		if fpr, ok := t.Primary(id); ok {
			if err := add(fpr); err != nil {
				return nil, err
			}
		}
	}
	return out, nil
}

// Active parses and returns every certificate the manifest lists as
// active (from pubkeys.pgp), in file order.
func (t *Trusted) Active() (openpgp.EntityList, error) { return t.keys(root.Active, nil) }

// Removed parses and returns every certificate the manifest lists as
// removed (from pubkeys.pgp or revoked.pgp), in file order.
func (t *Trusted) Removed() (openpgp.EntityList, error) { return t.keys(root.Removed, nil) }

// Primary maps a fingerprint or 16-digit key ID of a primary key or subkey
// of a listed certificate to its primary fingerprint. A key ID shared by
// two certificates maps to one of them.
func (t *Trusted) Primary(key string) (string, bool) {
	k := strings.ToUpper(strings.ReplaceAll(key, " ", ""))
	k = strings.TrimPrefix(k, "0X")
	p, ok := t.primaryOf[k]
	return p, ok
}

// Entry returns the manifest entry of the certificate holding key (a
// (sub)key fingerprint or key ID).
func (t *Trusted) Entry(key string) (root.KeyEntry, bool) {
	p, ok := t.Primary(key)
	if !ok {
		// A key the manifest lists but whose certificate is not published.
		return t.Manifest.Key(strings.ToUpper(key))
	}
	return t.Manifest.Key(p)
}

// Entity returns the certificate with primary fingerprint fpr (nil when
// none is published or it does not parse).
func (t *Trusted) Entity(fpr string) *openpgp.Entity {
	e, _ := t.entity(fpr)
	return e
}

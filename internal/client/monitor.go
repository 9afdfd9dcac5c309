package client

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/keyctl/keyctl/internal/fail"
	"github.com/keyctl/keyctl/internal/publish"
	"github.com/keyctl/keyctl/internal/root"
	"github.com/keyctl/keyctl/internal/tlog"
)

// MonitorOptions configure Monitor.
type MonitorOptions struct {
	Bucket *publish.Bucket
	Pins   root.Pins
	// StateDir keeps where the last run stopped; empty: walk from the
	// start and remember nothing.
	StateDir string
	Now      func() time.Time
	// Witnesses are the witness public keys (vkeys) whose cosignatures on
	// the log checkpoint count, as clients name them (Options.Witnesses);
	// WitnessThreshold of them must have cosigned the checkpoint the
	// monitor checks (0: none).
	Witnesses        []string
	WitnessThreshold int
}

// Event is one keyring change the log shows.
type Event struct {
	Index   int64  `json:"index"`
	Version uint64 `json:"version"`
	// Kind: key-added, key-removed, key-restored, scope-changed,
	// role-changed, reason-changed, effective-changed, key-dropped, root-rotated,
	// version-relogged; and the certificate changes of a listed key
	// (monitor_keyring.go): key-revoked, key-revocation-removed,
	// subkey-added, subkey-removed, subkey-revoked,
	// subkey-revocation-removed, certificate-added, certificate-removed,
	// certificate-unreadable.
	Kind        string `json:"kind"`
	Fingerprint string `json:"fingerprint,omitempty"`
	// Role is the key's role (maintainer or index) on key-added and
	// role-changed; OldRole what it was before a role-changed.
	Role        string   `json:"role,omitempty"`
	OldRole     string   `json:"old_role,omitempty"`
	Reason      string   `json:"reason,omitempty"`
	Scopes      []string `json:"scopes,omitempty"`
	OldScopes   []string `json:"old_scopes,omitempty"`
	RootVersion uint64   `json:"root_version,omitempty"`
	Detail      string   `json:"detail,omitempty"`
	// Subkey is the subkey of a subkey-* certificate event.
	Subkey string `json:"subkey,omitempty"`
	// Effective and OldEffective (RFC 3339) are a removed key's effective
	// time now and before, on effective-changed.
	Effective    string `json:"effective,omitempty"`
	OldEffective string `json:"old_effective,omitempty"`
}

// MonitorReport is what one run saw.
type MonitorReport struct {
	Location string  `json:"location"`
	Origin   string  `json:"log"`
	From     int64   `json:"from"`
	Size     int64   `json:"size"`
	Events   []Event `json:"events"`
	// Evidence is the folder holding both checkpoints when the log was
	// inconsistent.
	Evidence string `json:"evidence,omitempty"`
	// Witnesses are the named witness keys whose valid cosignature the
	// checkpoint carries (MonitorOptions.Witnesses).
	Witnesses []string `json:"witnesses,omitempty"`
	// Next, when set, is where this run stopped (MaxMonitorEntries):
	// entries From to Next were checked, the next run goes on from Next.
	Next int64 `json:"next,omitempty"`
}

// MonitorStateFormat is the first field of a monitor state file.
const MonitorStateFormat = "keyctl-monitor-state/1"

type monitorState struct {
	Format     string `json:"format"`
	Location   string `json:"location"`
	Checkpoint string `json:"checkpoint"`
	// Last is the last entry read (index Size-1 of Checkpoint, or Next-1).
	LastVersion uint64 `json:"last_version"`
	LastSHA256  string `json:"last_sha256"`
	// Next, when set, is the entry the next run starts at: the last run
	// stopped before the end of Checkpoint (MaxMonitorEntries).
	Next int64 `json:"next,omitempty"`
	// Revocations are the revocation ids seen in the logged keyrings up
	// to Last, by the fingerprint of the key or subkey each revokes
	// (monitor_revseen.go); absent in a state written before they were
	// kept.
	Revocations map[string][]string `json:"revocations,omitempty"`
	// RootVersion is the newest root set the run that wrote the state
	// resolved (absent in a state written before it was kept): a newest
	// root set older than it is a root history cut back, which the host
	// alone can do by hiding objects, not a log dropped.
	RootVersion uint64 `json:"root_version,omitempty"`
}

func monitorStatePath(dir, loc string) string {
	h := sha256.Sum256([]byte(loc))
	return filepath.Join(dir, "monitor-"+hex.EncodeToString(h[:10])+".json")
}

func readMonitorState(path string) (*monitorState, error) {
	f, err := os.Open(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fail.Inputf("cannot read monitor state %s", path).Wrap(err)
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, tlog.MaxCheckpointSize+4096+MaxMonitorRevocations*160))
	if err != nil {
		return nil, fail.Inputf("cannot read monitor state %s", path).Wrap(err)
	}
	var s monitorState
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	bad := func(why string) error {
		return fail.Inputf("monitor state %s is damaged: %s", path, why).
			WithHint("restore it from a backup; moving it away makes the next run walk the whole log again")
	}
	if err := dec.Decode(&s); err != nil {
		return nil, bad(err.Error())
	}
	if s.Format != MonitorStateFormat {
		return nil, bad("format " + s.Format)
	}
	if _, err := tlog.ParseCheckpoint([]byte(s.Checkpoint)); err != nil {
		return nil, bad("checkpoint: " + err.Error())
	}
	if _, err := tlog.ParseEntry(tlog.Entry{Version: s.LastVersion, SHA256: s.LastSHA256}.Marshal()); err != nil {
		return nil, bad("last entry")
	}
	if c, _ := tlog.ParseCheckpoint([]byte(s.Checkpoint)); s.Next < 0 || s.Next > c.N {
		return nil, bad(fmt.Sprintf("next entry %d outside the checkpoint of %d", s.Next, c.N))
	}
	if _, err := newRevSeen(s.Revocations); err != nil {
		return nil, bad(err.Error())
	}
	return &s, nil
}

// writeFileAtomic writes path (0600) through writeAtomic, creating its
// folder (0700) first.
func writeFileAtomic(path string, data []byte) error {
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fail.Inputf("cannot create %s", dir).Wrap(err)
	}
	return writeAtomic(dir, path, data)
}

// SaveEvidence writes both checkpoints of an inconsistency into a new
// folder under dir and returns it.
func SaveEvidence(dir string, ie *tlog.InconsistentError, now time.Time) (string, error) {
	ev := filepath.Join(dir, "evidence-"+now.UTC().Format("20060102T150405Z"))
	for i := 0; ; i++ {
		p := ev
		if i > 0 {
			p = fmt.Sprintf("%s-%d", ev, i)
		}
		if err := os.MkdirAll(dir, 0o700); err != nil {
			return "", fail.Inputf("cannot create %s", dir).Wrap(err)
		}
		if err := os.Mkdir(p, 0o700); err == nil {
			ev = p
			break
		} else if !errors.Is(err, fs.ErrExist) || i > 100 {
			return "", fail.Inputf("cannot create %s", p).Wrap(err)
		}
	}
	if err := writeFileAtomic(filepath.Join(ev, "old.checkpoint"), ie.Old); err != nil {
		return "", err
	}
	if err := writeFileAtomic(filepath.Join(ev, "new.checkpoint"), ie.New); err != nil {
		return "", err
	}
	why := ie.Error() + "\n"
	return ev, writeFileAtomic(filepath.Join(ev, "README.txt"), []byte(why))
}

// Monitor walks a repository's transparency log from the start, or from
// where the last run (StateDir) stopped: it checks the newest checkpoint
// against the one kept, verifies every new entry's manifest under the
// pinned root history, and reports each keyring change. On an
// inconsistent log it saves both checkpoints as evidence and returns the
// report with a *tlog.InconsistentError.
func Monitor(ctx context.Context, o MonitorOptions) (*MonitorReport, error) {
	now := time.Now
	if o.Now != nil {
		now = o.Now
	}
	t0 := now().UTC()
	b := o.Bucket
	loc := b.Location()
	rep := &MonitorReport{Location: RedactURL(loc), Events: []Event{}}
	if err := o.Pins.Validate(); err != nil {
		return nil, err
	}
	// The whole root history, checked from the pins.
	sets := map[uint64][]byte{}
	fetch := func(v uint64) ([]byte, []byte, error) {
		data, err := b.Get(ctx, root.RootSetPath(v), root.MaxRootSetSize)
		if err != nil {
			return nil, nil, err
		}
		sigs, err := b.Get(ctx, root.RootSetPath(v)+root.SigSuffix, root.MaxSigSize)
		if errors.Is(err, fs.ErrNotExist) {
			return data, nil, nil
		}
		if err == nil {
			sets[v] = data
		}
		return data, sigs, err
	}
	newest, err := root.Resolve(o.Pins, fetch, MaxRootLinks, t0)
	if err != nil {
		return nil, err
	}
	var st *monitorState
	statePath := ""
	if o.StateDir != "" {
		statePath = monitorStatePath(o.StateDir, loc)
		if st, err = readMonitorState(statePath); err != nil {
			return nil, err
		}
	}
	if st != nil && newest.Version < st.RootVersion {
		// As a client with state says (rollback), and not an alarm: the
		// host alone can hide root sets.
		return nil, fail.Untrustedf("the newest root set %s publishes is %d, but this monitor resolved root set %d before (rollback)", rep.Location, newest.Version, st.RootVersion).
			WithHint("an old or incomplete copy of the repository is being served (root sets hidden); retry later or from another mirror",
				"if it persists, tell the repository's team lead; nothing was checked")
	}
	if newest.Log == "" && st != nil {
		old, _ := tlog.ParseCheckpoint([]byte(st.Checkpoint))
		return nil, fail.Securityf("root set %d of %s names no transparency log, but this monitor walked the log %s before (%d entries, up to manifest version %d)", newest.Version, rep.Location, old.Origin, old.N, st.LastVersion).
			WithHint("a repository does not drop its log: manifests published from now on escape it, and clients without state trust them; keep the monitor state as evidence and see docs/runbook.md, section monitor raised an alarm")
	}
	if newest.Log == "" {
		return nil, fail.Inputf("root set %d of %s names no transparency log: there is nothing to monitor", newest.Version, rep.Location).
			WithHint("the team lead names a log key with keyctl root rotate --log-key PUBFILE; see docs/manifest.md")
	}
	lv, err := tlog.NewLogVerifier(newest.Log)
	if err != nil {
		return nil, err
	}
	ws, err := monitorWitnesses(o.Witnesses, o.WitnessThreshold)
	if err != nil {
		return nil, err
	}
	rep.Origin = lv.Name()
	head, err := tlog.ReadHead(ctx, b, lv, ws)
	if err != nil {
		return nil, err
	}
	if head == nil {
		return nil, fail.Untrustedf("%s publishes no log checkpoint, though its root set names log %s", rep.Location, lv.Name()).
			WithHint("nothing was published since the log was named, or the log was deleted; see docs/runbook.md, section monitor raised an alarm")
	}
	rep.Size = head.N
	rep.Witnesses = head.Witnesses

	var last *tlog.Entry
	var lastM *root.Manifest
	var lastView *keyringView
	seen, _ := newRevSeen(nil)
	if st != nil {
		old, _ := tlog.ParseCheckpoint([]byte(st.Checkpoint))
		var cerr error
		if old.Origin != head.Origin {
			cerr = &tlog.InconsistentError{Old: []byte(st.Checkpoint), New: head.Note, Why: fmt.Sprintf("the log was %q, it is now %q", old.Origin, head.Origin)}
		} else if old.N > head.N {
			// A smaller checkpoint that a consistency proof joins to the
			// one kept is an older copy (a stale cache, or a replay anyone
			// can serve without a key): not a fork, nothing to save. One
			// that no proof joins stays the security error.
			cerr = tlog.CheckConsistent(ctx, b, old.Tree, []byte(st.Checkpoint), head)
			if cerr == nil {
				return nil, fail.Untrustedf("stale checkpoint: %s serves the log checkpoint of %d entries, but this monitor already checked %d entries of the same log", rep.Location, head.N, old.N).
					WithHint("the older checkpoint is a prefix of the one kept (consistent): an old copy from a cache or mirror, or replayed by the host; nothing was checked. Retry later, or from another mirror; if it stays, ask the publisher why keyctl/log/checkpoint went back")
			}
		} else {
			cerr = tlog.CheckConsistent(ctx, b, old.Tree, []byte(st.Checkpoint), head)
		}
		if cerr != nil {
			var ie *tlog.InconsistentError
			if errors.As(cerr, &ie) {
				ev, err := SaveEvidence(o.StateDir, ie, t0)
				if err != nil {
					return nil, err
				}
				rep.Evidence = ev
			}
			return rep, cerr
		}
		rep.From = old.N
		if st.Next > 0 {
			rep.From = st.Next
		}
		last = &tlog.Entry{Version: st.LastVersion, SHA256: st.LastSHA256}
		if lastM, _, err = monitorManifest(ctx, b, *last, sets, t0); err != nil {
			return nil, err
		}
		if lastView, err = loadKeyringView(ctx, b, lastM, nil); err != nil {
			return nil, fail.Hint(err, fmt.Sprintf("the keyrings of manifest version %d, where the last run stopped, cannot be read", last.Version))
		}
		if seen, err = newRevSeen(st.Revocations); err != nil {
			return nil, err // checked by readMonitorState
		}
		// A state from before revocations were kept starts from those of
		// the manifest where it stopped.
		if err := seen.remember(lastView); err != nil {
			return nil, err
		}
	}
	save := func(next int64) error {
		if statePath == "" || last == nil {
			return nil
		}
		ms := monitorState{Format: MonitorStateFormat, Location: loc, Checkpoint: string(head.Note),
			LastVersion: last.Version, LastSHA256: last.SHA256, Revocations: seen.state(), RootVersion: newest.Version}
		if next < head.N {
			ms.Next = next
		}
		data, err := json.MarshalIndent(ms, "", "  ")
		if err != nil {
			return err
		}
		return writeFileAtomic(statePath, append(data, '\n'))
	}
	// Entries are read, checked and reported one entry bundle at a time,
	// the state saved after each, and at most MaxMonitorEntries per run
	// (monitorRunCap):
	// a log padded to 2^40 entries costs its signer 40 hashes, and must
	// not cost the monitor its memory or keep it from reporting.
	first, err := monitorFirstVersion(ctx, b, head)
	if err != nil {
		return nil, err
	}
	next := rep.From
	for next < head.N {
		if next-rep.From >= monitorRunCap {
			break
		}
		end := min((next/monitorBatch+1)*monitorBatch, head.N, rep.From+monitorRunCap)
		// A removed revocation is raised with the batch that shows it,
		// before its state is saved: a later batch failing to read must
		// not lose it, nor an entry of this batch failing after it.
		batch := len(rep.Events)
		stop := func(err error) (*MonitorReport, error) {
			if fail.KindOf(err) != fail.Security {
				if alarm := revocationRemoved(rep.Events[batch:]); alarm != nil {
					return rep, alarm
				}
			}
			return rep, err
		}
		entries, err := tlog.ReadEntries(ctx, b, head, next, end)
		if err != nil {
			return rep, err
		}
		for i, raw := range entries {
			idx := next + int64(i)
			e, err := tlog.ParseEntry(raw)
			if err != nil {
				return stop(err)
			}
			if err := checkLogPosition(first, e, idx); err != nil {
				return stop(err)
			}
			m, _, err := monitorManifest(ctx, b, e, sets, t0)
			if err != nil {
				return stop(fail.Hint(err, fmt.Sprintf("log entry %d (manifest version %d) does not verify", idx, e.Version)))
			}
			if err := checkLogOrder(last, lastM, e, m, idx); err != nil {
				return stop(err)
			}
			view, err := loadKeyringView(ctx, b, m, lastView)
			if err != nil {
				return stop(fail.Hint(err, fmt.Sprintf("log entry %d (manifest version %d): its keyrings cannot be checked", idx, e.Version)))
			}
			rep.Events = append(rep.Events, diffManifests(idx, last, lastM, e, m)...)
			at := len(rep.Events)
			rep.Events = append(rep.Events, diffKeyrings(idx, e.Version, lastM, lastView, m, view)...)
			if view != lastView {
				// Revocations seen in any earlier manifest, not only the
				// one before (left out once, bound again without them).
				evs, err := seen.check(idx, e.Version, view, rep.Events[at:])
				rep.Events = append(rep.Events, evs...)
				if err != nil {
					return stop(err)
				}
			}
			last, lastM, lastView = &e, m, view
		}
		next = end
		alarm := revocationRemoved(rep.Events[batch:])
		if err := save(next); err != nil {
			if alarm != nil {
				return rep, alarm
			}
			return nil, err
		}
		if alarm != nil {
			// Saved: the next run does not report these entries again.
			return rep, alarm
		}
	}
	if next < head.N {
		rep.Next = next
		return rep, monitorStopped(rep, statePath != "")
	}
	if err := monitorRequireWitnesses(head, o.WitnessThreshold); err != nil {
		return rep, err
	}
	return rep, nil
}

// checkLogOrder refuses an entry that does not follow the one before it:
// versions go up by one with the previous manifest's hash, or repeat (a
// publish that did not go live, signed again).
func checkLogOrder(last *tlog.Entry, lastM *root.Manifest, e tlog.Entry, m *root.Manifest, idx int64) error {
	broken := func(why string) error {
		return fail.Securityf("log entry %d: %s", idx, why).
			WithHint("the root keys signed manifests that are not one history; see docs/runbook.md, section monitor raised an alarm")
	}
	if last == nil {
		// Entry 0 is version 1, or the version published when the root
		// set first named the log key; the first entry of a run with
		// state has its predecessor loaded.
		return nil
	}
	if lastM != nil && m.Root.Version < lastM.Root.Version {
		// A root set never goes back: a manifest under a rotated-away set
		// is refused by every client that saw the newer set (stale root
		// set), so it can only be trusted by readers the newer root
		// history is hidden from.
		return fail.Securityf("log entry %d: manifest version %d names root set %d, but the manifest logged before it (version %d) names root set %d: the root set went backwards", idx, e.Version, m.Root.Version, last.Version, lastM.Root.Version).
			WithHint("the keys of a rotated-away root set (and the log key) signed and logged it, for readers from whom the newer root sets are hidden (a split view); keep the monitor state and see docs/runbook.md, section monitor raised an alarm")
	}
	if lastM != nil && m.Root.Version == lastM.Root.Version && m.Root.SHA256 != lastM.Root.SHA256 {
		return fail.Securityf("log entry %d: manifest version %d names root set %d sha256 %.12s, the manifest before it sha256 %.12s: two root sets with one version", idx, e.Version, m.Root.Version, m.Root.SHA256, lastM.Root.SHA256).
			WithHint("the root keys signed two root sets at one version (equivocation); keep the monitor state and see docs/runbook.md, section monitor raised an alarm")
	}
	switch {
	case e.Version == last.Version+1:
		if m.Previous != last.SHA256 {
			return broken(fmt.Sprintf("manifest version %d does not follow version %d (previous %.12s, logged %.12s)", e.Version, last.Version, m.Previous, last.SHA256))
		}
	case e.Version == last.Version:
		if lastM != nil && m.Previous != lastM.Previous {
			return broken(fmt.Sprintf("two manifests at version %d follow different predecessors", e.Version))
		}
	default:
		return broken(fmt.Sprintf("manifest version %d follows version %d", e.Version, last.Version))
	}
	return nil
}

// monitorManifest fetches a logged manifest by its hash and verifies it
// under the root set it names (from the checked history), each signature
// judged at the time it was made (an old manifest has expired since, and
// may have been signed offline well after it was issued).
func monitorManifest(ctx context.Context, b *publish.Bucket, e tlog.Entry, sets map[uint64][]byte, now time.Time) (*root.Manifest, []byte, error) {
	data, err := b.Get(ctx, root.ContentPath(e.SHA256), root.MaxManifestSize)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, nil, fail.Untrustedf("the logged manifest version %d (sha256 %s) is not published", e.Version, e.SHA256).
				WithHint("every logged manifest must stay at keyctl/sha256/HASH; see docs/runbook.md, section monitor raised an alarm")
		}
		return nil, nil, err
	}
	if root.Hash(data) != e.SHA256 {
		return nil, nil, fail.Untrustedf("keyctl/sha256/%s does not hash to its name (tamper)", e.SHA256)
	}
	sigs, err := b.Get(ctx, root.ContentPath(e.SHA256)+root.SigSuffix, root.MaxSigSize)
	if err != nil {
		return nil, nil, err
	}
	m, err := root.ParseManifest(data)
	if err != nil {
		return nil, nil, err
	}
	if m.Version != e.Version {
		return nil, nil, fail.Securityf("log entry says version %d, the manifest it names is version %d", e.Version, m.Version)
	}
	sd, ok := sets[m.Root.Version]
	if !ok {
		// A root set past the newest one published (or one not published
		// at all): a client shown this bucket refuses the manifest too, and
		// the host alone can hide root sets, so it is not evidence of a
		// split view by itself.
		return nil, nil, fail.Untrustedf("manifest version %d names root set %d, which this bucket does not publish in the root history the pins lead to (the root history is incomplete)", m.Version, m.Root.Version).
			WithHint("root sets may be hidden or not yet published: retry later or from another mirror",
				"if it persists, the logged manifest names a root set no client can check: tell the repository's team lead; see docs/runbook.md, section monitor raised an alarm")
	}
	if root.Hash(sd) != m.Root.SHA256 {
		return nil, nil, fail.Securityf("manifest version %d names root set %d sha256 %.12s, which is not in the root history the pins lead to", m.Version, m.Root.Version, m.Root.SHA256)
	}
	set, err := root.ParseRootSet(sd)
	if err != nil {
		return nil, nil, err
	}
	if _, err := root.VerifyHistoric(data, sigs, set, now); err != nil {
		return nil, nil, err
	}
	if err := m.CheckRepository(set.Repository); err != nil {
		return nil, nil, err
	}
	return m, data, nil
}

// diffManifests lists what changed from last to m.
func diffManifests(idx int64, last *tlog.Entry, lastM *root.Manifest, e tlog.Entry, m *root.Manifest) []Event {
	var out []Event
	ev := func(x Event) { x.Index, x.Version = idx, e.Version; out = append(out, x) }
	if last != nil && last.Version == e.Version {
		ev(Event{Kind: "version-relogged", Detail: fmt.Sprintf("a second manifest for version %d (the first, sha256 %.12s, did not go live or was shown to some readers only)", e.Version, last.SHA256)})
	}
	if lastM == nil || lastM.Root != m.Root {
		if lastM != nil {
			ev(Event{Kind: "root-rotated", RootVersion: m.Root.Version, Detail: fmt.Sprintf("root set %d -> %d", lastM.Root.Version, m.Root.Version)})
		}
	}
	old := map[string]root.KeyEntry{}
	if lastM != nil {
		for _, k := range lastM.Keys {
			old[k.Fingerprint] = k
		}
	}
	for _, k := range m.Keys {
		o, had := old[k.Fingerprint]
		switch {
		case !had && k.Status == root.Active:
			ev(Event{Kind: "key-added", Fingerprint: k.Fingerprint, Role: string(k.Role.Or()), Scopes: k.Scopes})
		case !had:
			ev(Event{Kind: "key-removed", Fingerprint: k.Fingerprint, Reason: string(k.Reason), Detail: "listed removed on first sight"})
		case o.Status == root.Active && k.Status == root.Removed:
			ev(Event{Kind: "key-removed", Fingerprint: k.Fingerprint, Reason: string(k.Reason), Detail: "effective " + k.Effective.UTC().Format(time.RFC3339)})
		case o.Status == root.Removed && k.Status == root.Active:
			ev(Event{Kind: "key-restored", Fingerprint: k.Fingerprint, Scopes: k.Scopes, Detail: "was removed (" + string(o.Reason) + ")"})
		case o.Status == root.Removed && o.Reason != k.Reason:
			ev(Event{Kind: "reason-changed", Fingerprint: k.Fingerprint, Reason: string(k.Reason), Detail: "was " + string(o.Reason)})
		}
		// The store never changes a key's role: a manifest that does (an
		// index key turned chart signer, or the reverse) is root misuse.
		if had && o.Role.Or() != k.Role.Or() {
			ev(Event{Kind: "role-changed", Fingerprint: k.Fingerprint, Role: string(k.Role.Or()), OldRole: string(o.Role.Or())})
		}
		if had && k.Status == o.Status && !slices.Equal(o.Scopes, k.Scopes) {
			x := Event{Kind: "scope-changed", Fingerprint: k.Fingerprint, Scopes: k.Scopes, OldScopes: o.Scopes}
			if k.Status == root.Removed {
				// A removed key's surviving signatures are judged against
				// its scopes: widening them widens what it still signs.
				x.Detail = "of a removed key (" + string(k.Reason) + "): its signatures made before it left are judged against these scopes"
			}
			ev(x)
		}
		// A removed key's signatures made before its effective time stay
		// trusted: moving it later re-trusts what it signed after it left.
		if had && k.Status == root.Removed && o.Status == root.Removed && !k.Effective.Equal(o.Effective) {
			dir := "earlier"
			if k.Effective.After(o.Effective) {
				dir = "later: signatures the removed key made in between are trusted again"
			}
			ev(Event{Kind: "effective-changed", Fingerprint: k.Fingerprint, Reason: string(k.Reason),
				Effective: fmtTime(k.Effective), OldEffective: fmtTime(o.Effective), Detail: "the time the removal took effect moved " + dir})
		}
		delete(old, k.Fingerprint)
	}
	for _, f := range sortedFprs(old) {
		ev(Event{Kind: "key-dropped", Fingerprint: f, Detail: "no longer listed at all"})
	}
	return out
}

func sortedFprs(m map[string]root.KeyEntry) []string {
	out := make([]string, 0, len(m))
	for f := range m {
		out = append(out, f)
	}
	slices.SortFunc(out, strings.Compare)
	return out
}

package oci

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"strconv"
	"sync"

	"github.com/keyctl/keyctl/internal/fail"
	"github.com/keyctl/keyctl/internal/publish"
)

// The published set's artifact (see the package documentation).
const (
	ArtifactTypeSet = "application/vnd.keyctl.published-set.v1"
	// CurrentTag names the live set.
	CurrentTag = "current"
	// AnnotationVersion on the artifact's manifest is the keyctl manifest
	// version it publishes (unsigned: a hint for the publisher only).
	AnnotationVersion = "dev.keyctl.manifest.version"
	// MaxSetLayers caps the objects of one published set.
	MaxSetLayers = 10000
)

// VersionTag is the immutable tag of manifest version v.
func VersionTag(v uint64) string { return "v" + strconv.FormatUint(v, 10) }

// setManifest is a parsed published-set artifact.
type setManifest struct {
	layers  map[string]Descriptor // title → layer
	order   []string
	version uint64
}

// ParseSetManifest reads a published set's image manifest: the artifact
// type, and one layer per object named by its title annotation, each name
// valid and unique. Content is read later, by digest.
func parseSetManifest(data []byte) (*setManifest, error) {
	if len(data) > MaxManifestSize {
		return nil, fail.Inputf("the published set's OCI manifest is larger than %d bytes", MaxManifestSize)
	}
	var m Manifest
	if err := json.Unmarshal(data, &m); err != nil {
		return nil, fail.Inputf("the published set's OCI manifest is not valid JSON: %s", shortErr(err))
	}
	if m.SchemaVersion != 2 || (m.MediaType != "" && m.MediaType != MediaTypeImageManifest) {
		return nil, fail.Inputf("the published set's OCI manifest is not an OCI image manifest (schemaVersion 2)")
	}
	if m.ArtifactType != ArtifactTypeSet {
		return nil, fail.Inputf("the OCI artifact has type %q, not a keyctl published set (%s)", trunc(m.ArtifactType), ArtifactTypeSet)
	}
	if len(m.Layers) > MaxSetLayers {
		return nil, fail.Inputf("the published set has %d objects, more than %d", len(m.Layers), MaxSetLayers)
	}
	s := &setManifest{layers: map[string]Descriptor{}}
	for _, l := range m.Layers {
		if err := checkDescriptor(l); err != nil {
			return nil, err
		}
		name := l.Annotations[AnnotationTitle]
		if err := publish.CheckName(name); err != nil {
			return nil, fail.Hint(err, "in the published set's OCI manifest")
		}
		if _, dup := s.layers[name]; dup {
			return nil, fail.Inputf("the published set names object %q twice", trunc(name))
		}
		s.layers[name] = l
		s.order = append(s.order, name)
	}
	if v := m.Annotations[AnnotationVersion]; v != "" {
		s.version, _ = strconv.ParseUint(v, 10, 64)
	}
	return s, nil
}

// Set is a namespace's published set in the registry, as a
// publish.Remote. Reads see one artifact: the one `current` named at the
// first read (a snapshot), so that a publish racing the reader cannot mix
// two sets.
type Set struct {
	c          *Client
	host, path string
	display    string
	Log        func(format string, args ...any)

	// hook, set by tests, runs before step "3" (the version tag) and step
	// "4" (the re-read of `current`): another publisher may act there.
	hook func(step string)

	mu     sync.Mutex
	loaded bool
	snap   *setManifest // nil: no set published
}

// OpenSet opens the published set of namespace oci://HOST/PATH (stored in
// the repository HOST/PATH/keyctl) as a publish.Bucket.
func (c *Client) OpenSet(namespace string) (*publish.Bucket, error) {
	s, err := c.Set(namespace)
	if err != nil {
		return nil, err
	}
	return publish.OpenRemote(s), nil
}

// Set opens the published set of namespace oci://HOST/PATH.
func (c *Client) Set(namespace string) (*Set, error) {
	host, path, err := ParseNamespace(namespace)
	if err != nil {
		return nil, err
	}
	return &Set{c: c, host: host, path: path, display: Scheme + host + "/" + path}, nil
}

func (s *Set) repoName() string { return join(s.path, SetRepository) }

func (s *Set) logf(format string, args ...any) {
	if s.Log != nil {
		s.Log(format, args...)
	}
}

// Location is oci://HOST/PATH.
func (s *Set) Location() string {
	if s.path == "" {
		return Scheme + s.host
	}
	return s.display
}

// Close releases nothing: a Set holds no connection of its own.
func (s *Set) Close() error { return nil }

// readTag resolves tag and reads the set it names; nil, nil, nil when the
// tag does not exist.
func (s *Set) readTag(ctx context.Context, r *repository, tag string) (*Descriptor, *setManifest, error) {
	desc, data, err := r.fetchManifest(ctx, tag)
	if err != nil {
		if isNotFound(err) {
			return nil, nil, nil
		}
		return nil, nil, s.c.wrap(err, s.host, "read "+s.Location()+"'s published set ("+Scheme+s.host+"/"+s.repoName()+":"+tag+")")
	}
	m, err := parseSetManifest(data)
	if err != nil {
		return nil, nil, fail.Hint(err, Scheme+s.host+"/"+s.repoName()+":"+tag+" is not what keyctl publish writes")
	}
	return &desc, m, nil
}

func (s *Set) load(ctx context.Context) (*setManifest, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.loaded {
		return s.snap, nil
	}
	r, err := s.c.repository(s.host, s.repoName())
	if err != nil {
		return nil, err
	}
	_, m, err := s.readTag(ctx, r, CurrentTag)
	if err != nil {
		return nil, err
	}
	s.loaded, s.snap = true, m
	return m, nil
}

// Get returns object name of the current set.
func (s *Set) Get(ctx context.Context, name string, limit int64) ([]byte, error) {
	m, err := s.load(ctx)
	if err != nil {
		return nil, err
	}
	if m == nil {
		return nil, publish.NotFound(name, s.Location())
	}
	d, ok := m.layers[name]
	if !ok {
		return nil, publish.NotFound(name, s.Location())
	}
	if d.Size > limit {
		return nil, publish.TooLarge(name, s.Location(), limit)
	}
	return s.c.fetch(ctx, s.host, s.repoName(), d, limit, s.Location()+" object "+name)
}

// Exists reports whether the current set holds object name.
func (s *Set) Exists(ctx context.Context, name string) (bool, error) {
	m, err := s.load(ctx)
	if err != nil || m == nil {
		return false, err
	}
	_, ok := m.layers[name]
	return ok, nil
}

// Publish writes plan p as a new artifact and moves `current` to it (see
// the package documentation, "Publishing").
func (s *Set) Publish(ctx context.Context, p publish.Plan) error {
	if err := publish.CheckPlan(p); err != nil {
		return err
	}
	r, err := s.c.repository(s.host, s.repoName())
	if err != nil {
		return err
	}
	// 1. What is live now?
	d0, m0, err := s.readTag(ctx, r, CurrentTag)
	if err != nil {
		return err
	}
	var cur []byte
	if m0 != nil {
		if d, ok := m0.layers[p.Pointer.Name]; ok {
			if cur, err = s.c.fetch(ctx, s.host, s.repoName(), d, publish.MaxPointerSize, p.Pointer.Name); err != nil {
				return err
			}
		}
	}
	var liveSum []byte
	if cur != nil {
		h := sha256.Sum256(cur)
		liveSum = h[:]
	}
	switch {
	case cur == nil && p.ExpectPrevious == nil, cur != nil && bytes.Equal(liveSum, p.ExpectPrevious):
	case cur != nil && bytes.Equal(cur, p.Pointer.Data):
		s.logf("%s already holds this publish", s.Location())
		return nil // one artifact: what is live is complete
	default:
		return publish.Conflict(&publish.ConflictError{Location: s.Location(), Pointer: p.Pointer.Name,
			Expected: p.ExpectPrevious, LiveSHA256: liveSum, Live: cur})
	}

	// 2. The new artifact: the content-addressed objects of the live set,
	// then this plan's objects; every blob pushed before the manifest.
	mutable := map[string]bool{p.Pointer.Name: true}
	for _, g := range [][]publish.Object{p.Files, p.After} {
		for _, o := range g {
			mutable[o.Name] = true
		}
	}
	var layers []Descriptor
	have := map[string]bool{}
	if m0 != nil {
		for _, n := range m0.order {
			if mutable[n] {
				continue
			}
			layers = append(layers, m0.layers[n])
			have[n] = true
		}
	}
	push := func(o publish.Object) error {
		mt := o.ContentType
		if mt == "" {
			mt = "application/octet-stream"
		}
		d := DescriptorFor(mt, o.Data)
		d.Annotations = map[string]string{AnnotationTitle: o.Name}
		if have[o.Name] {
			for _, l := range layers {
				if l.Annotations[AnnotationTitle] == o.Name && l.Digest != d.Digest {
					return fail.Securityf("content-addressed object %s at %s already exists with different content", o.Name, s.Location()).
						WithHint("content-addressed objects never change: something else altered the published set; inspect " + Scheme + s.host + "/" + s.repoName() + ":" + CurrentTag + " and publish again")
				}
			}
			return nil
		}
		if err := s.pushBlob(ctx, r, d, o.Data); err != nil {
			return err
		}
		layers = append(layers, d)
		have[o.Name] = true
		return nil
	}
	for _, o := range p.Blobs {
		if err := push(o); err != nil {
			return err
		}
	}
	for _, g := range [][]publish.Object{{p.Pointer}, p.Files, p.After} {
		for _, o := range g {
			if err := push(o); err != nil {
				return err
			}
		}
	}
	if len(layers) > MaxSetLayers {
		return fail.Inputf("the published set would hold %d objects, more than the %d a reader accepts", len(layers), MaxSetLayers)
	}
	empty := emptyJSON()
	if err := s.pushBlob(ctx, r, empty, empty.Data); err != nil {
		return err
	}
	man := Manifest{
		SchemaVersion: 2,
		MediaType:     MediaTypeImageManifest,
		ArtifactType:  ArtifactTypeSet,
		Config:        empty,
		Layers:        layers,
	}
	if p.Version > 0 {
		man.Annotations = map[string]string{AnnotationVersion: strconv.FormatUint(p.Version, 10)}
	}
	mdata, err := json.Marshal(man)
	if err != nil {
		return err
	}
	if len(mdata) > MaxManifestSize {
		return fail.Inputf("the published set's OCI manifest would be %d bytes, more than the %d a registry accepts", len(mdata), MaxManifestSize)
	}
	desc := DescriptorFor(MediaTypeImageManifest, mdata)
	if err := r.pushManifest(ctx, desc.Digest, desc.MediaType, mdata); err != nil {
		return s.c.wrap(err, s.host, "push the published set's manifest to "+s.Location())
	}
	s.logf("pushed the published set %s (%d objects)", desc.Digest, len(layers))

	// 3. The version tag, immutable once it went live.
	if s.hook != nil {
		s.hook("3")
	}
	if p.Version > 0 {
		if err := s.tagVersion(ctx, r, desc, mdata, p); err != nil {
			return err
		}
	}

	// 4. `current`, read before and after: a registry has no conditional
	// tag update, so this narrows the race to the time between the reads.
	if s.hook != nil {
		s.hook("4")
	}
	d1, _, err := s.readTag(ctx, r, CurrentTag)
	if err != nil {
		return err
	}
	if !sameDesc(d0, d1) {
		return s.moved(ctx, r, p)
	}
	if err := r.tag(ctx, desc, mdata, CurrentTag); err != nil {
		return s.c.wrap(err, s.host, "tag "+CurrentTag+" at "+s.Location())
	}
	d2, _, err := s.readTag(ctx, r, CurrentTag)
	if err != nil {
		return &publish.LiveError{Err: err}
	}
	if d2 == nil || d2.Digest != desc.Digest {
		return fail.Inputf("%s's %s tag was moved by another publish while this one tagged it: the other publish is live, this one is not", s.Location(), CurrentTag).
			WithHint("two publishers wrote at once; run keyctl publish again to rebuild on top of what is live (docs/manifest.md, OCI registries)")
	}
	if p.Version > 0 {
		// The winner of a race owns the version tag too.
		if err := s.tagVersion(ctx, r, desc, mdata, p); err != nil {
			return &publish.LiveError{Err: err}
		}
	}
	s.mu.Lock()
	s.loaded = false
	s.mu.Unlock()
	return nil
}

// moved reports a conflict: `current` changed since step 1.
func (s *Set) moved(ctx context.Context, r *repository, p publish.Plan) error {
	var live []byte
	var sum []byte
	if _, m, err := s.readTag(ctx, r, CurrentTag); err == nil && m != nil {
		if d, ok := m.layers[p.Pointer.Name]; ok {
			if live, err = s.c.fetch(ctx, s.host, s.repoName(), d, publish.MaxPointerSize, p.Pointer.Name); err == nil {
				h := sha256.Sum256(live)
				sum = h[:]
			}
		}
	}
	return publish.Conflict(&publish.ConflictError{Location: s.Location(), Pointer: p.Pointer.Name,
		Expected: p.ExpectPrevious, LiveSHA256: sum, Live: live})
}

// tagVersion points VersionTag(p.Version) at desc. A version tag that
// already names another artifact is left alone when that version went live
// (the set `current` names now is at that version or later: a conflict,
// versions never change); one that never went live (a publish that failed
// before moving `current`) is replaced.
func (s *Set) tagVersion(ctx context.Context, r *repository, desc Descriptor, mdata []byte, p publish.Plan) error {
	tag := VersionTag(p.Version)
	dv, _, err := s.readTag(ctx, r, tag)
	if err != nil {
		return err
	}
	if dv != nil && dv.Digest == desc.Digest {
		return nil
	}
	if dv != nil {
		dc, live, err := s.readTag(ctx, r, CurrentTag)
		if err != nil {
			return err
		}
		switch {
		case dc != nil && dc.Digest == desc.Digest:
			// This artifact is live: the tag must name it.
		case dc != nil && (dc.Digest == dv.Digest || (live != nil && live.version >= p.Version)):
			return s.moved(ctx, r, p)
		}
		s.logf("replacing tag %s, left by a publish that never went live", tag)
	}
	if err := r.tag(ctx, desc, mdata, tag); err != nil {
		return s.c.wrap(err, s.host, "tag "+tag+" at "+s.Location())
	}
	return nil
}

func (s *Set) pushBlob(ctx context.Context, r *repository, d Descriptor, data []byte) error {
	ok, err := r.blobExists(ctx, d.Digest)
	if err != nil {
		return s.c.wrap(err, s.host, "check a blob at "+s.Location())
	}
	if ok {
		return nil
	}
	if err := r.pushBlob(ctx, d, data); err != nil {
		return s.c.wrap(err, s.host, fmt.Sprintf("upload %s to %s", d.Annotations[AnnotationTitle], s.Location()))
	}
	s.logf("uploaded %s (%d bytes)", d.Annotations[AnnotationTitle], len(data))
	return nil
}

func sameDesc(a, b *Descriptor) bool {
	if a == nil || b == nil {
		return a == nil && b == nil
	}
	return a.Digest == b.Digest
}

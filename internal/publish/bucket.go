package publish

import (
	"bytes"
	"context"
	"crypto/md5"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/url"
	"os"
	"path"
	"strconv"
	"strings"
	"sync"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/feature/s3/transfermanager"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	s3types "github.com/aws/aws-sdk-go-v2/service/s3/types"
	gcaws "gocloud.dev/aws"
	"gocloud.dev/blob"
	"gocloud.dev/blob/fileblob"
	"gocloud.dev/blob/s3blob"
	"gocloud.dev/gcerrors"
	"gocloud.dev/gcp"

	// mem:// (gs:// and s3:// are opened explicitly, see openBlob).
	_ "gocloud.dev/blob/memblob"

	"github.com/keyctl/keyctl/internal/fail"
)

// Bucket is an opened location.
type Bucket struct {
	loc  location
	opts Options

	mu sync.Mutex   // guards b for a directory opened before it existed
	b  *blob.Bucket // nil for http(s), and for a directory that does not exist yet

	remote Remote // set by OpenRemote: every operation goes to it

	// noConditional is set once an s3:// service answered a conditional
	// write with 501 Not Implemented: later publishes through this Bucket
	// take the lock from the start.
	noConditional bool

	// hookBeforePointer, set by tests in this package, runs between steps
	// 2 and 3 of Publish.
	hookBeforePointer func(context.Context) error
}

// version identifies one state of an object for a conditional write: the
// generation on GCS, the ETag on S3. The zero value means "unknown".
type version struct {
	gen  int64
	etag string
}

// Open opens location for reading (Get, Exists) and, except for http(s),
// for Publish. opts may be nil.
//
// Accepted: a directory path, relative or absolute (created by the first
// Publish if missing); file:///abs/dir; gs://bucket/prefix;
// s3://bucket/prefix?region=REGION (and the other query parameters of
// gocloud.dev/blob/s3blob); mem:// (process-local and empty at each Open:
// for tests); http(s)://host/path (read-only). A prefix after the bucket
// name is honoured: object "a.pgp" of gs://b/charts is charts/a.pgp.
//
// gs:// uses Application Default Credentials, or no credentials at all when
// STORAGE_EMULATOR_HOST names an emulator.
func Open(ctx context.Context, location string, opts *Options) (*Bucket, error) {
	loc, err := parseLocation(location)
	if err != nil {
		return nil, err
	}
	var o Options
	if opts != nil {
		o = *opts
	}
	b := &Bucket{loc: loc, opts: o.withDefaults()}
	switch loc.kind {
	case kindHTTP:
		return b, nil
	case kindDir:
		fi, err := os.Stat(loc.dir)
		switch {
		case errors.Is(err, fs.ErrNotExist):
			return b, nil // created by Publish; reads find nothing
		case err != nil:
			return nil, fail.Inputf("open %s", loc.display).Wrap(err)
		case !fi.IsDir():
			return nil, fail.Inputf("%s is not a directory", loc.display).WithHint(acceptedHint)
		}
		if err := b.openDir(); err != nil {
			return nil, err
		}
		return b, nil
	}
	bb, err := openBlob(ctx, loc)
	if err != nil {
		return nil, fail.Inputf("open %s", loc.display).Wrap(err).WithHint(credentialsHint(loc))
	}
	if loc.prefix != "" {
		bb = blob.PrefixedBucket(bb, loc.prefix)
	}
	b.b = bb
	return b, nil
}

// openBlob opens a bucket URL. gs:// goes through keyctl's own driver
// (gcs.go); a missing credential is an error at Open, not a 401 later.
func openBlob(ctx context.Context, loc location) (*blob.Bucket, error) {
	if loc.kind == kindS3 {
		return openS3(ctx, loc)
	}
	if loc.kind != kindGCS {
		return blob.OpenBucket(ctx, loc.url)
	}
	u, err := url.Parse(loc.url)
	if err != nil {
		return nil, err
	}
	q := u.Query()
	anonymous := os.Getenv("STORAGE_EMULATOR_HOST") != "" || q.Get("anonymous") == "true" || q.Get("access_id") == "-"
	q.Del("anonymous")
	q.Del("access_id")
	for k := range q {
		return nil, fmt.Errorf("gs:// takes ?anonymous=true and no other query parameter (got %q)", k)
	}
	// No retries in the transport: one retry policy, in one place, ours
	// (see retry.go).
	if anonymous {
		// The emulator needs no credentials; public buckets can be read
		// anonymously.
		return openGCS(u.Host, &gcp.NewAnonymousHTTPClient(gcp.DefaultTransport()).Client), nil
	}
	creds, err := gcp.DefaultCredentials(ctx)
	if err != nil {
		return nil, fmt.Errorf("no Google Cloud credentials: %w", err)
	}
	client, err := gcp.NewHTTPClient(gcp.DefaultTransport(), creds.TokenSource)
	if err != nil {
		return nil, err
	}
	return openGCS(u.Host, &client.Client), nil
}

// openS3 opens an s3:// bucket like s3blob's URL opener does (the same
// query parameters), but with the AWS SDK's own retries turned off: one
// retry policy, in one place, ours (see retry.go), as for gs://.
func openS3(ctx context.Context, loc location) (*blob.Bucket, error) {
	u, err := url.Parse(loc.url)
	if err != nil {
		return nil, err
	}
	q := u.Query()
	var bo s3blob.Options
	var s3opts []func(*s3.Options)
	boolParam := func(key string) (bool, bool, error) {
		v := q.Get(key)
		if v == "" {
			return false, false, nil
		}
		q.Del(key)
		b, err := strconv.ParseBool(v)
		if err != nil {
			return false, false, fmt.Errorf("invalid value for %q: %w", key, err)
		}
		return b, true, nil
	}
	if v := q.Get("ssetype"); v != "" {
		q.Del("ssetype")
		bo.EncryptionType = s3types.ServerSideEncryption(v)
	}
	if v := q.Get("kmskeyid"); v != "" {
		q.Del("kmskeyid")
		bo.KMSEncryptionID = v
	}
	if v, ok, err := boolParam("accelerate"); err != nil {
		return nil, err
	} else if ok {
		s3opts = append(s3opts, func(o *s3.Options) { o.UseAccelerate = v })
	}
	if v, ok, err := boolParam("disable_https"); err != nil {
		return nil, err
	} else if ok {
		s3opts = append(s3opts, func(o *s3.Options) { o.EndpointOptions.DisableHTTPS = v })
	}
	for _, key := range []string{"use_path_style", "s3ForcePathStyle"} {
		if v, ok, err := boolParam(key); err != nil {
			return nil, err
		} else if ok {
			s3opts = append(s3opts, func(o *s3.Options) { o.UsePathStyle = v })
		}
	}
	cfg, err := gcaws.V2ConfigFromURLParams(ctx, q)
	if err != nil {
		return nil, err
	}
	cfg.Retryer = func() aws.Retryer { return aws.NopRetryer{} }
	bo.RequestChecksumCalculation = cfg.RequestChecksumCalculation
	return s3blob.OpenBucket(ctx, s3.NewFromConfig(cfg, s3opts...), u.Host, &bo)
}

func credentialsHint(loc location) string {
	switch loc.kind {
	case kindGCS:
		return "gs:// uses Application Default Credentials (gcloud auth application-default login, or GOOGLE_APPLICATION_CREDENTIALS); set STORAGE_EMULATOR_HOST for an emulator"
	case kindS3:
		return "s3:// uses the AWS SDK's usual configuration (AWS_PROFILE, AWS_REGION or ?region=, credentials files)"
	}
	return acceptedHint
}

// openDir opens the directory bucket. Sidecar .attrs files are not written:
// the directory is meant to be served as it is, next to index.yaml, where
// they would be published as junk objects; a web server picks content types
// from extensions anyway. Temporary files go next to their final path so
// that the final rename never crosses file systems.
func (b *Bucket) openDir() error {
	bb, err := fileblob.OpenBucket(b.loc.dir, &fileblob.Options{
		NoTempDir: true,
		Metadata:  fileblob.MetadataDontWrite,
	})
	if err != nil {
		return fail.Inputf("open %s", b.loc.display).Wrap(err)
	}
	b.b = bb
	return nil
}

// bucket returns the blob bucket, nil for a directory that does not exist.
func (b *Bucket) bucket() *blob.Bucket {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b
}

// bucketForWrite returns the blob bucket, creating a missing directory.
func (b *Bucket) bucketForWrite() (*blob.Bucket, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.b != nil {
		return b.b, nil
	}
	if b.loc.kind != kindDir {
		return nil, fail.Inputf("%s is read-only", b.loc.display).
			WithHint("publish to a directory, file://, gs:// or s3:// location and serve it over HTTP")
	}
	if err := os.MkdirAll(b.loc.dir, 0o755); err != nil {
		return nil, fail.Inputf("create %s", b.loc.display).Wrap(err)
	}
	if err := b.openDir(); err != nil {
		return nil, err
	}
	return b.b, nil
}

// Location is the location as messages show it.
func (b *Bucket) Location() string {
	if b.remote != nil {
		return b.remote.Location()
	}
	return b.loc.display
}

// Remote is a location that is not a blob bucket: an OCI registry
// repository (internal/oci). It keeps the same contract as Bucket: Get and
// Exists as documented on Bucket, and Publish with the guarantees its own
// package documents for the plan's order and preconditions.
type Remote interface {
	Get(ctx context.Context, name string, limit int64) ([]byte, error)
	Exists(ctx context.Context, name string) (bool, error)
	Publish(ctx context.Context, p Plan) error
	Location() string
	Close() error
}

// OpenRemote wraps r as a Bucket, so that what reads and publishes a
// Bucket (internal/client, internal/release) works on it unchanged.
func OpenRemote(r Remote) *Bucket { return &Bucket{remote: r} }

// CheckPlan checks a plan as Publish does before it writes anything: for
// Remote implementations.
func CheckPlan(p Plan) error { return p.check() }

// Close releases the bucket.
func (b *Bucket) Close() error {
	if b.remote != nil {
		return b.remote.Close()
	}
	if bb := b.bucket(); bb != nil {
		return bb.Close()
	}
	return nil
}

// Get returns the content of object name, at most limit bytes. A missing
// object is a *NotFoundError (errors.Is(err, fs.ErrNotExist)); a larger one
// a *TooLargeError; both wrapped in a *fail.Error.
func (b *Bucket) Get(ctx context.Context, name string, limit int64) ([]byte, error) {
	if err := checkName(name); err != nil {
		return nil, err
	}
	if limit <= 0 {
		return nil, fail.Inputf("get %s: size limit %d is not positive", name, limit)
	}
	if b.remote != nil {
		return b.remote.Get(ctx, name, limit)
	}
	if b.loc.kind == kindHTTP {
		return b.httpGet(ctx, name, limit)
	}
	data, _, err := b.readRetry(ctx, name, limit)
	return data, err
}

// Exists reports whether object name exists.
func (b *Bucket) Exists(ctx context.Context, name string) (bool, error) {
	if err := checkName(name); err != nil {
		return false, err
	}
	if b.remote != nil {
		return b.remote.Exists(ctx, name)
	}
	if b.loc.kind == kindHTTP {
		return b.httpExists(ctx, name)
	}
	bb := b.bucket()
	if bb == nil {
		return false, nil
	}
	var ok bool
	err := b.retry(ctx, "check "+name, func(ctx context.Context) error {
		var err error
		ok, err = bb.Exists(ctx, name)
		return err
	})
	if err != nil {
		return false, b.opError("check", name, err)
	}
	return ok, nil
}

// readRetry reads name with retries. It returns the content and the
// object's version (GCS generation, S3 ETag).
func (b *Bucket) readRetry(ctx context.Context, name string, limit int64) ([]byte, version, error) {
	bb := b.bucket()
	if bb == nil {
		return nil, version{}, notFound(name, b.loc.display)
	}
	var data []byte
	var ver version
	err := b.retry(ctx, "read "+name, func(ctx context.Context) error {
		var err error
		data, ver, err = b.readOnce(ctx, bb, name, limit)
		return err
	})
	if err != nil {
		return nil, version{}, b.opError("read", name, err)
	}
	return data, ver, nil
}

func (b *Bucket) readOnce(ctx context.Context, bb *blob.Bucket, name string, limit int64) ([]byte, version, error) {
	r, err := bb.NewReader(ctx, name, nil)
	if err != nil {
		if gcerrors.Code(err) == gcerrors.NotFound {
			return nil, version{}, &NotFoundError{Name: name, Location: b.loc.display}
		}
		return nil, version{}, err
	}
	defer r.Close()
	if r.Size() > limit {
		return nil, version{}, &TooLargeError{Name: name, Location: b.loc.display, Limit: limit}
	}
	var ver version
	var gi gcsInfo
	var so s3.GetObjectOutput
	switch {
	case r.As(&gi):
		ver.gen = gi.Generation
	case r.As(&so):
		ver.etag = aws.ToString(so.ETag)
	}
	// Read into a buffer of the announced size: io.ReadAll would grow
	// its slice a dozen times for a 1,000-key keyring or manifest, which
	// was a tenth of keyctl verify's CPU (docs/performance.md).
	var buf bytes.Buffer
	buf.Grow(int(min(max(r.Size(), 0), limit)) + bytes.MinRead)
	if _, err := buf.ReadFrom(io.LimitReader(r, limit+1)); err != nil {
		return nil, version{}, err
	}
	data := buf.Bytes()
	if int64(len(data)) > limit {
		return nil, version{}, &TooLargeError{Name: name, Location: b.loc.display, Limit: limit}
	}
	return data, ver, nil
}

// opError turns a final error of a bucket operation into a *fail.Error that
// names the object and the location.
func (b *Bucket) opError(verb, name string, err error) error {
	var fe *fail.Error
	var nf *NotFoundError
	var tl *TooLargeError
	switch {
	case errors.As(err, &fe):
		return err
	case errors.As(err, &nf):
		return notFound(nf.Name, nf.Location)
	case errors.As(err, &tl):
		return tooLarge(tl.Name, tl.Location, tl.Limit)
	}
	e := fail.Inputf("%s %s at %s", verb, name, b.loc.display).Wrap(err)
	if _, ok := AsRedirectError(err); ok {
		e.WithHint("keyctl follows a redirect only on the repository's own scheme and host (docs/verify.md); use the URL the repository really serves from")
	}
	if gcerrors.Code(err) == gcerrors.PermissionDenied {
		e.WithHint("check that your credentials may " + verb + " objects in " + b.loc.display)
		if b.loc.kind == kindGCS || b.loc.kind == kindS3 {
			e.WithHint(credentialsHint(b.loc))
		}
	}
	return e
}

// Cache-Control values. Content-addressed objects never change, so caches
// may keep them for a year. The pointer and the mutable convenience copies
// are "no-cache": a cache may store them but must revalidate (cheaply, with
// the ETag) before each use. A max-age would let clients and CDNs serve a
// stale pointer for that long after a publish — including after a publish
// that removed a compromised key — and GCS's default for public objects is
// an hour.
const (
	cacheImmutable = "public, max-age=31536000, immutable"
	cacheMutable   = "no-cache"
)

// contentType picks a type from the name's extension.
func contentType(name string) string {
	switch path.Ext(strings.ToLower(name)) {
	case ".pgp", ".gpg":
		return "application/pgp-keys"
	case ".sig", ".asc":
		return "application/pgp-signature"
	case ".json":
		return "application/json"
	case ".yaml", ".yml":
		return "application/yaml"
	}
	return "application/octet-stream"
}

// writeMode says which precondition a write carries.
type writeMode int

const (
	overwrite      writeMode = iota // no precondition
	ifNotExist                      // the object must not exist
	ifVersionMatch                  // GCS, S3: the object must be at ver (zero: must not exist)
)

// writeOnce writes obj once. For ifVersionMatch on GCS it returns the new
// generation.
func (b *Bucket) writeOnce(ctx context.Context, bb *blob.Bucket, obj Object, cacheControl string, mode writeMode, ver version) (version, error) {
	ct := obj.ContentType
	if ct == "" {
		ct = contentType(obj.Name)
	}
	cc := obj.CacheControl
	if cc == "" {
		cc = cacheControl
	}
	sum := md5.Sum(obj.Data) // integrity in transit; GCS and S3 check it
	var gw *gcsWrite
	wo := &blob.WriterOptions{
		ContentType:  ct,
		CacheControl: cc,
		ContentMD5:   sum[:],
		IfNotExist:   mode == ifNotExist || (mode == ifVersionMatch && b.loc.kind == kindS3 && ver.etag == ""),
		BeforeWrite: func(as func(any) bool) error {
			if as(&gw) && mode == ifVersionMatch {
				g := ver.gen // 0: must not exist
				gw.IfGenerationMatch = &g
			}
			var in *transfermanager.UploadObjectInput
			if as(&in) && mode == ifVersionMatch && ver.etag != "" {
				// S3 conditional writes: If-None-Match: * (IfNotExist
				// above) when there is no pointer yet, If-Match with the
				// ETag read in step 1 when there is one.
				in.IfMatch = aws.String(ver.etag)
			}
			return nil
		},
	}
	if mode == ifVersionMatch && b.loc.kind != kindGCS && b.loc.kind != kindS3 {
		return version{}, fmt.Errorf("internal error: version precondition on %s", b.loc.display)
	}
	if err := bb.WriteAll(ctx, obj.Name, obj.Data, wo); err != nil {
		return version{}, err
	}
	if gw != nil {
		return version{gen: gw.Generation}, nil
	}
	return version{}, nil
}

// sameContent reports whether name currently holds exactly data.
func (b *Bucket) sameContent(ctx context.Context, name string, data []byte) (bool, []byte, error) {
	cur, _, err := b.readRetry(ctx, name, int64(len(data))+1)
	var tl *TooLargeError
	switch {
	case errors.As(err, &tl):
		return false, nil, nil
	case err != nil:
		return false, nil, err
	}
	return bytes.Equal(cur, data), cur, nil
}

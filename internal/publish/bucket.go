package publish

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"net/http"
	"net/url"
	"os"
	"path"
	"strings"
	"sync"

	"golang.org/x/oauth2"
	"golang.org/x/oauth2/google"

	"github.com/keyctl/keyctl/internal/fail"
)

// Bucket is an opened location.
type Bucket struct {
	loc  location
	opts Options

	mu  sync.Mutex // guards drv for a directory opened before it existed
	drv driver     // nil for http(s), and for a directory that does not exist yet

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
// s3://bucket/prefix?region=REGION (see s3.ConfigFromURL for the other
// query parameters: endpoint, profile, anonymous, use_path_style, ssetype,
// kmskeyid...); mem:// (process-local and empty at each Open: for tests);
// http(s)://host/path (read-only). A prefix after the bucket name is
// honoured: object "a.pgp" of gs://b/charts is charts/a.pgp.
//
// gs:// uses Application Default Credentials, or no credentials at all when
// STORAGE_EMULATOR_HOST names an emulator or the URL says ?anonymous=true.
// s3:// uses keyctl's own S3 client and the usual AWS credential chain
// (environment, web identity, shared files, container, EC2 metadata; see
// docs/manifest.md).
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
		b.openDir()
		return b, nil
	}
	d, err := openDriver(ctx, loc)
	if err != nil {
		return nil, fail.Inputf("open %s", loc.display).Wrap(err).WithHint(credentialsHint(loc))
	}
	if loc.prefix != "" {
		d = prefixed{driver: d, prefix: loc.prefix}
	}
	b.drv = d
	return b, nil
}

// openDriver opens a bucket URL: gs://, s3:// or mem://. A missing
// credential is an error here, not a 401 later.
func openDriver(ctx context.Context, loc location) (driver, error) {
	switch loc.kind {
	case kindS3:
		return openS3(ctx, loc)
	case kindMem:
		return newMemDriver(), nil
	case kindGCS:
	default:
		return nil, fmt.Errorf("internal error: no driver for %s", loc.display)
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
		return openGCS(u.Host, &http.Client{Transport: poolTransport()}), nil
	}
	creds, err := google.FindDefaultCredentials(ctx, "https://www.googleapis.com/auth/cloud-platform")
	if err != nil {
		return nil, fmt.Errorf("no Google Cloud credentials: %w", err)
	}
	return openGCS(u.Host, &http.Client{Transport: &oauth2.Transport{
		Source: oauth2.ReuseTokenSource(nil, creds.TokenSource), Base: poolTransport()}}), nil
}

// poolTransport is the gs:// and s3:// drivers' transport: net/http's
// default, keeping as many idle connections per host as an audit fetches
// at once. net/http keeps 2, so with 16 fetches in flight most
// connections were closed after one object and opened again for the next
// (the audit of gs:// through the emulator spent about a fifth of its time
// on that).
func poolTransport() *http.Transport {
	t := http.DefaultTransport.(*http.Transport).Clone()
	t.MaxIdleConnsPerHost = 64
	t.MaxIdleConns = 128
	return t
}

func credentialsHint(loc location) string {
	switch loc.kind {
	case kindGCS:
		return "gs:// uses Application Default Credentials (gcloud auth application-default login, or GOOGLE_APPLICATION_CREDENTIALS); set STORAGE_EMULATOR_HOST for an emulator"
	case kindS3:
		return "s3:// needs a region (?region=, AWS_REGION or the profile's region) and takes credentials from, in order: ?profile=, AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, AWS_WEB_IDENTITY_TOKEN_FILE with AWS_ROLE_ARN, the AWS_PROFILE (or default) profile of ~/.aws/credentials and ~/.aws/config (keys, web identity or credential_process), container credentials, EC2 instance metadata (IMDSv2); ?anonymous=true sends unsigned requests (docs/manifest.md, s3://)"
	}
	return acceptedHint
}

// openDir opens the directory bucket (see dirDriver).
func (b *Bucket) openDir() {
	b.drv = &dirDriver{dir: b.loc.dir}
}

// driverNow returns the bucket's driver, nil for a directory that does not
// exist.
func (b *Bucket) driverNow() driver {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.drv
}

// driverForWrite returns the bucket's driver, creating a missing directory.
func (b *Bucket) driverForWrite() (driver, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.drv != nil {
		return b.drv, nil
	}
	if b.loc.kind != kindDir {
		return nil, fail.Inputf("%s is read-only", b.loc.display).
			WithHint("publish to a directory, file://, gs:// or s3:// location and serve it over HTTP")
	}
	if err := os.MkdirAll(b.loc.dir, 0o755); err != nil {
		return nil, fail.Inputf("create %s", b.loc.display).Wrap(err)
	}
	b.openDir()
	return b.drv, nil
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
	if d := b.driverNow(); d != nil {
		return d.Close()
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
	d := b.driverNow()
	if d == nil {
		return false, nil
	}
	var ok bool
	err := b.retry(ctx, "check "+name, func(ctx context.Context) error {
		_, err := d.Attributes(ctx, name)
		switch {
		case err == nil:
			ok = true
		case errorCode(err) == codeNotFound:
			ok, err = false, nil
		}
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
	d := b.driverNow()
	if d == nil {
		return nil, version{}, notFound(name, b.loc.display)
	}
	var data []byte
	var ver version
	err := b.retry(ctx, "read "+name, func(ctx context.Context) error {
		var err error
		data, ver, err = b.readOnce(ctx, d, name, limit)
		return err
	})
	if err != nil {
		return nil, version{}, b.opError("read", name, err)
	}
	return data, ver, nil
}

func (b *Bucket) readOnce(ctx context.Context, d driver, name string, limit int64) ([]byte, version, error) {
	data, ver, err := d.Read(ctx, name, limit)
	switch {
	case err == nil:
		return data, ver, nil
	case errorCode(err) == codeNotFound:
		return nil, version{}, &NotFoundError{Name: name, Location: b.loc.display}
	case errors.Is(err, errTooLarge):
		return nil, version{}, &TooLargeError{Name: name, Location: b.loc.display, Limit: limit}
	}
	return nil, version{}, err
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
	if isStorageRedirect(err) {
		e.WithHint(storageRedirectHint(b.loc.kind))
	}
	if _, ok := AsRedirectError(err); ok {
		e.WithHint("keyctl follows a redirect only on the repository's own scheme and host (docs/verify.md); use the URL the repository really serves from")
	}
	if errors.Is(err, errNoSuchBucket) {
		e.WithHint("check the bucket name in " + b.loc.display + ", and ?region= or ?endpoint=: the service has no such bucket")
	}
	if errorCode(err) == codePermissionDenied {
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

// writeOnce writes obj once. It returns the new object's version where the
// backend has versions (the GCS generation, the S3 ETag).
func (b *Bucket) writeOnce(ctx context.Context, d driver, obj Object, cacheControl string, mode writeMode, ver version) (version, error) {
	o := writeOptions{ContentType: obj.ContentType, CacheControl: obj.CacheControl}
	if o.ContentType == "" {
		o.ContentType = contentType(obj.Name)
	}
	if o.CacheControl == "" {
		o.CacheControl = cacheControl
	}
	switch mode {
	case ifNotExist:
		o.Cond = condIfNotExist
	case ifVersionMatch:
		if b.loc.kind != kindGCS && b.loc.kind != kindS3 {
			return version{}, fmt.Errorf("internal error: version precondition on %s", b.loc.display)
		}
		// The zero version means "no pointer yet": GCS ifGenerationMatch=0,
		// S3 If-None-Match: *.
		o.Cond, o.Version = condIfMatch, ver
		if ver == (version{}) {
			o.Cond = condIfNotExist
		}
	}
	return d.Write(ctx, obj.Name, obj.Data, o)
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

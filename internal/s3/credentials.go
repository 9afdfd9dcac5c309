package s3

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"sync"
	"time"
)

// Credentials are an AWS access key, with a session token for temporary
// ones. They print as their source and access key id only: the secret and
// the token never appear in %v, %+v or %#v.
type Credentials struct {
	AccessKeyID     string
	SecretAccessKey string
	SessionToken    string
	// Expires is when temporary credentials stop working; zero for
	// long-term keys.
	Expires time.Time
	// Source says where they came from, for messages ("environment",
	// "profile ci in /home/u/.aws/credentials").
	Source string
	// anonymous credentials sign nothing.
	anonymous bool
}

func (c Credentials) String() string {
	if c.anonymous {
		return "anonymous"
	}
	return fmt.Sprintf("access key %s from %s", c.AccessKeyID, c.Source)
}

// GoString keeps %#v from printing the secret.
func (c Credentials) GoString() string { return "s3.Credentials{" + c.String() + "}" }

// Format keeps every verb (%v, %+v, %s, %q) on String.
func (c Credentials) Format(f fmt.State, verb rune) {
	if verb == 'v' && f.Flag('#') {
		_, _ = f.Write([]byte(c.GoString()))
		return
	}
	_, _ = f.Write([]byte(c.String()))
}

// Provider gives credentials for a request.
type Provider interface {
	Retrieve(ctx context.Context) (Credentials, error)
}

// Anonymous is the provider of unsigned requests (public buckets,
// emulators).
var Anonymous Provider = anonymousProvider{}

type anonymousProvider struct{}

func (anonymousProvider) Retrieve(context.Context) (Credentials, error) {
	return Credentials{anonymous: true, Source: "anonymous"}, nil
}

// Static returns a provider of fixed credentials.
func Static(c Credentials) Provider { return staticProvider{c} }

type staticProvider struct{ c Credentials }

func (p staticProvider) Retrieve(context.Context) (Credentials, error) { return p.c, nil }

// refreshBefore is how long before their expiry cached credentials are
// fetched again.
const refreshBefore = 5 * time.Minute

// Cached wraps p so that its credentials are kept until shortly before
// they expire (forever for long-term keys).
func Cached(p Provider) Provider { return &cache{p: p, now: time.Now} }

type cache struct {
	p   Provider
	now func() time.Time

	mu   sync.Mutex
	have bool
	c    Credentials
}

func (c *cache) Retrieve(ctx context.Context) (Credentials, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.have && (c.c.Expires.IsZero() || c.now().Add(refreshBefore).Before(c.c.Expires)) {
		return c.c, nil
	}
	cr, err := c.p.Retrieve(ctx)
	if err != nil {
		return Credentials{}, err
	}
	c.c, c.have = cr, true
	return cr, nil
}

// env is how the chain reads the environment (os.Getenv; a map in tests).
type env func(string) string

// NoCredentialsError says that no source in the chain had credentials, and
// where the chain looked.
type NoCredentialsError struct {
	Looked []string
}

func (e *NoCredentialsError) Error() string {
	return "no AWS credentials found; looked at: " + strings.Join(e.Looked, "; ")
}

// errNone is what a source returns when it has nothing (the chain goes on).
var errNone = errors.New("no credentials here")

// chain is the default credential chain, walked at each Retrieve (Cached
// keeps what it found).
type chain struct {
	profile string // from ?profile=, "" if not given
	getenv  env
	region  string // for STS (web identity)
	now     func() time.Time
}

// DefaultChain returns the provider keyctl uses for s3:// when the URL
// does not ask for anonymous access: see the package doc for the order.
// profile is the ?profile= query parameter ("" when absent); region is the
// bucket's region (for the STS endpoint of web identity).
func DefaultChain(profile, region string) Provider {
	return Cached(&chain{profile: profile, getenv: os.Getenv, region: region, now: time.Now})
}

func (ch *chain) Retrieve(ctx context.Context) (Credentials, error) {
	var looked []string
	try := func(what string, f func() (Credentials, error)) (Credentials, bool, error) {
		c, err := f()
		if errors.Is(err, errNone) {
			if errors.Is(err, errIMDSDisabled) {
				what += " (off: AWS_EC2_METADATA_DISABLED=true)"
			}
			looked = append(looked, what)
			return Credentials{}, false, nil
		}
		if err != nil {
			return Credentials{}, false, err
		}
		return c, true, nil
	}
	type source struct {
		what string
		f    func() (Credentials, error)
	}
	var sources []source
	files := ch.sharedFiles()
	profileSrc := source{files.describe(ch.profileName()), func() (Credentials, error) { return ch.fromProfile(ctx, files) }}
	if ch.profile != "" {
		// An explicitly named profile comes first, as in the AWS SDKs.
		sources = append(sources, profileSrc)
	}
	sources = append(sources,
		source{"environment (AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY)", ch.fromEnv},
		source{"web identity (AWS_WEB_IDENTITY_TOKEN_FILE, AWS_ROLE_ARN)", func() (Credentials, error) { return ch.fromWebIdentityEnv(ctx) }},
	)
	if ch.profile == "" {
		sources = append(sources, profileSrc)
	}
	sources = append(sources,
		source{"container credentials (AWS_CONTAINER_CREDENTIALS_RELATIVE_URI, AWS_CONTAINER_CREDENTIALS_FULL_URI)", func() (Credentials, error) { return ch.fromContainer(ctx) }},
		source{"EC2 instance metadata (IMDSv2)", func() (Credentials, error) { return ch.fromIMDS(ctx) }},
	)
	for _, s := range sources {
		c, ok, err := try(s.what, s.f)
		if err != nil {
			return Credentials{}, err
		}
		if ok {
			return c, nil
		}
	}
	return Credentials{}, &NoCredentialsError{Looked: looked}
}

func (ch *chain) fromEnv() (Credentials, error) {
	// AWS_ACCESS_KEY and AWS_SECRET_KEY are the older names the AWS SDKs
	// still read.
	id := firstNonEmpty(ch.getenv("AWS_ACCESS_KEY_ID"), ch.getenv("AWS_ACCESS_KEY"))
	secret := firstNonEmpty(ch.getenv("AWS_SECRET_ACCESS_KEY"), ch.getenv("AWS_SECRET_KEY"))
	switch {
	case id == "" && secret == "":
		return Credentials{}, errNone
	case id == "":
		return Credentials{}, errors.New("AWS_SECRET_ACCESS_KEY is set but AWS_ACCESS_KEY_ID is not: set both, or neither")
	case secret == "":
		return Credentials{}, errors.New("AWS_ACCESS_KEY_ID is set but AWS_SECRET_ACCESS_KEY is not: set both, or neither")
	}
	return Credentials{AccessKeyID: id, SecretAccessKey: secret, SessionToken: ch.getenv("AWS_SESSION_TOKEN"), Source: "environment"}, nil
}

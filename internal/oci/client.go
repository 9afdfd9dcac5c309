package oci

import (
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"

	"oras.land/oras-go/v2/errdef"
	"oras.land/oras-go/v2/registry/remote"
	"oras.land/oras-go/v2/registry/remote/auth"
	"oras.land/oras-go/v2/registry/remote/credentials"
	"oras.land/oras-go/v2/registry/remote/errcode"
	"oras.land/oras-go/v2/registry/remote/retry"

	"github.com/keyctl/keyctl/internal/fail"
)

// RequestTimeout bounds one registry request, a 100 MiB chart layer
// included.
const RequestTimeout = 2 * time.Minute

// Options configure a Client.
type Options struct {
	// PlainHTTP talks HTTP instead of HTTPS, as helm --plain-http does (a
	// local or test registry). Never for a registry across a network.
	PlainHTTP bool
	// HelmRegistryConfig is Helm's registry credentials file (written by
	// helm registry login); empty: $HELM_REGISTRY_CONFIG, else
	// $HELM_CONFIG_HOME/registry/config.json, else
	// $XDG_CONFIG_HOME/helm/registry/config.json, else
	// ~/.config/helm/registry/config.json.
	HelmRegistryConfig string
	// DockerConfig is Docker's config.json; empty: $DOCKER_CONFIG/config.json,
	// else ~/.docker/config.json. Consulted after Helm's file.
	DockerConfig string
	// HTTPClient, when set, carries the requests (tests).
	HTTPClient *http.Client
	// Timeout bounds one request; 0: RequestTimeout.
	Timeout time.Duration
}

// Client reaches OCI registries. It holds no secrets itself: credentials are
// looked up per registry host from the configured files when a registry
// asks for them, and are never printed or stored.
type Client struct {
	opts  Options
	creds credentials.Store
	auth  *auth.Client
}

// New makes a Client. Credential files that do not exist are fine (anonymous
// access); a damaged one is an error that names it.
func New(opts Options) (*Client, error) {
	helmPath := opts.HelmRegistryConfig
	if helmPath == "" {
		helmPath = defaultHelmRegistryConfig()
	}
	helm, err := credentials.NewStore(helmPath, credentials.StoreOptions{})
	if err != nil {
		return nil, fail.Inputf("cannot read Helm's registry credentials %s", helmPath).Wrap(errors.Unwrap(err)).
			WithHint("fix or remove the file (helm registry logout, then helm registry login)")
	}
	var docker *credentials.DynamicStore
	if opts.DockerConfig != "" {
		docker, err = credentials.NewStore(opts.DockerConfig, credentials.StoreOptions{})
	} else {
		docker, err = credentials.NewStoreFromDocker(credentials.StoreOptions{})
	}
	if err != nil {
		return nil, fail.Inputf("cannot read Docker's credentials file").Wrap(errors.Unwrap(err)).
			WithHint("fix ~/.docker/config.json (or $DOCKER_CONFIG/config.json), or log in again")
	}
	store := credentials.NewStoreWithFallbacks(helm, docker)
	httpClient := opts.HTTPClient
	if httpClient == nil {
		// Retries on 429 and 5xx (oras's policy), and a bound on every
		// request so that a registry that stops answering cannot hang an
		// audit.
		timeout := opts.Timeout
		if timeout <= 0 {
			timeout = RequestTimeout
		}
		httpClient = &http.Client{Transport: retry.NewTransport(nil), Timeout: timeout}
	}
	c := &Client{opts: opts, creds: store, auth: &auth.Client{
		Client:     httpClient,
		Cache:      auth.NewCache(),
		Credential: credentials.Credential(store),
		Header:     http.Header{"User-Agent": {"keyctl"}},
	}}
	return c, nil
}

func defaultHelmRegistryConfig() string {
	if p := os.Getenv("HELM_REGISTRY_CONFIG"); p != "" {
		return p
	}
	if d := os.Getenv("HELM_CONFIG_HOME"); d != "" {
		return filepath.Join(d, "registry", "config.json")
	}
	if d := os.Getenv("XDG_CONFIG_HOME"); d != "" {
		return filepath.Join(d, "helm", "registry", "config.json")
	}
	home, err := os.UserHomeDir()
	if err != nil {
		return ""
	}
	return filepath.Join(home, ".config", "helm", "registry", "config.json")
}

// repository opens HOST/NAME.
func (c *Client) repository(host, name string) (*remote.Repository, error) {
	r, err := remote.NewRepository(host + "/" + name)
	if err != nil {
		return nil, fail.Inputf("%s%s/%s is not a valid OCI repository", Scheme, host, name).Wrap(err)
	}
	r.Client = c.auth
	r.PlainHTTP = c.opts.PlainHTTP
	r.MaxMetadataBytes = MaxManifestSize
	// Registries without the referrers API (distribution) get no
	// referrers tag written or cleaned up on our behalf.
	r.SkipReferrersGC = true
	return r, nil
}

func (c *Client) registry(host string) (*remote.Registry, error) {
	r, err := remote.NewRegistry(host)
	if err != nil {
		return nil, fail.Inputf("%s is not a valid registry host", host).Wrap(err)
	}
	r.Client = c.auth
	r.PlainHTTP = c.opts.PlainHTTP
	return r, nil
}

// isNotFound reports a missing tag, manifest, blob or repository.
func isNotFound(err error) bool {
	if errors.Is(err, errdef.ErrNotFound) {
		return true
	}
	var re *errcode.ErrorResponse
	return errors.As(err, &re) && re.StatusCode == http.StatusNotFound
}

// wrap turns a registry error into a fail.Error that says what failed and
// what to do. It never includes credentials: oras's errors name the
// request URL (no userinfo) and the registry's error codes.
func (c *Client) wrap(err error, what string) error {
	if err == nil {
		return nil
	}
	var fe *fail.Error
	if errors.As(err, &fe) {
		return err
	}
	e := fail.Inputf("%s", what).Wrap(err)
	var re *errcode.ErrorResponse
	switch {
	case errors.Is(err, auth.ErrBasicCredentialNotFound),
		errors.As(err, &re) && (re.StatusCode == http.StatusUnauthorized || re.StatusCode == http.StatusForbidden):
		return e.WithHint("log in first: helm registry login HOST (or docker login HOST); keyctl reads those credentials")
	case strings.Contains(err.Error(), "server gave HTTP response to HTTPS client"):
		return e.WithHint("the registry speaks plain HTTP: add --plain-http (only for a local or test registry)")
	case strings.Contains(err.Error(), "http: server gave") || strings.Contains(err.Error(), "first record does not look like a TLS handshake"):
		return e.WithHint("the registry speaks plain HTTP: add --plain-http (only for a local or test registry)")
	}
	return e.WithHint(fmt.Sprintf("check the registry address and that it is reachable%s", plainHint(c.opts.PlainHTTP)))
}

func plainHint(plain bool) string {
	if plain {
		return " (--plain-http is set: is it really a plain HTTP registry?)"
	}
	return ""
}

func errorsAs(err error, target any) bool { return errors.As(err, target) }

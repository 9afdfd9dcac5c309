package oci

import (
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/keyctl/keyctl/internal/fail"
	"github.com/keyctl/keyctl/internal/termsafe"
)

// RequestTimeout bounds one registry request, a 100 MiB chart layer
// included.
const RequestTimeout = 2 * time.Minute

// Options configure a Client.
type Options struct {
	// PlainHTTP talks HTTP instead of HTTPS to every registry, as helm
	// --plain-http does (a local or test registry). Never for a registry
	// across a network. Only the --plain-http flag itself sets it.
	PlainHTTP bool
	// PlainHTTPHosts talks HTTP instead of HTTPS to these registry hosts
	// only (host[:port], as in oci://HOST/...): a repository added with
	// keyctl repo add --plain-http names its own registry here, and no
	// other registry of the command is reached, or sent credentials, over
	// plain HTTP because of it.
	PlainHTTPHosts []string
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

// Client reaches OCI registries over the distribution API (registry.go),
// authenticating as auth.go says with credentials from creds.go. It holds
// no secrets of its own making: credentials are looked up per registry
// host from the configured files when a registry asks for them, kept in
// memory for the life of the Client, and never printed or stored.
type Client struct {
	opts  Options
	creds *credStore
	http  *http.Client

	plain map[string]bool // Options.PlainHTTPHosts, by endpoint (plainHost)

	mu         sync.Mutex
	challenges map[string]challenge // host → how it asked to authenticate
	tokens     map[string]string    // host + " " + scope → bearer token
	hostCreds  map[string]credential
}

// New makes a Client. Credential files that do not exist are fine (anonymous
// access); a damaged one is an error that names it.
func New(opts Options) (*Client, error) {
	helmPath := opts.HelmRegistryConfig
	if helmPath == "" {
		helmPath = defaultHelmRegistryConfig()
	}
	helm, err := loadCredFile(helmPath)
	if err != nil {
		return nil, fail.Inputf("cannot read Helm's registry credentials %s", helmPath).Wrap(err).
			WithHint("fix or remove the file (helm registry logout, then helm registry login)")
	}
	dockerPath := opts.DockerConfig
	if dockerPath == "" {
		dockerPath = defaultDockerConfig()
	}
	docker, err := loadCredFile(dockerPath)
	if err != nil {
		return nil, fail.Inputf("cannot read Docker's credentials file").Wrap(err).
			WithHint("fix ~/.docker/config.json (or $DOCKER_CONFIG/config.json), or log in again")
	}
	httpClient := opts.HTTPClient
	if httpClient == nil {
		// Retries on 429 and 5xx, and a bound on every request so that a
		// registry that stops answering cannot hang an audit.
		timeout := opts.Timeout
		if timeout <= 0 {
			timeout = RequestTimeout
		}
		httpClient = &http.Client{Transport: &retryTransport{}, Timeout: timeout, CheckRedirect: checkRedirect}
	}
	plain := map[string]bool{}
	for _, h := range opts.PlainHTTPHosts {
		plain[plainHost(h)] = true
	}
	return &Client{opts: opts, creds: &credStore{files: []*credFile{helm, docker}}, http: httpClient, plain: plain,
		challenges: map[string]challenge{}, tokens: map[string]string{}, hostCreds: map[string]credential{}}, nil
}

// endpoint is the host a registry host is reached at: Docker Hub's
// docker.io at registry-1.docker.io, as Docker and Helm reach it.
func endpoint(host string) string {
	if strings.EqualFold(host, "docker.io") {
		return "registry-1.docker.io"
	}
	return host
}

// plainHost is the key of a host in Client.plain: its endpoint, in lower
// case (host names are case-insensitive).
func plainHost(host string) string { return strings.ToLower(endpoint(host)) }

// plainHTTP reports whether host (a registry host, or the host of a URL
// that a request to it goes to) is reached over plain HTTP: every host
// with Options.PlainHTTP, else the hosts of Options.PlainHTTPHosts.
func (c *Client) plainHTTP(host string) bool {
	return c.opts.PlainHTTP || c.plain[plainHost(host)]
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

func defaultDockerConfig() string {
	if d := os.Getenv("DOCKER_CONFIG"); d != "" {
		return filepath.Join(d, "config.json")
	}
	home, err := os.UserHomeDir()
	if err != nil {
		return ""
	}
	return filepath.Join(home, ".docker", "config.json")
}

// checkRedirect follows a registry's redirects (a blob served from object
// storage) but never from HTTPS to plain HTTP. Credentials are per
// registry host: Go drops the Authorization header when a redirect leaves
// the host name, but keeps it for another port of that name or for a
// subdomain; keyctl drops it whenever the redirect leaves the registry's
// host[:port].
func checkRedirect(req *http.Request, via []*http.Request) error {
	if len(via) >= 10 {
		return errors.New("stopped after 10 redirects")
	}
	if via[0].URL.Scheme == "https" && req.URL.Scheme != "https" {
		return fmt.Errorf("refused a redirect from HTTPS to %s://%s", req.URL.Scheme, termsafe.String(req.URL.Host))
	}
	if !strings.EqualFold(req.URL.Host, via[0].URL.Host) {
		req.Header.Del("Authorization")
	}
	return nil
}

// repository opens HOST/NAME.
func (c *Client) repository(host, name string) (*repository, error) {
	if !validHost(host) || !validRepository(name) {
		return nil, fail.Inputf("%s%s/%s is not a valid OCI repository", Scheme, host, name)
	}
	return &repository{c: c, host: host, name: name}, nil
}

// isNotFound reports a missing tag, manifest, blob or repository.
func isNotFound(err error) bool {
	var re *ResponseError
	return errors.As(err, &re) && re.StatusCode == http.StatusNotFound
}

// wrap turns a registry error of a request to host into a fail.Error that
// says what failed and what to do. It never includes credentials: the
// errors of registry.go name the request URL (no userinfo) and the
// registry's error codes.
func (c *Client) wrap(err error, host, what string) error {
	if err == nil {
		return nil
	}
	var fe *fail.Error
	if errors.As(err, &fe) {
		return err
	}
	e := fail.Inputf("%s", what).Wrap(err)
	var re *ResponseError
	var ra *RedirectAuthError
	switch {
	case errors.As(err, &ra):
		return e.WithHint("keyctl logs in only to the registry itself, never to a host it redirects to; ask the registry's operator to serve the layer without a login there, or use a registry that does")
	case errors.Is(err, errUploadElsewhere):
		return e.WithHint("keyctl uploads only to the registry it publishes to; publish to a registry that keeps uploads on its own host, or ask its operator why it sends them elsewhere")
	case errors.Is(err, errNoCredentials),
		errors.As(err, &re) && (re.StatusCode == http.StatusUnauthorized || re.StatusCode == http.StatusForbidden):
		return e.WithHint("log in first: helm registry login HOST (or docker login HOST); keyctl reads those credentials")
	case strings.Contains(err.Error(), "server gave HTTP response to HTTPS client"):
		return e.WithHint("the registry speaks plain HTTP: add --plain-http (only for a local or test registry; a repository added with --plain-http makes only its own registry host plain HTTP)")
	case strings.Contains(err.Error(), "http: server gave") || strings.Contains(err.Error(), "first record does not look like a TLS handshake"):
		return e.WithHint("the registry speaks plain HTTP: add --plain-http (only for a local or test registry; a repository added with --plain-http makes only its own registry host plain HTTP)")
	}
	return e.WithHint(fmt.Sprintf("check the registry address and that it is reachable%s", plainHint(c.plainHTTP(host))))
}

func plainHint(plain bool) string {
	if plain {
		return " (plain HTTP is set for it: --plain-http, or the repository's plain_http: is it really a plain HTTP registry?)"
	}
	return ""
}

func errorsAs(err error, target any) bool { return errors.As(err, target) }

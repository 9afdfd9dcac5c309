package oci

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"sort"
	"strings"
	"time"

	"github.com/keyctl/keyctl/internal/fail"
)

// Limits on credential sources (local, but read by a parser all the same).
const (
	// MaxCredFileSize caps Helm's registry config and Docker's config.json.
	MaxCredFileSize = 4 << 20
	// MaxHelperOutput caps what a docker-credential-NAME helper prints.
	MaxHelperOutput = 64 << 10
	// helperTimeout bounds one credential helper run.
	helperTimeout = time.Minute
)

// credential is what a registry host's login holds. At most one of the
// forms is used: an access token (registrytoken) as the bearer token
// itself, else an identity token (identitytoken, refresh_token grant),
// else user name and password.
type credential struct {
	Username, Password string
	IdentityToken      string
	AccessToken        string
}

func (c credential) empty() bool { return c == credential{} }

// credFile is one config file in Docker's format (Helm's registry config
// has the same): "auths" per server address, and the credential helpers
// "credHelpers" (per host) and "credsStore" (every other host).
type credFile struct {
	path        string
	auths       map[string]authEntry
	credHelpers map[string]string
	credsStore  string
}

type authEntry struct {
	Auth          string `json:"auth,omitempty"`
	Username      string `json:"username,omitempty"`
	Password      string `json:"password,omitempty"`
	IdentityToken string `json:"identitytoken,omitempty"`
	RegistryToken string `json:"registrytoken,omitempty"`
}

// loadCredFile reads a credentials file; a missing (or unnamed) file holds
// nothing. Errors never quote the file's content.
func loadCredFile(path string) (*credFile, error) {
	f := &credFile{path: path}
	if path == "" {
		return f, nil
	}
	data, err := readCapped(path, MaxCredFileSize)
	if errors.Is(err, fs.ErrNotExist) {
		return f, nil
	}
	if err != nil {
		return nil, err
	}
	if err := f.parse(data); err != nil {
		return nil, err
	}
	return f, nil
}

func readCapped(path string, limit int64) ([]byte, error) {
	fh, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer fh.Close()
	data, err := io.ReadAll(io.LimitReader(fh, limit+1))
	if err != nil {
		return nil, err
	}
	if int64(len(data)) > limit {
		return nil, fmt.Errorf("the file is larger than %d bytes", limit)
	}
	return data, nil
}

// parse reads a config file's JSON. An empty file is an empty config.
func (f *credFile) parse(data []byte) error {
	if len(bytes.TrimSpace(data)) == 0 {
		return nil
	}
	var raw struct {
		Auths       map[string]authEntry `json:"auths"`
		CredHelpers map[string]string    `json:"credHelpers"`
		CredsStore  string               `json:"credsStore"`
	}
	if err := json.Unmarshal(data, &raw); err != nil {
		return fmt.Errorf("not a valid credentials file: %s", jsonErr(err))
	}
	f.auths, f.credHelpers, f.credsStore = raw.Auths, raw.CredHelpers, raw.CredsStore
	return nil
}

// jsonErr describes a JSON error without quoting the input: a credentials
// file's values are secrets.
func jsonErr(err error) string {
	var se *json.SyntaxError
	var te *json.UnmarshalTypeError
	switch {
	case errors.As(err, &se):
		return fmt.Sprintf("invalid JSON at byte %d", se.Offset)
	case errors.As(err, &te):
		return fmt.Sprintf("field %q has the wrong type", te.Field)
	}
	return "invalid JSON"
}

// helper is the credential helper this file names for serverAddress, "" for
// none.
func (f *credFile) helper(serverAddress string) string {
	if h := f.credHelpers[serverAddress]; h != "" {
		return h
	}
	return f.credsStore
}

// lookup finds serverAddress's entry in "auths": the exact key, else a key
// that is an URL or address of that host (https://HOST/v1/ ...).
func (f *credFile) lookup(serverAddress string) (credential, error) {
	e, ok := f.auths[serverAddress]
	if !ok {
		keys := make([]string, 0, len(f.auths))
		for k := range f.auths {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			if toHostname(k) == serverAddress {
				e, ok = f.auths[k], true
				break
			}
		}
		if !ok {
			return credential{}, nil
		}
	}
	cred := credential{Username: e.Username, Password: e.Password, IdentityToken: e.IdentityToken, AccessToken: e.RegistryToken}
	if e.Auth != "" {
		dec, err := base64.StdEncoding.DecodeString(e.Auth)
		if err != nil {
			return credential{}, fmt.Errorf("the auth entry for %s is not base64", serverAddress)
		}
		u, p, found := strings.Cut(string(dec), ":")
		if !found {
			return credential{}, fmt.Errorf("the auth entry for %s is not base64 of USER:PASSWORD", serverAddress)
		}
		cred.Username, cred.Password = u, p
	}
	return cred, nil
}

func toHostname(addr string) string {
	addr = strings.TrimPrefix(addr, "http://")
	addr = strings.TrimPrefix(addr, "https://")
	addr, _, _ = strings.Cut(addr, "/")
	return addr
}

// credStore looks a host up in Helm's file, then Docker's: the first
// non-empty credential wins.
type credStore struct {
	files []*credFile
	// run executes a credential helper (tests replace it).
	run func(ctx context.Context, name string, stdin []byte) ([]byte, error)
}

// get returns the credential for a registry host, empty when none is
// stored. Docker Hub's registry host is stored under Docker's legacy
// address, as docker login writes it.
func (s *credStore) get(ctx context.Context, host string) (credential, error) {
	addr := host
	if host == "registry-1.docker.io" || host == "docker.io" {
		addr = "https://index.docker.io/v1/"
	}
	for _, f := range s.files {
		var cred credential
		var err error
		if h := f.helper(addr); h != "" {
			cred, err = s.fromHelper(ctx, f, h, addr)
		} else {
			cred, err = f.lookup(addr)
		}
		if err != nil {
			var fe *fail.Error
			if errors.As(err, &fe) {
				return credential{}, err
			}
			return credential{}, fail.Inputf("cannot read the credentials for %s from %s", host, f.path).Wrap(err).
				WithHint("fix the file, or log in again (helm registry login " + host + ")")
		}
		if !cred.empty() {
			return cred, nil
		}
	}
	return credential{}, nil
}

// helperNotFound is what a helper prints when it holds nothing for a host.
const helperNotFound = "credentials not found in native keychain"

// fromHelper runs docker-credential-NAME get with the server address on
// stdin, as Docker does, and reads {"Username","Secret"} from its stdout.
// A user name of "<token>" means the secret is an identity token.
func (s *credStore) fromHelper(ctx context.Context, f *credFile, name, addr string) (credential, error) {
	bin := "docker-credential-" + name
	if strings.ContainsAny(name, "/\\") || strings.HasPrefix(name, ".") || strings.ContainsAny(name, " \t\r\n") {
		return credential{}, fail.Inputf("%s names the credential helper %q, which is not a program name", f.path, trunc(name)).
			WithHint("fix credsStore or credHelpers in " + f.path)
	}
	run := s.run
	if run == nil {
		run = runHelper
	}
	ctx, cancel := context.WithTimeout(ctx, helperTimeout)
	defer cancel()
	out, err := run(ctx, bin, []byte(addr))
	if errors.Is(err, exec.ErrNotFound) {
		return credential{}, fail.Inputf("%s names the credential helper %s, which is not installed (not on PATH)", f.path, bin).
			WithHint("install " + bin + ", or remove it from credsStore/credHelpers in " + f.path + " and log in again")
	}
	if err != nil {
		if strings.TrimSpace(string(out)) == helperNotFound {
			return credential{}, nil
		}
		return credential{}, fail.Inputf("the credential helper %s failed for %s", bin, addr).Wrap(err).
			WithHint("check that the helper works (" + bin + " list), and log in again (docker login " + addr + ")")
	}
	return parseHelperOutput(out, bin)
}

func parseHelperOutput(out []byte, bin string) (credential, error) {
	if len(out) > MaxHelperOutput {
		return credential{}, fail.Inputf("the credential helper %s printed more than %d bytes", bin, MaxHelperOutput)
	}
	var c struct {
		Username string `json:"Username"`
		Secret   string `json:"Secret"`
	}
	if err := json.Unmarshal(out, &c); err != nil {
		return credential{}, fail.Inputf("the credential helper %s printed something else than its JSON answer (%s)", bin, jsonErr(err))
	}
	if c.Username == "<token>" {
		return credential{IdentityToken: c.Secret}, nil
	}
	return credential{Username: c.Username, Password: c.Secret}, nil
}

// runHelper runs a helper; its output is capped, its stderr discarded (it
// may echo what it was given).
func runHelper(ctx context.Context, bin string, stdin []byte) ([]byte, error) {
	path, err := exec.LookPath(bin)
	if err != nil {
		return nil, exec.ErrNotFound
	}
	cmd := exec.CommandContext(ctx, path, "get")
	cmd.Stdin = bytes.NewReader(stdin)
	var out cappedBuffer
	out.limit = MaxHelperOutput
	cmd.Stdout = &out
	err = cmd.Run()
	if err != nil {
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			// The exit status only: never the helper's output.
			err = fmt.Errorf("exit status %d", ee.ExitCode())
		}
	}
	return out.Bytes(), err
}

// cappedBuffer keeps the first limit+1 bytes written to it.
type cappedBuffer struct {
	bytes.Buffer
	limit int
}

func (b *cappedBuffer) Write(p []byte) (int, error) {
	if room := b.limit + 1 - b.Len(); room > 0 {
		if len(p) > room {
			b.Buffer.Write(p[:room])
		} else {
			b.Buffer.Write(p)
		}
	}
	return len(p), nil
}

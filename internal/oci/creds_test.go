package oci

import (
	"context"
	"encoding/base64"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/keyctl/keyctl/internal/fail"
	"github.com/keyctl/keyctl/internal/testutil/ociregistry"
)

// installHelper puts docker-credential-NAME on PATH: a shell script that
// answers get with out for the server address want, and the helpers'
// not-found message otherwise.
func installHelper(t *testing.T, name, want, out string) {
	t.Helper()
	dir := t.TempDir()
	script := "#!/bin/sh\n[ \"$1\" = get ] || exit 3\nread addr\nif [ \"$addr\" = '" + want + "' ]; then printf '%s' '" + out + "'; exit 0; fi\necho 'credentials not found in native keychain'; exit 1\n"
	if err := os.WriteFile(filepath.Join(dir, "docker-credential-"+name), []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	t.Setenv("PATH", dir+string(os.PathListSeparator)+os.Getenv("PATH"))
}

func store(t *testing.T, helm, docker string) *credStore {
	t.Helper()
	var files []*credFile
	for _, js := range []string{helm, docker} {
		f, err := loadCredFile(writeConfig(t, js))
		if err != nil {
			t.Fatal(err)
		}
		files = append(files, f)
	}
	return &credStore{files: files}
}

func TestCredentialStore(t *testing.T) {
	ctx := context.Background()
	b64 := func(s string) string { return base64.StdEncoding.EncodeToString([]byte(s)) }
	installHelper(t, "kc", "reg.example", `{"ServerURL":"reg.example","Username":"hu","Secret":"hs"}`)
	installHelper(t, "kctok", "tok.example", `{"ServerURL":"tok.example","Username":"<token>","Secret":"idt"}`)
	for _, tc := range []struct {
		name, helm, docker, host string
		want                     credential
	}{
		{"helm first", `{"auths":{"h.example":{"auth":"` + b64("a:1") + `"}}}`, `{"auths":{"h.example":{"auth":"` + b64("b:2") + `"}}}`, "h.example", credential{Username: "a", Password: "1"}},
		{"docker fallback", `{}`, `{"auths":{"h.example":{"username":"b","password":"2"}}}`, "h.example", credential{Username: "b", Password: "2"}},
		{"url key", `{"auths":{"https://h.example/v1/":{"auth":"` + b64("c:3:x") + `"}}}`, ``, "h.example", credential{Username: "c", Password: "3:x"}},
		{"identity token", `{"auths":{"h.example":{"identitytoken":"it"}}}`, ``, "h.example", credential{IdentityToken: "it"}},
		{"registry token", `{"auths":{"h.example":{"registrytoken":"rt"}}}`, ``, "h.example", credential{AccessToken: "rt"}},
		{"docker hub", ``, `{"auths":{"https://index.docker.io/v1/":{"auth":"` + b64("d:4") + `"}}}`, "registry-1.docker.io", credential{Username: "d", Password: "4"}},
		{"credsStore", ``, `{"credsStore":"kc","auths":{"reg.example":{}}}`, "reg.example", credential{Username: "hu", Password: "hs"}},
		{"credHelpers over credsStore", ``, `{"credsStore":"missing","credHelpers":{"tok.example":"kctok"}}`, "tok.example", credential{IdentityToken: "idt"}},
		{"helper holds nothing", ``, `{"credsStore":"kc"}`, "other.example", credential{}},
		{"none", `{}`, ``, "h.example", credential{}},
	} {
		got, err := store(t, tc.helm, tc.docker).get(ctx, tc.host)
		if err != nil || got != tc.want {
			t.Errorf("%s: %+v %v, want %+v", tc.name, got, err, tc.want)
		}
	}
}

func TestCredentialErrors(t *testing.T) {
	ctx := context.Background()
	t.Setenv("PATH", t.TempDir())
	_, err := store(t, `{"credsStore":"nosuch"}`, ``).get(ctx, "h.example")
	if err == nil || !strings.Contains(err.Error(), "docker-credential-nosuch") || !strings.Contains(err.Error(), "not installed") || len(fail.HintsOf(err)) == 0 {
		t.Errorf("missing helper: %v %v", err, fail.HintsOf(err))
	}
	if _, err := store(t, `{"credsStore":"../../bin/sh"}`, ``).get(ctx, "h.example"); err == nil || !strings.Contains(err.Error(), "not a program name") {
		t.Errorf("helper name with a path: %v", err)
	}
	// A damaged entry names the host and file, never the secret.
	secret := "hunter2-no-colon"
	_, err = store(t, `{"auths":{"h.example":{"auth":"`+base64.StdEncoding.EncodeToString([]byte(secret))+`"}}}`, ``).get(ctx, "h.example")
	if err == nil || strings.Contains(err.Error(), secret) || !strings.Contains(err.Error(), "h.example") {
		t.Errorf("damaged auth: %v", err)
	}
	// A damaged file is refused at New, without quoting it.
	p := writeConfig(t, `{"auths":{"h.example":{"password":"pw-in-broken-file",}}}`)
	_, err = New(Options{HelmRegistryConfig: p, DockerConfig: filepath.Join(t.TempDir(), "none")})
	if err == nil || strings.Contains(err.Error(), "pw-in-broken-file") || !strings.Contains(err.Error(), p) {
		t.Errorf("damaged file: %v", err)
	}
	big := writeConfig(t, `{"auths":{}}`+strings.Repeat(" ", MaxCredFileSize))
	if _, err := New(Options{DockerConfig: big, HelmRegistryConfig: filepath.Join(t.TempDir(), "none")}); err == nil {
		t.Error("an oversized credentials file was read")
	}
}

// TestCredentialHelperRealRegistry: credentials from a credential helper
// (credsStore) open a registry with basic auth.
func TestCredentialHelperRealRegistry(t *testing.T) {
	reg := ociregistry.Start(t, ociregistry.Options{User: "ci", Password: "s3cret-pw"})
	installHelper(t, "kcreal", reg.Host, `{"ServerURL":"`+reg.Host+`","Username":"ci","Secret":"s3cret-pw"}`)
	c := newClient(t, Options{DockerConfig: writeConfig(t, `{"credsStore":"kcreal"}`)})
	pushChart(t, c, reg.Host, "charts/demo", "1.0.0", "demo", "1.0.0", []byte("x"), nil)
	if tags, err := c.Tags(context.Background(), reg.Host, "charts/demo"); err != nil || len(tags) != 1 {
		t.Fatalf("%v %v", tags, err)
	}
}

package publish

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/keyctl/keyctl/internal/fail"
)

func TestParseLocation(t *testing.T) {
	cwd, err := filepath.Abs(".")
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		in      string
		kind    kind
		url     string
		prefix  string
		dir     string
		display string
		errHas  string
	}{
		{in: "/srv/charts", kind: kindDir, dir: "/srv/charts", display: "/srv/charts"},
		{in: "out/repo", kind: kindDir, dir: filepath.Join(cwd, "out/repo"), display: filepath.Join(cwd, "out/repo")},
		{in: "./x/../y", kind: kindDir, dir: filepath.Join(cwd, "y"), display: filepath.Join(cwd, "y")},
		{in: "file:///srv/charts/", kind: kindDir, dir: "/srv/charts", display: "/srv/charts"},
		{in: "file://localhost/srv/c", kind: kindDir, dir: "/srv/c", display: "/srv/c"},
		{in: "file://srv/charts", errHas: "three slashes"},
		{in: "file:///srv?x=1", errHas: "no query"},
		{in: "gs://bkt", kind: kindGCS, url: "gs://bkt", display: "gs://bkt"},
		{in: "gs://bkt/", kind: kindGCS, url: "gs://bkt", display: "gs://bkt"},
		{in: "gs://bkt/charts/stable/", kind: kindGCS, url: "gs://bkt", prefix: "charts/stable/", display: "gs://bkt/charts/stable"},
		{in: "GS://bkt/a", kind: kindGCS, url: "gs://bkt", prefix: "a/", display: "gs://bkt/a"},
		{in: "gs://bkt/a/../b", errHas: `".." segment`},
		{in: "gs://bkt?prefix=a/", errHas: "put the prefix in the path"},
		{in: "gs:///a", errHas: "no bucket name"},
		{in: "gs://user:pw@bkt/a", errHas: "credentials do not belong"},
		{in: "s3://bkt/p?region=eu-west-1", kind: kindS3, url: "s3://bkt?region=eu-west-1", prefix: "p/", display: "s3://bkt/p?region=eu-west-1"},
		{in: "mem://", kind: kindMem, url: "mem://", display: "mem://"},
		{in: "mem://a/b", kind: kindMem, url: "mem://", prefix: "a/b/", display: "mem://a/b"},
		{in: "https://charts.example.com/stable/", kind: kindHTTP, url: "https://charts.example.com/stable", display: "https://charts.example.com/stable"},
		{in: "http://127.0.0.1:8080", kind: kindHTTP, url: "http://127.0.0.1:8080", display: "http://127.0.0.1:8080"},
		{in: "https://u:secret@h/x", kind: kindHTTP, url: "https://u:secret@h/x", display: "https://u:xxxxx@h/x"},
		{in: "https://glpat-TOKEN@h/x", kind: kindHTTP, url: "https://glpat-TOKEN@h/x", display: "https://xxxxx@h/x"},
		{in: "https://h/x?y=1", errHas: "takes no query"},
		{in: "https:///x", errHas: "no host"},
		{in: "https://h/x#frag", errHas: "fragment"},
		{in: "azblob://c/p", errHas: `unknown scheme "azblob"`},
		{in: "ftp://h/p", errHas: `unknown scheme "ftp"`},
		{in: "", errHas: "empty"},
		{in: "  ", errHas: "empty"},
	}
	for _, tt := range tests {
		got, err := parseLocation(tt.in)
		if tt.errHas != "" {
			if err == nil || !strings.Contains(err.Error(), tt.errHas) {
				t.Errorf("parseLocation(%q) error = %v, want one containing %q", tt.in, err, tt.errHas)
			}
			if err != nil && strings.Contains(err.Error(), "secret") {
				t.Errorf("parseLocation(%q) error echoes a password: %v", tt.in, err)
			}
			continue
		}
		if err != nil {
			t.Errorf("parseLocation(%q): %v", tt.in, err)
			continue
		}
		if got.kind != tt.kind || got.url != tt.url || got.prefix != tt.prefix || got.dir != tt.dir || got.display != tt.display {
			t.Errorf("parseLocation(%q) = %+v, want kind %d url %q prefix %q dir %q display %q",
				tt.in, got, tt.kind, tt.url, tt.prefix, tt.dir, tt.display)
		}
	}
}

func TestUnknownSchemeHintListsAccepted(t *testing.T) {
	_, err := parseLocation("azblob://c")
	if err == nil {
		t.Fatal("azblob accepted")
	}
	hints := strings.Join(fail.HintsOf(err), "\n")
	for _, want := range []string{"gs://", "s3://", "file://", "http(s)://", "directory"} {
		if !strings.Contains(hints, want) {
			t.Errorf("hint %q does not mention %s", hints, want)
		}
	}
}

func TestCheckName(t *testing.T) {
	good := []string{"pubkeys.pgp", "keyctl/manifest.json", "blobs/sha256-ab.pgp", "a b.sig"}
	bad := []string{"", "/abs", "dir/", "a//b", "../x", "a/../b", "./a", `a\b`, "a?b", "a#b", "a\nb", strings.Repeat("x", 1025)}
	for _, n := range good {
		if err := checkName(n); err != nil {
			t.Errorf("checkName(%q): %v", n, err)
		}
	}
	for _, n := range bad {
		if err := checkName(n); err == nil {
			t.Errorf("checkName(%q) accepted", n)
		}
	}
}

func TestOpenS3NeedsNoNetwork(t *testing.T) {
	// Opening resolves configuration only; nothing is sent until an
	// operation, so this runs offline.
	t.Setenv("AWS_EC2_METADATA_DISABLED", "true")
	b, err := Open(context.Background(), "s3://bkt/charts?region=eu-west-1", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	if b.Location() != "s3://bkt/charts?region=eu-west-1" {
		t.Fatalf("Location() = %q", b.Location())
	}
}

func TestOpenGCSWithoutCredentials(t *testing.T) {
	t.Setenv("STORAGE_EMULATOR_HOST", "")
	t.Setenv("GOOGLE_APPLICATION_CREDENTIALS", filepath.Join(t.TempDir(), "missing.json"))
	_, err := Open(context.Background(), "gs://bkt/charts", nil)
	if err == nil {
		t.Fatal("opened gs:// with no credentials")
	}
	if !strings.Contains(err.Error(), "gs://bkt/charts") || !strings.Contains(strings.Join(fail.HintsOf(err), "\n"), "Application Default Credentials") {
		t.Fatalf("err %q hints %q", err, fail.HintsOf(err))
	}
}

func TestOpenGCSQuery(t *testing.T) {
	t.Setenv("STORAGE_EMULATOR_HOST", "127.0.0.1:1")
	if _, err := Open(context.Background(), "gs://bkt/charts?private_key_path=/k", nil); err == nil || !strings.Contains(err.Error(), `"private_key_path"`) {
		t.Fatalf("unknown gs:// query parameter: %v", err)
	}
	b, err := Open(context.Background(), "gs://bkt/charts?anonymous=true", nil)
	if err != nil {
		t.Fatal(err)
	}
	b.Close()
}

// HTTP answers map to the codes Publish and the retry policy act on.
func TestStatusCodes(t *testing.T) {
	for status, want := range map[int]code{
		404: codeNotFound, 412: codePreconditionFailed, 403: codePermissionDenied,
		401: codePermissionDenied, 429: codeTransient, 503: codeTransient, 500: codeTransient,
		408: codeTransient, 501: codeUnimplemented, 400: codeUnknown, 418: codeUnknown, 409: codeUnknown,
	} {
		if got := errorCode(httpStatusError(status, "")); got != want {
			t.Errorf("HTTP %d: %v, want %v", status, got, want)
		}
	}
	if !transient(httpStatusError(503, "")) || transient(httpStatusError(412, "")) || transient(httpStatusError(501, "")) {
		t.Error("transient() disagrees with the status codes")
	}
}

// An s3:// location keyctl cannot open says where the region and the
// credentials come from: keyctl's own chain, not "the AWS SDK".
func TestOpenS3HintNamesTheCredentialChain(t *testing.T) {
	for _, k := range []string{"AWS_REGION", "AWS_DEFAULT_REGION", "AWS_PROFILE", "AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_S3"} {
		t.Setenv(k, "")
	}
	t.Setenv("AWS_CONFIG_FILE", filepath.Join(t.TempDir(), "none"))
	t.Setenv("AWS_SHARED_CREDENTIALS_FILE", filepath.Join(t.TempDir(), "none"))
	_, err := Open(context.Background(), "s3://bkt/charts", nil)
	if err == nil || !strings.Contains(err.Error(), "no AWS region") {
		t.Fatalf("err = %v, want no AWS region", err)
	}
	hints := strings.Join(fail.HintsOf(err), "\n")
	for _, want := range []string{"?region=", "AWS_ACCESS_KEY_ID", "AWS_WEB_IDENTITY_TOKEN_FILE", "credential_process", "IMDSv2", "?anonymous=true", "docs/manifest.md"} {
		if !strings.Contains(hints, want) {
			t.Errorf("hints %q lack %q", hints, want)
		}
	}
	if strings.Contains(hints, "AWS SDK") {
		t.Errorf("hints still name the AWS SDK: %q", hints)
	}
}

// AWS_CA_BUNDLE is applied to the s3:// client: a bundle that cannot be
// read fails the Open, before any request.
func TestOpenS3AppliesCABundle(t *testing.T) {
	t.Setenv("AWS_EC2_METADATA_DISABLED", "true")
	bad := filepath.Join(t.TempDir(), "ca.pem")
	if err := os.WriteFile(bad, []byte("not a certificate"), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("AWS_CA_BUNDLE", bad)
	_, err := Open(context.Background(), "s3://bkt/charts?region=eu-west-1", nil)
	if err == nil || !strings.Contains(err.Error(), "holds no PEM certificate") {
		t.Fatalf("err = %v, want the CA bundle refused", err)
	}
}

package s3

import (
	"context"
	"encoding/pem"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestCABundle(t *testing.T) {
	home := isolate(t)
	ts := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "over tls")
	}))
	ts.Config.ErrorLog = log.New(io.Discard, "", 0) // the refused handshake
	ts.StartTLS()
	defer ts.Close()
	bundle := filepath.Join(t.TempDir(), "ca.pem")
	writeFile(t, bundle, string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: ts.Certificate().Raw})))
	loc := "s3://bkt?region=us-east-1&anonymous=true&use_path_style=true&endpoint=" + url.QueryEscape(ts.URL)
	get := func() (string, error) {
		t.Helper()
		cfg, err := ConfigFromURL(mustURL(t, loc))
		if err != nil {
			return "", err
		}
		hc, err := HTTPClient(cfg, &http.Client{})
		if err != nil {
			return "", err
		}
		c, err := New(cfg, hc)
		if err != nil {
			t.Fatal(err)
		}
		data, _, err := c.Get(context.Background(), "k", 100)
		return string(data), err
	}
	if _, err := get(); err == nil || !strings.Contains(err.Error(), "certificate") {
		t.Fatalf("without the bundle: %v", err)
	}
	t.Setenv("AWS_CA_BUNDLE", bundle)
	if got, err := get(); err != nil || got != "over tls" {
		t.Fatalf("AWS_CA_BUNDLE: %q, %v", got, err)
	}
	os.Unsetenv("AWS_CA_BUNDLE")
	writeFile(t, filepath.Join(home, ".aws", "config"), "[default]\nca_bundle = "+bundle+"\n")
	if got, err := get(); err != nil || got != "over tls" {
		t.Fatalf("profile ca_bundle: %q, %v", got, err)
	}
	writeFile(t, bundle, "not a certificate\n")
	if _, err := get(); err == nil || !strings.Contains(err.Error(), "no PEM certificate") {
		t.Fatalf("bad bundle: %v", err)
	}
}

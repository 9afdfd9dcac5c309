package s3

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"io"
	"net/http"
	"os"
)

// maxCABundle caps the size of a CA bundle file.
const maxCABundle = 4 << 20

// HTTPClient returns an *http.Client for cfg: a copy of base (a fresh one
// if nil) whose TLS configuration trusts cfg.CABundle's certificates in
// addition to the system's, when it names a file. Without a CA bundle it
// returns base itself (http.DefaultClient if nil).
func HTTPClient(cfg Config, base *http.Client) (*http.Client, error) {
	if base == nil {
		base = http.DefaultClient
	}
	if cfg.CABundle == "" {
		return base, nil
	}
	pool, err := loadCABundle(cfg.CABundle)
	if err != nil {
		return nil, err
	}
	var tr *http.Transport
	switch t := base.Transport.(type) {
	case nil:
		tr = http.DefaultTransport.(*http.Transport).Clone()
	case *http.Transport:
		tr = t.Clone()
	default:
		return nil, fmt.Errorf("s3: cannot add the CA bundle %s to a %T transport", cfg.CABundle, base.Transport)
	}
	if tr.TLSClientConfig == nil {
		tr.TLSClientConfig = &tls.Config{MinVersion: tls.VersionTLS12}
	}
	tr.TLSClientConfig.RootCAs = pool
	c := *base
	c.Transport = tr
	return &c, nil
}

// loadCABundle reads PEM certificates from path, on top of the system
// pool.
func loadCABundle(path string) (*x509.CertPool, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("CA bundle (AWS_CA_BUNDLE or ca_bundle): %w", err)
	}
	defer f.Close()
	pem, err := io.ReadAll(io.LimitReader(f, maxCABundle+1))
	if err != nil {
		return nil, fmt.Errorf("CA bundle %s: %w", path, err)
	}
	if len(pem) > maxCABundle {
		return nil, fmt.Errorf("CA bundle %s is larger than %d bytes", path, maxCABundle)
	}
	pool, err := x509.SystemCertPool()
	if err != nil || pool == nil {
		pool = x509.NewCertPool()
	}
	if !pool.AppendCertsFromPEM(pem) {
		return nil, fmt.Errorf("CA bundle %s holds no PEM certificate", path)
	}
	return pool, nil
}

// Command benchgen makes the inputs of scripts/bench.sh (docs/performance.md) in a
// folder: a store holding 1,000 maintainer keys, one more key to add, a
// root key, and a chart repository of signed releases (index.yaml, archives
// and .prov files, about 60 KB per archive) published with the store's
// governed keyring. With -limits it also measures this machine's limit
// for the audit case: SHA-256 bytes per second and Ed25519 .prov
// verifications per second, one core each.
package main

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"time"

	"github.com/ProtonMail/go-crypto/openpgp/packet"
	openpgp "github.com/ProtonMail/go-crypto/openpgp/v2"
	"github.com/fsouza/fake-gcs-server/fakestorage"
	"golang.org/x/sync/errgroup"

	"github.com/keyctl/keyctl/internal/pgpkey"
	"github.com/keyctl/keyctl/internal/provenance"
	"github.com/keyctl/keyctl/internal/ring"
	"github.com/keyctl/keyctl/internal/testutil/charts"
	"github.com/keyctl/keyctl/policy"
)

func main() {
	out := flag.String("out", "", "folder to write into (created)")
	keys := flag.Int("keys", 1000, "maintainer keys in the store")
	releases := flag.Int("releases", 1300, "signed releases in the repository")
	signers := flag.Int("signers", 10, "how many of the stored keys sign releases")
	padding := flag.Int("padding", 80000, "bytes of incompressible-ish padding per chart (80000 gives ~60 KB archives)")
	limits := flag.Bool("limits", false, "measure SHA-256 and signature-check speed in -out and print them")
	serve := flag.String("serve", "", "serve -out over HTTP with a Go http.FileServer on this address (127.0.0.1:PORT) until killed")
	gcs := flag.String("gcs", "", "serve -out as bucket \"bench\" of an in-process GCS emulator on this address (127.0.0.1:PORT) until killed; point STORAGE_EMULATOR_HOST at it")
	flag.Parse()
	if *out == "" {
		fmt.Fprintln(os.Stderr, "benchgen: -out is required")
		os.Exit(2)
	}
	var err error
	switch {
	case *serve != "":
		err = serveHTTP(*out, *serve)
	case *gcs != "":
		err = serveGCS(*out, *gcs)
	case *limits:
		err = measureLimits(*out)
	default:
		err = generate(*out, *keys, *releases, *signers, *padding)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "benchgen:", err)
		os.Exit(1)
	}
}

func newKey(name string) (*openpgp.Entity, error) {
	return openpgp.NewEntity(name, "", strings.ToLower(strings.ReplaceAll(name, " ", "."))+"@example.org", &packet.Config{
		Algorithm:       packet.PubKeyAlgoEd25519,
		KeyLifetimeSecs: 2 * 365 * 24 * 3600,
	})
}

func publicOnly(e *openpgp.Entity) (*openpgp.Entity, []byte, error) {
	pub, err := pgpkey.SerializePublic(e, true)
	if err != nil {
		return nil, nil, err
	}
	pe, err := pgpkey.ReadCert(pub)
	return pe, pub, err
}

func generate(dir string, nkeys, nrel, nsigners, pad int) error {
	if err := os.MkdirAll(filepath.Join(dir, "repo"), 0o755); err != nil {
		return err
	}
	s, err := ring.Open(filepath.Join(dir, "store.db"), ring.Options{})
	if err != nil {
		return err
	}
	defer s.Close()
	// The root set is made by the command (keyctl root create / init) in
	// bench.sh; here the store is filled with keys only after init.
	if _, err := s.Info(); err != nil {
		return fmt.Errorf("initialize %s with keyctl init first: %w", filepath.Join(dir, "store.db"), err)
	}
	pol := policy.Default()
	lint := func(e *openpgp.Entity, known ring.KeyIDLookup) error {
		if vs := pol.Check(e, time.Now(), known); len(vs) > 0 {
			return vs[0]
		}
		return nil
	}
	var signerKeys []*openpgp.Entity
	for i := 0; i < nkeys; i++ {
		e, err := newKey(fmt.Sprintf("Maintainer %04d", i))
		if err != nil {
			return err
		}
		pe, _, err := publicOnly(e)
		if err != nil {
			return err
		}
		if _, err := s.Add(pe, ring.AddRequest{Reason: "benchmark", Actor: "benchgen"}, lint); err != nil {
			return err
		}
		if i < nsigners {
			signerKeys = append(signerKeys, e)
		}
	}
	extra, err := newKey("Extra Maintainer")
	if err != nil {
		return err
	}
	_, extraPub, err := publicOnly(extra)
	if err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(dir, "extra.pgp"), extraPub, 0o644); err != nil {
		return err
	}

	// The repository: nrel releases over nrel/10 charts, signed round-robin,
	// dated after every key was made (a time taken before could fall in the
	// second before the first signer's creation, which made it no key yet).
	now := time.Now()
	type entry struct{ name, version, file, digest string }
	entries := make([]entry, nrel)
	var g errgroup.Group
	g.SetLimit(runtime.GOMAXPROCS(0))
	for i := 0; i < nrel; i++ {
		i := i
		g.Go(func() error {
			spec := charts.Spec{Name: fmt.Sprintf("app-%03d", i/10), Version: fmt.Sprintf("1.%d.0", i%10), Padding: pad}
			tgz, err := charts.Archive(spec)
			if err != nil {
				return err
			}
			a, err := provenance.ReadArchive(bytes.NewReader(tgz), provenance.Limits{})
			if err != nil {
				return err
			}
			file := fmt.Sprintf("%s-%s.tgz", spec.Name, spec.Version)
			prov, err := provenance.Sign(signerKeys[i%len(signerKeys)], a, file, now)
			if err != nil {
				return err
			}
			if err := os.WriteFile(filepath.Join(dir, "repo", file), tgz, 0o644); err != nil {
				return err
			}
			if err := os.WriteFile(filepath.Join(dir, "repo", file+".prov"), prov, 0o644); err != nil {
				return err
			}
			sum := sha256.Sum256(tgz)
			entries[i] = entry{spec.Name, spec.Version, file, hex.EncodeToString(sum[:])}
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		return err
	}
	var idx strings.Builder
	idx.WriteString("apiVersion: v1\nentries:\n")
	last := ""
	for _, e := range entries {
		if e.name != last {
			fmt.Fprintf(&idx, "  %s:\n", e.name)
			last = e.name
		}
		fmt.Fprintf(&idx, "  - apiVersion: v2\n    name: %s\n    version: %s\n    digest: %s\n    urls:\n    - %s\n    created: %q\n", e.name, e.version, e.digest, e.file, now.UTC().Format(time.RFC3339))
	}
	fmt.Fprintf(&idx, "generated: %q\n", now.UTC().Format(time.RFC3339))
	return os.WriteFile(filepath.Join(dir, "repo", "index.yaml"), []byte(idx.String()), 0o644)
}

func measureLimits(dir string) error {
	// SHA-256 over the repository's archives, one core.
	files, _ := filepath.Glob(filepath.Join(dir, "repo", "*.tgz"))
	if len(files) == 0 {
		return fmt.Errorf("no archives under %s/repo: run benchgen -out %s first", dir, dir)
	}
	var total int64
	var data [][]byte
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			return err
		}
		data = append(data, b)
		total += int64(len(b))
	}
	start := time.Now()
	for _, b := range data {
		sha256.Sum256(b)
	}
	shaSecs := time.Since(start).Seconds()
	// One .prov verification per release: parse and check the signature.
	provs, _ := filepath.Glob(filepath.Join(dir, "repo", "*.prov"))
	pub, err := os.ReadFile(filepath.Join(dir, "repo", "pubkeys.pgp"))
	if err != nil {
		return fmt.Errorf("publish the store to %s/repo first: %w", dir, err)
	}
	ring, err := pgpkey.ReadKeyring(pub, pgpkey.MaxKeyringSize)
	if err != nil {
		return err
	}
	n := len(provs)
	if n > 300 {
		n = 300
	}
	start = time.Now()
	for _, f := range provs[:n] {
		b, err := os.ReadFile(f)
		if err != nil {
			return err
		}
		p, err := provenance.Parse(b)
		if err != nil {
			return err
		}
		if _, err := p.Verify(ring, nil); err != nil {
			return err
		}
	}
	verSecs := time.Since(start).Seconds()
	fmt.Printf("sha256_bytes_per_sec %.0f\n", float64(total)/shaSecs)
	fmt.Printf("prov_verifies_per_sec %.0f\n", float64(n)/verSecs)
	fmt.Printf("archives %d\n", len(files))
	fmt.Printf("archive_bytes %d\n", total)
	fmt.Printf("cores %d\n", runtime.NumCPU())
	return nil
}

// serveHTTP serves dir with net/http's FileServer: keep-alive, many
// connections at once, so that the audit, not the server, is measured.
func serveHTTP(dir, addr string) error {
	if !strings.HasPrefix(addr, "127.0.0.1:") {
		return fmt.Errorf("-serve %s: only 127.0.0.1 addresses", addr)
	}
	return http.ListenAndServe(addr, http.FileServer(http.Dir(dir)))
}

// serveGCS loads every file under dir into bucket "bench" of a
// fake-gcs-server and serves it on addr.
func serveGCS(dir, addr string) error {
	host, port, err := net.SplitHostPort(addr)
	if err != nil || host != "127.0.0.1" {
		return fmt.Errorf("-gcs %s: want 127.0.0.1:PORT", addr)
	}
	var objs []fakestorage.Object
	err = filepath.Walk(dir, func(p string, fi os.FileInfo, err error) error {
		if err != nil || fi.IsDir() {
			return err
		}
		data, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		objs = append(objs, fakestorage.Object{
			ObjectAttrs: fakestorage.ObjectAttrs{BucketName: "bench", Name: filepath.ToSlash(rel)},
			Content:     data,
		})
		return nil
	})
	if err != nil {
		return err
	}
	pn, _ := strconv.Atoi(port)
	root, err := os.MkdirTemp("", "keyctl-bench-gcs-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(root)
	srv, err := fakestorage.NewServerWithOptions(fakestorage.Options{
		InitialObjects: objs, Host: host, Port: uint16(pn), Scheme: "http",
		PublicHost: addr, Writer: io.Discard, StorageRoot: root,
	})
	if err != nil {
		return err
	}
	defer srv.Stop()
	select {}
}

package publish

import (
	"context"
	"errors"
	"io/fs"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/keyctl/keyctl/internal/fail"
)

// serve publishes p to a directory and serves it on 127.0.0.1, with the
// first fails requests answered by status.
func serve(t *testing.T, p Plan, fails int32, status int) (*httptest.Server, *atomic.Int32) {
	t.Helper()
	dir := t.TempDir()
	if err := open(t, dir, nil).Publish(context.Background(), p); err != nil {
		t.Fatal(err)
	}
	var hits atomic.Int32
	fsrv := http.FileServer(http.Dir(dir))
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if hits.Add(1) <= fails {
			http.Error(w, "injected", status)
			return
		}
		if r.URL.Path == "/stream" {
			// No Content-Length: the cap must hold while reading.
			for range 64 {
				w.Write([]byte(strings.Repeat("x", 1024)))
				w.(http.Flusher).Flush()
			}
			return
		}
		fsrv.ServeHTTP(w, r)
	}))
	t.Cleanup(ts.Close)
	if !strings.HasPrefix(ts.URL, "http://127.0.0.1:") {
		t.Fatalf("test server on %s", ts.URL)
	}
	return ts, &hits
}

func TestHTTPGet(t *testing.T) {
	ctx := context.Background()
	p := testPlan(nil, "v1")
	ts, _ := serve(t, p, 0, 0)
	b := open(t, ts.URL+"/", nil)
	checkAll(t, b, p)

	ok, err := b.Exists(ctx, "pubkeys.pgp")
	if err != nil || !ok {
		t.Fatalf("Exists(pubkeys.pgp) = %v, %v", ok, err)
	}
	ok, err = b.Exists(ctx, "missing.pgp")
	if err != nil || ok {
		t.Fatalf("Exists(missing.pgp) = %v, %v", ok, err)
	}

	_, err = b.Get(ctx, "missing.pgp", 100)
	var nf *NotFoundError
	if !errors.Is(err, fs.ErrNotExist) || !errors.As(err, &nf) || !strings.Contains(err.Error(), ts.URL) {
		t.Fatalf("Get(missing) = %v, want not-found naming the location", err)
	}

	n := int64(len(p.Files[0].Data))
	var tl *TooLargeError
	if _, err := b.Get(ctx, "pubkeys.pgp", n-1); !errors.As(err, &tl) {
		t.Fatalf("Get over the limit (Content-Length) = %v", err)
	}
	if _, err := b.Get(ctx, "stream", 10<<10); !errors.As(err, &tl) {
		t.Fatalf("Get over the limit (streamed) = %v", err)
	}
	if got, err := b.Get(ctx, "stream", 64<<10); err != nil || len(got) != 64<<10 {
		t.Fatalf("Get(stream) at the limit: %d bytes, %v", len(got), err)
	}

	err = b.Publish(ctx, testPlan(nil, "v2"))
	if err == nil || !strings.Contains(err.Error(), "read-only") {
		t.Fatalf("Publish to http = %v", err)
	}
}

func TestHTTPRetries(t *testing.T) {
	ctx := context.Background()
	p := testPlan(nil, "v1")
	for _, status := range []int{http.StatusServiceUnavailable, http.StatusTooManyRequests, http.StatusBadGateway} {
		ts, hits := serve(t, p, 2, status)
		b := open(t, ts.URL, nil)
		got, err := b.Get(ctx, "pubkeys.pgp", 1<<20)
		if err != nil || string(got) != string(p.Files[0].Data) {
			t.Fatalf("HTTP %d twice then OK: %q, %v", status, got, err)
		}
		if hits.Load() != 3 {
			t.Fatalf("%d requests, want 3", hits.Load())
		}
	}

	ts, hits := serve(t, p, 1000, http.StatusInternalServerError)
	b := open(t, ts.URL, nil)
	_, err := b.Get(ctx, "pubkeys.pgp", 1<<20)
	if err == nil || !strings.Contains(err.Error(), "kept failing") || !strings.Contains(err.Error(), "HTTP 500") {
		t.Fatalf("always 500: %v", err)
	}
	if hits.Load() != 4 || len(fail.HintsOf(err)) == 0 {
		t.Fatalf("%d requests (want MaxAttempts=4), hints %q", hits.Load(), fail.HintsOf(err))
	}

	// 403 is final.
	ts, hits = serve(t, p, 1000, http.StatusForbidden)
	b = open(t, ts.URL, nil)
	if _, err := b.Get(ctx, "pubkeys.pgp", 1<<20); err == nil || !strings.Contains(err.Error(), "HTTP 403") {
		t.Fatalf("403: %v", err)
	}
	if hits.Load() != 1 {
		t.Fatalf("403 retried: %d requests", hits.Load())
	}
}

func TestHTTPDroppedConnection(t *testing.T) {
	ctx := context.Background()
	var hits atomic.Int32
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if hits.Add(1) <= 2 {
			conn, _, err := w.(http.Hijacker).Hijack()
			if err == nil {
				conn.Close()
			}
			return
		}
		w.Write([]byte("fine"))
	}))
	t.Cleanup(ts.Close)
	got, err := open(t, ts.URL, nil).Get(ctx, "x.json", 100)
	if err != nil || string(got) != "fine" {
		t.Fatalf("after dropped connections: %q, %v", got, err)
	}
}

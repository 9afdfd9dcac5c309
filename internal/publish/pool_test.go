package publish

import (
	"context"
	"net"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
)

// TestGCSKeepsConnections: an audit reads a gs:// bucket 16 objects at a
// time. The driver must keep those connections open between objects:
// with net/http's default of 2 idle connections per host, every round
// after the first opened about 14 new ones (the emulator audit spent a
// fifth of its time on that).
func TestGCSKeepsConnections(t *testing.T) {
	var conns atomic.Int64
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("X-Goog-Generation", "1")
		_, _ = w.Write([]byte("object bytes"))
	}))
	srv.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		if s == http.StateNew {
			conns.Add(1)
		}
	}
	srv.Start()
	defer srv.Close()
	t.Setenv("STORAGE_EMULATOR_HOST", srv.URL)
	b, err := Open(context.Background(), "gs://bucket", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	const inFlight, rounds = 16, 5
	for range rounds {
		var wg sync.WaitGroup
		for range inFlight {
			wg.Go(func() {
				if _, err := b.Get(context.Background(), "index.yaml", 1<<20); err != nil {
					t.Error(err)
				}
			})
		}
		wg.Wait()
	}
	if n := conns.Load(); n > inFlight {
		t.Fatalf("%d connections for %d rounds of %d reads: connections are not kept between reads", n, rounds, inFlight)
	}
}

package revoke

import (
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// A 429/503 storm longer than the retry budget slows the audit down but
// does not turn releases unreachable: throttling answers do not use up
// the attempts.
func TestAuditRateLimitStormSlowsDown(t *testing.T) {
	r := buildRepo(t, 40, 0)
	ks := r.keySet(t, nil)
	var mu sync.Mutex
	left := map[string]int{}
	var throttled atomic.Int32
	url := serve(t, r.dir, func(w http.ResponseWriter, req *http.Request) bool {
		mu.Lock()
		defer mu.Unlock()
		if _, ok := left[req.URL.Path]; !ok {
			left[req.URL.Path] = 6 // more than the 4 attempts
		}
		if left[req.URL.Path] > 0 {
			left[req.URL.Path]--
			throttled.Add(1)
			code := http.StatusTooManyRequests
			if left[req.URL.Path]%2 == 0 {
				code = http.StatusServiceUnavailable
			}
			http.Error(w, "slow down", code)
			return true
		}
		return false
	})
	rep := audit(t, url, ks, nil)
	if rep.Counts[Unreachable] != 0 {
		t.Fatalf("a rate-limit storm made releases unreachable: %v", rep.Counts)
	}
	for _, rel := range r.releases {
		if res := byKey(rep)[rel.key()]; res.Status != r.want(rel) {
			t.Errorf("%s %s: %s, want %s", rel.chart, rel.version, res.Status, r.want(rel))
		}
	}
	if throttled.Load() < 6*40 {
		t.Fatalf("only %d throttled answers", throttled.Load())
	}
}

// Retry-After is waited out, and by every worker: while the server has
// asked for a pause, no other request reaches it.
func TestAuditHonoursRetryAfter(t *testing.T) {
	r := buildRepo(t, 20, 0)
	ks := r.keySet(t, nil)
	var mu sync.Mutex
	var pausedAt time.Time
	var early atomic.Int32
	url := serve(t, r.dir, func(w http.ResponseWriter, req *http.Request) bool {
		// Every answer takes a while, so that without the pause the
		// workers would still be sending throughout the window below.
		defer time.Sleep(60 * time.Millisecond)
		mu.Lock()
		defer mu.Unlock()
		// Requests already in flight when the 429 went out, or sent before
		// a loaded client got to read it, land in the first moments of the
		// pause; after half a second the client has long seen the answer,
		// and no worker may send until the second is up.
		if since := time.Since(pausedAt); !pausedAt.IsZero() && since > 500*time.Millisecond && since < 900*time.Millisecond {
			early.Add(1)
		}
		if pausedAt.IsZero() && strings.HasSuffix(req.URL.Path, ".prov") {
			pausedAt = time.Now()
			w.Header().Set("Retry-After", "1")
			http.Error(w, "slow down", http.StatusTooManyRequests)
			return true
		}
		return false
	})
	start := time.Now()
	rep := audit(t, url, ks, func(o *Options) { o.Concurrency = 4 })
	if rep.Counts[Unreachable] != 0 {
		t.Fatalf("counts %v", rep.Counts)
	}
	if el := time.Since(start); el < time.Second {
		t.Fatalf("audit took %s: Retry-After: 1 was not waited out", el)
	}
	// One straggler per worker at most (a worker descheduled between its
	// gate check and its request); the other 30-odd objects may not come.
	if n := early.Load(); n > 4 {
		t.Fatalf("%d requests late in the pause the server asked for", n)
	}
}

// Throttling is bounded: a server that never stops answering 429 makes
// the release unreachable after MaxThrottle, not never.
func TestAuditThrottleIsBounded(t *testing.T) {
	r := buildRepo(t, 3, 0)
	ks := r.keySet(t, nil)
	url := serve(t, r.dir, func(w http.ResponseWriter, req *http.Request) bool {
		if strings.HasSuffix(req.URL.Path, ".prov") {
			w.Header().Set("Retry-After", "86400")
			http.Error(w, "slow down", http.StatusTooManyRequests)
			return true
		}
		return false
	})
	start := time.Now()
	rep := audit(t, url, ks, func(o *Options) { o.MaxThrottle = 50 * time.Millisecond })
	if el := time.Since(start); el > 10*time.Second {
		t.Fatalf("a day-long Retry-After held the audit for %s", el)
	}
	if rep.Counts[Unreachable] != 3 {
		t.Fatalf("counts %v, want 3 unreachable", rep.Counts)
	}
	for _, res := range rep.Results {
		if !strings.Contains(res.Detail, "kept asking to slow down") {
			t.Fatalf("detail %q", res.Detail)
		}
	}
}

// The default client keeps connections alive: an audit opens about as many
// connections as it runs fetches at once, not one per object.
func TestAuditReusesConnections(t *testing.T) {
	r := buildRepo(t, 200, 2000)
	ks := r.keySet(t, nil)
	var conns atomic.Int32
	srv := httptest.NewUnstartedServer(http.FileServer(http.Dir(r.dir)))
	srv.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		if s == http.StateNew {
			conns.Add(1)
		}
	}
	srv.Start()
	t.Cleanup(srv.Close)
	rep := audit(t, srv.URL, ks, func(o *Options) { o.Concurrency = 8 })
	if rep.Counts[Unreachable] != 0 {
		t.Fatalf("counts %v", rep.Counts)
	}
	if n := conns.Load(); n > 16 {
		t.Fatalf("%d connections for 400 objects at concurrency 8: keep-alive is not working", n)
	}
}

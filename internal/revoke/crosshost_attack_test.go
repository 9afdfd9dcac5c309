package revoke

import (
	"context"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// Attack (the repository host, or whoever writes an UNSIGNED index.yaml):
// docs/verify.md (Signed index) says that without index keys "the same-host
// rule stands": chart URLs on other hosts are followed only from a signed
// index. keyctl audit (revoke.Audit, no IndexTrust) resolves each chart URL
// and fetches it wherever it points: only redirects are held to the
// repository's host. A protocol-relative URL ("//other-host/...") is
// worse: client.ResolveReference keeps the repository URL's query (a
// signed-URL token, "?token=...") on the resolved URL, so the token the
// auditor gave for the repository is sent to the other host.
func TestAttackAuditUnsignedIndexCrossHostLeaksToken(t *testing.T) {
	r := buildRepo(t, 2, 0)
	ks := r.keySet(t, nil)
	files := http.FileServer(http.Dir(r.dir))
	var mu sync.Mutex
	var otherReqs []string
	other := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		mu.Lock()
		otherReqs = append(otherReqs, req.URL.String())
		mu.Unlock()
		files.ServeHTTP(w, req)
	}))
	defer other.Close()
	repo := httptest.NewServer(files)
	defer repo.Close()

	// The unsigned index.yaml points at the other host, protocol-relative.
	idxPath := filepath.Join(r.dir, "index.yaml")
	idx, err := os.ReadFile(idxPath)
	if err != nil {
		t.Fatal(err)
	}
	otherHost := strings.TrimPrefix(other.URL, "http://")
	if err := os.WriteFile(idxPath, []byte(strings.ReplaceAll(string(idx), "- charts/", "- //"+otherHost+"/charts/")), 0o644); err != nil {
		t.Fatal(err)
	}
	rep, err := Audit(context.Background(), Options{Repository: repo.URL + "/?token=s3cret-repo-token", Keys: ks, Now: func() time.Time { return auditNow }, Retries: 1})
	mu.Lock()
	defer mu.Unlock()
	if len(otherReqs) > 0 {
		leaked := 0
		for _, u := range otherReqs {
			if strings.Contains(u, "s3cret-repo-token") {
				leaked++
			}
		}
		t.Errorf("audit of an unsigned index.yaml fetched %d chart URLs from another host (%s), %d of them carrying the repository's token, e.g. %s",
			len(otherReqs), otherHost, leaked, otherReqs[0])
	}
	if err == nil {
		for _, res := range rep.Results {
			if res.Status == Trusted {
				t.Errorf("%s %s fetched from another host through an unsigned index.yaml: trusted", res.Chart, res.Version)
			}
		}
	}
}

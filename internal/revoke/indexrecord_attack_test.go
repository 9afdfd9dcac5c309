package revoke

import (
	"context"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	openpgp "github.com/ProtonMail/go-crypto/openpgp/v2"

	"github.com/keyctl/keyctl/internal/client"
	"github.com/keyctl/keyctl/internal/indexsig"
)

// Attack (anyone who can read the auditor's state folder, e.g. a backup or
// a shared CI cache): a repository reached with a token as its user name
// (https://TOKEN@host/charts, as GitHub and GitLab hand out; publish hides
// it as "xxxxx" for exactly that reason) is audited under a signed index.
// revoke.Audit names the location by url.Redacted(), which hides only a
// password, and IndexTrust.Check writes that name into the signed index
// record (repo-<hash>.index.json, "location"): the token is stored in
// clear. Rule (COMMON rules, docs/verify.md State): no secrets are ever
// stored.
func TestAttackAuditIndexRecordStoresToken(t *testing.T) {
	r := buildRepo(t, 1, 0)
	ks := r.keySet(t, nil)
	ik := newMaintainer(t, "ci-index", false)
	idx, err := os.ReadFile(filepath.Join(r.dir, "index.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	s, err := indexsig.New("charts.example.org", idx, nil, auditNow.Add(-time.Hour), 7*24*time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	data, sig, err := indexsig.Sign(s, ik.secret)
	if err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(r.dir, indexsig.Name), data, 0o644)
	os.WriteFile(filepath.Join(r.dir, indexsig.SigName), sig, 0o644)
	srv := httptest.NewServer(http.FileServer(http.Dir(r.dir)))
	defer srv.Close()

	state := t.TempDir()
	const token = "ghp_s3cretTokenValue"
	loc := strings.Replace(srv.URL, "http://", "http://"+token+"@", 1)
	it := &client.IndexTrust{Keys: openpgp.EntityList{ik.public}, Repository: "charts.example.org", Now: auditNow}
	_, _ = Audit(context.Background(), Options{Repository: loc, Keys: ks, IndexTrust: it, StateDir: state, Now: func() time.Time { return auditNow }, Retries: 1})
	ents, err := os.ReadDir(state)
	if err != nil {
		t.Fatal(err)
	}
	recorded := false
	for _, e := range ents {
		if !strings.HasSuffix(e.Name(), ".index.json") {
			continue
		}
		recorded = true
		b, _ := os.ReadFile(filepath.Join(state, e.Name()))
		if strings.Contains(string(b), token) {
			t.Errorf("the signed index record %s stores the repository token in clear:\n%s", e.Name(), b)
		}
	}
	if !recorded {
		t.Fatal("fixture: no signed index record was written")
	}
}

package s3

import (
	"os/exec"
	"strings"
	"testing"
)

// TestStandardLibraryOnly keeps this package free of the AWS SDK (and of
// any module): its reason to exist is a start-up without their package
// initialisation (docs/performance.md).
func TestStandardLibraryOnly(t *testing.T) {
	out, err := exec.Command("go", "list", "-deps", "-f", "{{if not .Standard}}{{.ImportPath}}{{end}}", ".").Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	for _, p := range strings.Fields(string(out)) {
		if p != "github.com/keyctl/keyctl/internal/s3" {
			t.Errorf("internal/s3 links %s", p)
		}
	}
}

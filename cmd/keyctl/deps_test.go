package main

import (
	"os/exec"
	"strings"
	"testing"
)

// TestClientDoesNotLinkCloudSDKs: every keyctl command pays for the
// package initialisation of everything linked into the binary. The GCS
// client library (cloud.google.com/go/storage) brings gRPC's xDS and the
// envoy protobuf registries, about 300 packages, and gocloud.dev links
// gRPC's core, protobuf and OpenTelemetry; internal/publish serves its
// locations through its own small drivers instead, and s3:// through
// internal/s3 rather than the AWS SDK v2, whose endpoint tables and smithy
// middleware were a measurable part of start-up (docs/performance.md,
// Start-up).
func TestClientDoesNotLinkCloudSDKs(t *testing.T) {
	goBin, err := exec.LookPath("go")
	if err != nil {
		t.Fatalf("the go command is needed to list keyctl's dependencies: %v", err)
	}
	out, err := exec.Command(goBin, "list", "-deps", "github.com/keyctl/keyctl/cmd/keyctl").CombinedOutput()
	if err != nil {
		t.Fatalf("go list: %v\n%s", err, out)
	}
	for _, p := range strings.Fields(string(out)) {
		for _, bad := range []string{"cloud.google.com/go/storage", "gocloud.dev/", "google.golang.org/grpc", "google.golang.org/protobuf", "go.opentelemetry.io/", "github.com/envoyproxy/", "github.com/cncf/xds", "github.com/aws/"} {
			if p == bad || strings.HasPrefix(p, bad) {
				t.Errorf("keyctl links %s", p)
			}
		}
	}
}

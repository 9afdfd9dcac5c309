package client

import (
	"context"
	"strings"
	"testing"

	"github.com/keyctl/keyctl/internal/fail"
	"github.com/keyctl/keyctl/internal/oci"
	"github.com/keyctl/keyctl/internal/provenance"
)

// TestCheckOCIArchive is the documented answer for re-tags and renamed
// repositories (docs/verify.md): the reference must name the release the
// archive is.
func TestCheckOCIArchive(t *testing.T) {
	const dig = "sha256:0000000000000000000000000000000000000000000000000000000000000000"
	ar := &provenance.Archive{Name: "mychart", Version: "1.2.0+build.5"}
	for _, tc := range []struct {
		ref, want string // want: "" trusted, else a phrase of the refusal
	}{
		{"oci://r.example/charts/mychart:1.2.0_build.5", ""},
		{"oci://r.example/charts/mychart:1.2.0+build.5", "not a valid OCI reference"},
		{"oci://r.example/charts/mychart@" + dig, ""},
		{"oci://r.example/charts/mychart:stable", "a tag moved to another version (re-tag)"},
		{"oci://r.example/charts/mychart:1.2.0", "a tag moved to another version (re-tag)"},
		{"oci://r.example/charts/renamed:1.2.0_build.5", "copied to a repository of another name"},
		{"oci://r.example/charts/renamed@" + dig, "copied to a repository of another name"},
	} {
		ref, err := oci.ParseRef(tc.ref, false)
		if err != nil {
			if tc.want == "not a valid OCI reference" {
				continue
			}
			t.Fatalf("%s: %v", tc.ref, err)
		}
		if tc.want == "not a valid OCI reference" {
			t.Fatalf("%s parsed", tc.ref)
		}
		err = CheckOCIArchive(ref, dig, ar)
		switch {
		case tc.want == "" && err != nil:
			t.Errorf("%s: %v", tc.ref, err)
		case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want) || fail.KindOf(err) != fail.Untrusted):
			t.Errorf("%s: %v, want an untrusted refusal saying %q", tc.ref, err, tc.want)
		}
	}
}

// TestCheckOCIArchiveUnderscoreVersion: a tag names one version, read as
// Helm reads it ('_' is '+', oci.TagHoldsVersion, audit's rule too): an
// archive of version "1.0.0_1" (not SemVer) under the tag "1.0.0_1" (which
// names 1.0.0+1) is refused, with a message that says why; by digest the
// archive's own version stands.
func TestCheckOCIArchiveUnderscoreVersion(t *testing.T) {
	const dig = "sha256:0000000000000000000000000000000000000000000000000000000000000000"
	ar := &provenance.Archive{Name: "app", Version: "1.0.0_1"}
	ref, err := oci.ParseRef("oci://r.example/charts/app:1.0.0_1", false)
	if err != nil {
		t.Fatal(err)
	}
	err = CheckOCIArchive(ref, dig, ar)
	if err == nil || fail.KindOf(err) != fail.Untrusted || !strings.Contains(err.Error(), "names version 1.0.0+1") ||
		!strings.Contains(strings.Join(fail.HintsOf(err), " "), "@"+dig) {
		t.Fatalf("version 1.0.0_1 under the tag 1.0.0_1: %v %v", err, fail.HintsOf(err))
	}
	if ref, _ = oci.ParseRef("oci://r.example/charts/app@"+dig, false); CheckOCIArchive(ref, dig, ar) != nil {
		t.Error("by digest")
	}
	for tag, v := range map[string]string{"1.0.0_1": "1.0.0+1", "1.0.0": "1.0.0", "1.0.0-rc.1_b.2": "1.0.0-rc.1+b.2"} {
		if !oci.TagHoldsVersion(tag, v) || oci.TagForVersion(v) != tag {
			t.Errorf("tag %s, version %s", tag, v)
		}
	}
	if oci.TagHoldsVersion("1.0.0_1", "1.0.0_1") {
		t.Error("the tag 1.0.0_1 holds version 1.0.0_1")
	}
}

// TestVerifyNeedsOneSource: a request names exactly one chart, and an
// oci:// chart needs a registry client.
func TestVerifyNeedsOneSource(t *testing.T) {
	ctx := context.Background()
	for _, src := range []Source{{}, {File: "a.tgz", OCI: "oci://h/p/c:1"}, {Chart: "c", OCI: "oci://h/p/c:1"}} {
		if _, err := Verify(ctx, VerifyRequest{Source: src}); err == nil || fail.KindOf(err) != fail.Input {
			t.Errorf("%+v: %v", src, err)
		}
	}
	_, err := Verify(ctx, VerifyRequest{Source: Source{OCI: "oci://127.0.0.1:1/p/c:1.0.0"}})
	if err == nil || !strings.Contains(err.Error(), "no registry client") {
		t.Errorf("oci:// without a registry client: %v", err)
	}
	_, err = Verify(ctx, VerifyRequest{Repo: Options{Location: "oci://127.0.0.1:1/p"}, Source: Source{Chart: "c"}})
	if err == nil || !strings.Contains(err.Error(), "no registry client") {
		t.Errorf("REPO/CHART in a registry without a registry client: %v", err)
	}
}

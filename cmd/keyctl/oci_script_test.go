package main

import (
	"os"
	"testing"

	"github.com/rogpeppe/go-internal/testscript"

	"github.com/keyctl/keyctl/internal/testutil/ociregistry"
)

// registryCmd starts the real OCI registry for the script:
//
//	registry VAR [USER PASSWORD]
//
// sets $VAR to its 127.0.0.1:PORT; with USER and PASSWORD it asks for
// htpasswd basic auth. It stops when the script ends.
func registryCmd(t *testing.T) func(ts *testscript.TestScript, neg bool, args []string) {
	return func(ts *testscript.TestScript, neg bool, args []string) {
		if neg || (len(args) != 1 && len(args) != 3) {
			ts.Fatalf("usage: registry VAR [USER PASSWORD]")
		}
		var o ociregistry.Options
		if len(args) == 3 {
			o.User, o.Password = args[1], args[2]
		}
		r := ociregistry.Start(&scriptTB{TB: t, ts: ts}, o)
		ts.Setenv(args[0], r.Host)
	}
}

// ocitagCmd points a tag at what another reference names, as a registry
// user with push rights can (a re-tag, a copy to another repository, a
// rollback of `current`):
//
//	ocitag HOST/REPO:REF HOST/REPO2:TAG
func ocitagCmd(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 2 {
		ts.Fatalf("usage: ocitag HOST/REPO:REF HOST/REPO2:TAG")
	}
	// ociregistry.Copy calls only Helper, Fatal and Fatalf, which
	// scriptTB implements on the script.
	ociregistry.Copy(&scriptTB{ts: ts}, args[0], args[1])
}

// scriptTB lets ociregistry.Start (written for tests) run inside a script:
// cleanups run when the script ends, failures fail the script.
type scriptTB struct {
	testing.TB
	ts *testscript.TestScript
}

func (s *scriptTB) Helper() {}
func (s *scriptTB) TempDir() string {
	d, err := os.MkdirTemp(s.ts.MkAbs("."), ".registry-")
	s.ts.Check(err)
	return d
}
func (s *scriptTB) Cleanup(f func())               { s.ts.Defer(f) }
func (s *scriptTB) Fatal(args ...any)              { s.ts.Fatalf("%v", args...) }
func (s *scriptTB) Fatalf(format string, a ...any) { s.ts.Fatalf(format, a...) }
func (s *scriptTB) Skipf(format string, a ...any)  { s.ts.Fatalf(format, a...) }
func (s *scriptTB) Logf(format string, a ...any)   { s.ts.Logf(format, a...) }

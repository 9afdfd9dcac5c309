// Command verifyonly is a measuring tool, not a product: the verify that
// `keyctl verify ARCHIVE --repo DIR --root FPR --state DIR` runs, with no
// command line around it, so that docs/performance.md can tell what
// internal/client and its dependencies cost a process from what the rest
// of keyctl (cobra, viper, the team lead's commands) adds.
//
//	go run ./scripts/verifyonly ARCHIVE REPO ROOT-FINGERPRINT STATE-DIR
package main

import (
	"context"
	"fmt"
	"os"

	"github.com/keyctl/keyctl/internal/client"
	"github.com/keyctl/keyctl/internal/root"
)

func main() {
	if len(os.Args) != 5 {
		fmt.Fprintln(os.Stderr, "usage: verifyonly ARCHIVE REPO ROOT-FINGERPRINT STATE-DIR")
		os.Exit(2)
	}
	v, err := client.Verify(context.Background(), client.VerifyRequest{
		Repo: client.Options{Location: os.Args[2], StateDir: os.Args[4],
			Pins: root.Pins{Fingerprints: []string{os.Args[3]}, Threshold: 1}},
		Source: client.Source{File: os.Args[1]},
	})
	if err != nil {
		fmt.Fprintln(os.Stderr, "verifyonly:", err)
		os.Exit(1)
	}
	if !v.Trusted {
		fmt.Println("not trusted")
		os.Exit(1)
	}
	fmt.Println("trusted")
}

package policy_test

import (
	"fmt"
	"os"
	"time"

	openpgp "github.com/ProtonMail/go-crypto/openpgp/v2"

	"github.com/keyctl/keyctl/policy"
)

func ExampleKeyPolicy_Check() {
	// An RSA-2048 key that never expires, made by gpg (see its Comment header).
	f, err := os.Open("testdata/example-key.asc")
	if err != nil {
		fmt.Println(err)
		return
	}
	defer f.Close()
	keys, err := openpgp.ReadArmoredKeyRing(f)
	if err != nil {
		fmt.Println(err)
		return
	}
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

	for _, v := range policy.Default().Check(keys[0], now, nil) {
		fmt.Println(v.Error())
		fmt.Println("  setting:", v.Setting)
		fmt.Println("  fix:", v.Fix)
	}

	// A repository that allows RSA-2048 and keys without expiry, from the
	// "policy:" section of its configuration file.
	lenient, err := policy.FromMap(map[string]any{"min_rsa_bits": 2048, "require_expiry": false})
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println("lenient policy:", len(lenient.Check(keys[0], now, nil)), "violations")

	// Output:
	// key E357B1DC89BBBD3E is RSA-2048, below 3072 bits (rule rsa-too-small)
	//   setting: policy.min_rsa_bits = 3072
	//   fix: make an RSA-3072+ or Ed25519 key: gpg --quick-gen-key 'NAME <EMAIL>' ed25519 sign 2y
	// key E357B1DC89BBBD3E never expires (rule no-expiry)
	//   setting: policy.require_expiry = true
	//   fix: set an expiry: gpg --quick-set-expire C3F626E5704FED169D672F08E357B1DC89BBBD3E 2y, then give keyctl the new copy
	// lenient policy: 0 violations
}

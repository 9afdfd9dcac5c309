package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ProtonMail/go-crypto/openpgp/packet"
	openpgp "github.com/ProtonMail/go-crypto/openpgp/v2"
	"github.com/keyctl/keyctl/internal/pgpkey"
)

// TestConfigPrecedence: a flag beats a KEYCTL_ variable, which beats the
// config file (command-scoped key first, then top level), which beats the
// default; the policy section changes the key policy.
func TestConfigPrecedence(t *testing.T) {
	dir := t.TempDir()
	t.Setenv("XDG_CONFIG_HOME", filepath.Join(dir, "xdg"))
	storeA, storeB, storeC := filepath.Join(dir, "a.db"), filepath.Join(dir, "b.db"), filepath.Join(dir, "c.db")
	rk, rp := filepath.Join(dir, "root.key"), filepath.Join(dir, "root.pub")
	mustKC(t, "root", "create", "--name", "r", "--secret-out", rk, "--public-out", rp, "--no-passphrase")
	for _, s := range []string{storeA, storeB, storeC} {
		mustKC(t, "--store", s, "init", "--repository", "charts.example.org", "--root-key", rp)
	}
	cfg := filepath.Join(dir, "keyctl.yaml")
	write := func(body string) {
		if err := os.WriteFile(cfg, []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	write("store: " + storeA + "\noutput: json\nlist:\n  all: true\n")
	mustKC(t, "--store", storeA, "add", maintainerKey(t, dir, "alice"), "--reason", "r")
	mustKC(t, "--store", storeA, "add", maintainerKey(t, dir, "gone"), "--reason", "r")
	var gone []map[string]any
	json.Unmarshal([]byte(mustKC(t, "--store", storeA, "-o", "json", "list")), &gone)
	for _, k := range gone {
		if strings.Contains(k["user_ids"].([]any)[0].(string), "gone") {
			mustKC(t, "--store", storeA, "remove", k["fingerprint"].(string), "--reason", "retired")
		}
	}

	// Config file: store and output from the top level, --all from the
	// list section (so the removed key is listed too).
	out := mustKC(t, "--config", cfg, "list")
	var keys []map[string]any
	if err := json.Unmarshal([]byte(out), &keys); err != nil || len(keys) != 2 {
		t.Fatalf("config store/output: %v\n%s", err, out)
	}
	// The variable beats the file.
	t.Setenv("KEYCTL_STORE", storeB)
	out = mustKC(t, "--config", cfg, "list")
	if strings.TrimSpace(out) != "[]" {
		t.Fatalf("KEYCTL_STORE did not win over the config file: %s", out)
	}
	// The flag beats the variable.
	t.Setenv("KEYCTL_OUTPUT", "text")
	out = mustKC(t, "--config", cfg, "--store", storeA, "list")
	if !strings.Contains(out, "FINGERPRINT") || !strings.Contains(out, "alice") {
		t.Fatalf("flag --store with KEYCTL_OUTPUT=text: %s", out)
	}
	os.Unsetenv("KEYCTL_STORE")
	os.Unsetenv("KEYCTL_OUTPUT")

	// The policy section: an RSA-2048 key is refused by default and taken
	// with min_rsa_bits: 2048; an unsafe or unknown setting is refused.
	small := rsaKey(t, dir, "small", 2048)
	if _, errOut, code := kc(t, nil, "--store", storeC, "add", small, "--reason", "r"); code != 1 || !strings.Contains(errOut, "rsa-too-small") {
		t.Fatalf("RSA-2048 under the default policy: exit %d %s", code, errOut)
	}
	write("policy:\n  min_rsa_bits: 2048\n")
	mustKC(t, "--config", cfg, "--store", storeC, "add", small, "--reason", "r")
	write("policy:\n  min_rsa_bits: 1024\n")
	if _, errOut, code := kc(t, nil, "--config", cfg, "--store", storeC, "check", small); code != 2 || !strings.Contains(errOut, "policy") {
		t.Fatalf("unsafe policy setting: exit %d %s", code, errOut)
	}
	write("policy:\n  min_rsa_bitz: 4096\n")
	if _, errOut, code := kc(t, nil, "--config", cfg, "--store", storeC, "check", small); code != 2 || !strings.Contains(errOut, "min_rsa_bitz") {
		t.Fatalf("unknown policy setting: exit %d %s", code, errOut)
	}
	// A config file that is not YAML is an input error with a hint.
	write("store: [unclosed\n")
	if _, errOut, code := kc(t, nil, "--config", cfg, "list"); code != 2 || !strings.Contains(errOut, "cannot read config file") {
		t.Fatalf("broken config file: exit %d %s", code, errOut)
	}
}

// rsaKey writes a fresh RSA maintainer public key of the given size.
func rsaKey(t *testing.T, dir, name string, bits int) string {
	t.Helper()
	e, err := openpgp.NewEntity(name, "", name+"@example.org", &packet.Config{Algorithm: packet.PubKeyAlgoRSA, RSABits: bits, KeyLifetimeSecs: 365 * 24 * 3600})
	if err != nil {
		t.Fatal(err)
	}
	pub, err := pgpkey.SerializePublic(e, true)
	if err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(dir, name+".pgp")
	if err := os.WriteFile(p, pub, 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// TestWitnessesNotFromWritableConfig: a witness requirement is a trust
// setting like the pins: a config file others may write must not set it
// (they could drop it).
func TestWitnessesNotFromWritableConfig(t *testing.T) {
	dir := t.TempDir()
	cfg := filepath.Join(dir, "keyctl.yaml")
	if err := os.WriteFile(cfg, []byte("witness-threshold: 0\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(cfg, 0o666); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"witness-threshold", "verify.witness", "audit.witness_threshold"} {
		if err := checkConfigMode(cfg, []string{k}); err == nil || !strings.Contains(err.Error(), "witnesses") {
			t.Errorf("%s from a world-writable config: %v", k, err)
		}
	}
	if err := checkConfigMode(cfg, []string{"store", "output"}); err != nil {
		t.Errorf("settings that choose no trust refused: %v", err)
	}
}

// TestRootSetPinNotFromWritableConfig: the root set pin and the threshold
// that goes with --root fingerprints choose which roots keyctl trusts, as
// the fingerprints do: whoever can write the config file must not set them.
func TestRootSetPinNotFromWritableConfig(t *testing.T) {
	dir := t.TempDir()
	cfg := filepath.Join(dir, "keyctl.yaml")
	if err := os.WriteFile(cfg, []byte("root-set: sha256:00\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(cfg, 0o666); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"root-set", "verify.root-set", "audit.root_set", "threshold", "verify.threshold", "root.sign.root-set"} {
		if err := checkConfigMode(cfg, []string{k}); err == nil || !strings.Contains(err.Error(), "writable by group or others") {
			t.Errorf("%s from a world-writable config: %v", k, err)
		}
	}
}

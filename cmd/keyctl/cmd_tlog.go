package main

import (
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/spf13/cobra"
	"golang.org/x/mod/sumdb/note"

	"github.com/keyctl/keyctl/internal/client"
	"github.com/keyctl/keyctl/internal/fail"
	"github.com/keyctl/keyctl/internal/publish"
	"github.com/keyctl/keyctl/internal/root"
	"github.com/keyctl/keyctl/internal/tlog"
)

// maxKeyFile caps a log or witness key file.
const maxKeyFile = 4 << 10

func readKeyFile(path, what string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", fail.Inputf("cannot read the %s %s", what, path).Wrap(errors.Unwrap(err))
	}
	defer f.Close()
	buf, err := io.ReadAll(io.LimitReader(f, maxKeyFile+1))
	if err != nil {
		return "", fail.Inputf("cannot read the %s %s", what, path).Wrap(err)
	}
	if len(buf) > maxKeyFile {
		return "", fail.Inputf("the %s %s is larger than %d bytes", what, path, maxKeyFile)
	}
	return strings.TrimSpace(string(buf)), nil
}

// readLogSigner reads a log secret key file.
func readLogSigner(path string) (note.Signer, error) {
	s, err := readKeyFile(path, "log key file")
	if err != nil {
		return nil, err
	}
	return tlog.NewLogSigner(s)
}

// readLogPublic reads a log public key: a file holding the vkey.
func readLogPublic(path string) (string, error) {
	s, err := readKeyFile(path, "log public key file")
	if err != nil {
		return "", err
	}
	if strings.HasPrefix(s, "PRIVATE+") {
		return "", fail.Inputf("%s holds a secret key; the root set takes the public one", path).
			WithHint("give the file written by keyctl log-key create --public-out")
	}
	if err := root.ValidLogKey(s); err != nil {
		return "", err
	}
	return s, nil
}

// keyOrFile takes a vkey given literally or as a file holding it.
func keyOrFile(s string) (string, error) {
	if fileExists(s) {
		return readKeyFile(s, "public key file")
	}
	return s, nil
}

func fileExists(p string) bool {
	_, err := os.Stat(p)
	return err == nil
}

func (a *app) writeKeyPair(secretOut, publicOut, skey, vkey string) error {
	as, _ := filepath.Abs(secretOut)
	ap, _ := filepath.Abs(publicOut)
	if as == ap {
		return fail.Inputf("--secret-out and --public-out name the same file")
	}
	if _, err := os.Lstat(publicOut); err == nil {
		return fail.Inputf("%s already exists; keyctl will not overwrite a key file", publicOut)
	}
	if err := writeSecret(secretOut, []byte(skey+"\n")); err != nil {
		return err
	}
	pf, err := os.OpenFile(publicOut, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
	if err != nil {
		return fail.Inputf("cannot write %s", publicOut).Wrap(err)
	}
	if _, err := pf.WriteString(vkey + "\n"); err != nil {
		pf.Close()
		return fail.Inputf("cannot write %s", publicOut).Wrap(err)
	}
	return pf.Close()
}

// keyPairCmd describes a command that makes a note key pair (a log key, a
// witness key) and writes it to --secret-out and --public-out.
type keyPairCmd struct {
	use, short, example, nameDoc string
	gen                          func(name string) (skey, vkey string, err error)
	report                       func(name, vkey, secretOut, publicOut string) error
}

func (a *app) keyPairCmd(k keyPairCmd) *cobra.Command {
	var name, secretOut, publicOut string
	c := &cobra.Command{
		Use:   k.use,
		Short: k.short,
		RunE: func(cmd *cobra.Command, args []string) error {
			if name == "" || secretOut == "" || publicOut == "" {
				return fail.Inputf("--name, --secret-out and --public-out are required").WithHint("e.g. " + k.example)
			}
			skey, vkey, err := k.gen(name)
			if err != nil {
				return err
			}
			if err := a.writeKeyPair(secretOut, publicOut, skey, vkey); err != nil {
				return err
			}
			return k.report(name, vkey, secretOut, publicOut)
		},
	}
	f := c.Flags()
	f.StringVar(&name, "name", "", k.nameDoc)
	f.StringVar(&secretOut, "secret-out", "", "where to write the secret key (0600, never overwritten)")
	f.StringVar(&publicOut, "public-out", "", "where to write the public key")
	return c
}

func (a *app) newLogKeyCmd() *cobra.Command {
	c := &cobra.Command{
		Use:   "log-key",
		Short: "Transparency log keys (see docs/manifest.md, section Transparency log)",
	}
	create := a.keyPairCmd(keyPairCmd{
		use:     "create --name ORIGIN --secret-out FILE --public-out FILE",
		short:   "Make the key that signs the repository's log checkpoints (held online by the publisher)",
		example: "keyctl log-key create --name charts.example.org/keyctl-log --secret-out log.key --public-out log.pub",
		nameDoc: "the log's origin, e.g. charts.example.org/keyctl-log",
		gen:     tlog.GenerateLogKey,
		report: func(name, vkey, secretOut, publicOut string) error {
			if a.json() {
				return a.printJSON(map[string]any{"log": name, "public_key": vkey, "secret_out": secretOut, "public_out": publicOut})
			}
			tprintf(a.stdout, "log key %s\n", vkey)
			tprintf(a.stdout, "secret key: %s (mode 0600; the publisher needs it: keyctl publish --log-key %s)\n", secretOut, secretOut)
			tprintf(a.stdout, "public key: %s (name it in the root set: keyctl init --log-key %s, or keyctl root rotate --log-key %s)\n", publicOut, publicOut, publicOut)
			return nil
		},
	})
	c.AddCommand(create)
	return c
}

func (a *app) newWitnessCmd() *cobra.Command {
	c := &cobra.Command{
		Use:   "witness",
		Short: "Run a witness for another repository's transparency log (see docs/verify.md, section Witnesses)",
	}
	keygen := a.keyPairCmd(keyPairCmd{
		use:     "keygen --name NAME --secret-out FILE --public-out FILE",
		short:   "Make a witness key (C2SP tlog-cosignature/v1)",
		example: "keyctl witness keygen --name witness.example.com --secret-out witness.key --public-out witness.pub",
		nameDoc: "the witness's name, e.g. witness.example.com",
		gen:     tlog.GenerateWitnessKey,
		report: func(name, vkey, _, _ string) error {
			if a.json() {
				return a.printJSON(map[string]any{"witness": name, "public_key": vkey})
			}
			tprintf(a.stdout, "witness key %s\n", vkey)
			tprintf(a.stdout, "clients require it with: keyctl verify ... --witness %s\n", vkey)
			return nil
		},
	})

	var repo, logKey, keyFile, state, out, to string
	cosign := &cobra.Command{
		Use:   "cosign --repo URL --log-key VKEY --key FILE --state DIR [--out FILE] [--to URL]",
		Short: "Check the log is consistent with the last checkpoint cosigned, then cosign the newest",
		Long: `cosign reads the newest checkpoint of the repository's transparency log, checks
that it extends the last checkpoint this witness cosigned (kept in --state), and
cosigns it. The cosigned checkpoint goes to --out (or stdout), or straight into the
repository's checkpoint with --to (for a witness that may write there).
On an inconsistent log it cosigns nothing, saves both checkpoints under --state
and exits 1 (see docs/runbook.md, section monitor raised an alarm).`,
		RunE: func(cmd *cobra.Command, args []string) error {
			if repo == "" || logKey == "" || keyFile == "" || state == "" {
				return fail.Inputf("--repo, --log-key, --key and --state are required")
			}
			lk, err := keyOrFile(logKey)
			if err != nil {
				return err
			}
			sk, err := readKeyFile(keyFile, "witness key file")
			if err != nil {
				return err
			}
			ctx := context.Background()
			b, err := publish.Open(ctx, repo, nil)
			if err != nil {
				return err
			}
			defer b.Close()
			res, err := client.Witness(ctx, client.WitnessOptions{Bucket: b, Log: lk, Key: sk, StateDir: state, Now: a.now})
			if err != nil {
				if res != nil && res.Evidence != "" {
					a.warn("evidence saved in %s", res.Evidence)
				}
				return err
			}
			if to != "" {
				tb, err := publish.Open(ctx, to, nil)
				if err != nil {
					return err
				}
				defer tb.Close()
				// Its own cosignature, checked under its own public key.
				signer, err := tlog.NewWitnessSigner(sk)
				if err != nil {
					return err
				}
				if _, err := client.AddCosignatures(ctx, tb, lk, []string{signer.Verifier().String()}, [][]byte{res.Cosigned}); err != nil {
					return err
				}
			}
			if out != "" {
				if err := os.WriteFile(out, res.Cosigned, 0o644); err != nil {
					return fail.Inputf("cannot write %s", out).Wrap(errors.Unwrap(err))
				}
			}
			if a.json() {
				return a.printJSON(map[string]any{"log": res.Origin, "size": res.Size, "from": res.From, "cosigned": string(res.Cosigned)})
			}
			if out == "" && to == "" {
				// The note itself, a line at a time: each line escaped, the
				// line breaks kept, so that it can be redirected to a file
				// and given to keyctl witness add.
				for _, line := range strings.SplitAfter(string(res.Cosigned), "\n") {
					if line != "" {
						tprintf(a.stdout, "%s\n", strings.TrimSuffix(line, "\n"))
					}
				}
				return nil
			}
			tprintf(a.stdout, "cosigned %s at size %d (consistent with size %d cosigned before)\n", res.Origin, res.Size, res.From)
			return nil
		},
	}
	cf := cosign.Flags()
	cf.StringVar(&repo, "repo", "", "the repository's location")
	cf.StringVar(&logKey, "log-key", "", "the log's public key (vkey, or a file holding it), as its root set names it")
	cf.StringVar(&keyFile, "key", "", "the witness secret key file")
	cf.StringVar(&state, "state", "", "witness state folder (keeps the last checkpoint cosigned)")
	cf.StringVar(&out, "out", "", "write the cosigned checkpoint to this file")
	cf.StringVar(&to, "to", "", "add the cosignature to the checkpoint published at this location")

	var addTo, addLog string
	var addWitnesses []string
	add := &cobra.Command{
		Use:   "add --to URL --log-key VKEY --witness VKEY... COSIGNED...",
		Short: "Add witness cosignatures to the published checkpoint (run by the publisher)",
		Args:  cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if addTo == "" || addLog == "" {
				return fail.Inputf("--to and --log-key are required")
			}
			if len(addWitnesses) == 0 {
				// Unchecked lines could carry another witness's name (a
				// line that fails cancels nothing, but past 100 lines the
				// note no longer opens at all): only what verifies is added.
				return fail.Inputf("--witness is required: the public key of each witness whose cosignatures are added").
					WithHint("e.g. keyctl witness add --to URL --log-key log.pub --witness w.pub cosigned.txt; lines by other keys, or that do not verify, are dropped")
			}
			lk, err := keyOrFile(addLog)
			if err != nil {
				return err
			}
			var notes [][]byte
			for _, p := range args {
				b, err := readKeyFile(p, "cosigned checkpoint")
				if err != nil {
					return err
				}
				notes = append(notes, []byte(b+"\n"))
			}
			ctx := context.Background()
			b, err := publish.Open(ctx, addTo, nil)
			if err != nil {
				return err
			}
			defer b.Close()
			var wks []string
			for _, w := range addWitnesses {
				k, err := keyOrFile(w)
				if err != nil {
					return err
				}
				wks = append(wks, k)
			}
			h, err := client.AddCosignatures(ctx, b, lk, wks, notes)
			if err != nil {
				return err
			}
			if a.json() {
				return a.printJSON(map[string]any{"log": h.Origin, "size": h.N})
			}
			tprintf(a.stdout, "checkpoint of %s (size %d) now carries the cosignatures given\n", h.Origin, h.N)
			return nil
		},
	}
	af := add.Flags()
	af.StringVar(&addTo, "to", "", "the repository's bucket")
	af.StringVar(&addLog, "log-key", "", "the log's public key (vkey, or a file holding it)")
	af.StringArrayVar(&addWitnesses, "witness", nil, "a witness's public key (vkey, or a file holding it), repeatable: only valid cosignatures by these witnesses are added")
	c.AddCommand(keygen, cosign, add)
	return c
}

func (a *app) newMonitorCmd() *cobra.Command {
	var repo, rootSet, state string
	var roots, witnesses []string
	var threshold, witnessThreshold int
	c := &cobra.Command{
		Use:   "monitor --repo URL (--root-set sha256:HEX | --root FPR... [--threshold N]) [--state DIR] [--witness VKEY... --witness-threshold N]",
		Short: "Walk the repository's transparency log and report every keyring change",
		Long: `monitor walks the whole transparency log, or what was appended since its last
run (kept in --state), verifies every logged manifest under the pinned root history
and every consistency proof, and reports each change: key added, removed (with its
reason), restored, scope changed, root rotated. Run it from cron and read what it
prints: a key you do not know is an alarm.

With --witness and --witness-threshold (the witnesses your clients require; by
default those of the repository entry), the checkpoint it checks must carry that
many of their cosignatures: clients that require them trust only trees the
witnesses cosigned, so a tree they did not cosign is not known to be the one those
clients see. Run it after the witnesses (see docs/verify.md, section Monitoring).

Exit status: 0 consistent, 1 inconsistent or unverifiable log (both checkpoints are
saved under --state; see docs/runbook.md, section monitor raised an alarm), 2 usage
or I/O error.`,
		RunE: func(cmd *cobra.Command, args []string) error {
			if repo == "" {
				return fail.Inputf("--repo is required")
			}
			pins := root.Pins{Fingerprints: roots, Threshold: threshold}
			if rootSet != "" {
				h, err := root.ParseRootSetPin(rootSet)
				if err != nil {
					return err
				}
				pins.RootSetSHA256 = h
			}
			if e, err := a.findRepo(repo); err != nil {
				return err
			} else if e != nil {
				repo = e.URL
				if !cmd.Flags().Changed("witness") && !cmd.Flags().Changed("witness-threshold") && len(e.Witnesses) > 0 {
					witnesses, witnessThreshold = e.Witnesses, e.WitnessThreshold
				}
				if len(pins.Fingerprints) == 0 && pins.RootSetSHA256 == "" {
					pins = root.Pins{Fingerprints: e.Roots, Threshold: e.Threshold}
					if e.RootSet != "" {
						if pins.RootSetSHA256, err = root.ParseRootSetPin(e.RootSet); err != nil {
							return err
						}
					}
				}
			}
			var wkeys []string
			for _, w := range witnesses {
				k, err := keyOrFile(w)
				if err != nil {
					return err
				}
				wkeys = append(wkeys, k)
			}
			if witnessThreshold < 0 {
				return fail.Inputf("--witness-threshold %d is negative", witnessThreshold)
			}
			ctx := context.Background()
			b, err := publish.Open(ctx, repo, nil)
			if err != nil {
				return err
			}
			defer b.Close()
			rep, err := client.Monitor(ctx, client.MonitorOptions{Bucket: b, Pins: pins, StateDir: state, Now: a.now,
				Witnesses: wkeys, WitnessThreshold: witnessThreshold})
			if rep != nil {
				if a.json() {
					doc := map[string]any{"report": rep, "consistent": err == nil}
					if err != nil {
						doc["error"] = err.Error()
					}
					if perr := a.printJSON(doc); perr != nil {
						return perr
					}
				} else {
					a.printMonitor(rep)
				}
				if rep.Evidence != "" {
					a.warn("evidence (both checkpoints) saved in %s", rep.Evidence)
				}
			}
			return err
		},
	}
	f := c.Flags()
	f.StringVar(&repo, "repo", "", "repository: a name from keyctl repo add, or its location")
	f.StringVar(&rootSet, "root-set", "", "pinned root set hash, sha256:HEX")
	f.StringSliceVar(&roots, "root", nil, "pinned root fingerprint (repeatable), with --threshold")
	f.IntVar(&threshold, "threshold", 0, "the root set's threshold, with --root (default 1)")
	f.StringVar(&state, "state", "", "monitor state folder: where the last run stopped, and evidence")
	witnessFlags(c, &witnesses, &witnessThreshold)
	return c
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }

func (a *app) printMonitor(rep *client.MonitorReport) {
	if rep.Next > 0 {
		tprintf(a.stdout, "log %s at %s: entries %d to %d checked, %d not yet (the next run goes on)\n", rep.Origin, rep.Location, rep.From, rep.Next, rep.Size-rep.Next)
	} else {
		tprintf(a.stdout, "log %s at %s: entries %d to %d checked\n", rep.Origin, rep.Location, rep.From, rep.Size)
	}
	if len(rep.Witnesses) > 0 {
		tprintf(a.stdout, "  checkpoint cosigned by %d of the named witnesses\n", len(rep.Witnesses))
	}
	for _, e := range rep.Events {
		line := "  #" + itoa(e.Index) + " v" + itoa(int64(e.Version)) + " " + e.Kind
		if e.Fingerprint != "" {
			line += " " + e.Fingerprint
		}
		if e.Subkey != "" {
			line += " subkey=" + e.Subkey
		}
		if e.Role != "" && (e.Role != "maintainer" || e.OldRole != "") { // text names the unusual role only
			line += " role=" + e.Role
		}
		if e.OldRole != "" {
			line += " was-role=" + e.OldRole
		}
		if e.Reason != "" {
			line += " reason=" + e.Reason
		}
		if len(e.Scopes) > 0 {
			line += " scopes=" + strings.Join(e.Scopes, ",")
		}
		if len(e.OldScopes) > 0 {
			line += " was=" + strings.Join(e.OldScopes, ",")
		}
		if e.Effective != "" {
			line += " effective=" + e.Effective + " was=" + e.OldEffective
		}
		if e.Detail != "" {
			line += " (" + e.Detail + ")"
		}
		tprintln(a.stdout, line)
	}
	if len(rep.Events) == 0 {
		tprintln(a.stdout, "  no keyring change")
	}
}

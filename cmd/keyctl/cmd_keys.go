package main

import (
	"fmt"
	"strings"
	"text/tabwriter"
	"time"

	openpgp "github.com/ProtonMail/go-crypto/openpgp/v2"
	"github.com/spf13/cobra"

	"github.com/keyctl/keyctl/internal/fail"
	"github.com/keyctl/keyctl/internal/pgpkey"
	"github.com/keyctl/keyctl/internal/ring"
	"github.com/keyctl/keyctl/internal/root"
	"github.com/keyctl/keyctl/policy"
)

// keyPolicy is the key policy: defaults, changed by the config file's
// "policy:" section.
func (a *app) keyPolicy() (policy.KeyPolicy, error) {
	if a.v == nil || !a.v.IsSet("policy") {
		return policy.Default(), nil
	}
	p, err := policy.FromMap(a.v.GetStringMap("policy"))
	if err != nil {
		return p, fail.Inputf("the config file's policy section is not valid").Wrap(err)
	}
	return p, nil
}

// readCert reads one certificate file, refusing junk with a clear message.
func (a *app) readCert(name string) (*openpgp.Entity, error) {
	data, err := a.readInput(name, pgpkey.MaxCertSize)
	if err != nil {
		return nil, err
	}
	e, err := pgpkey.ReadCert(data)
	if err != nil {
		return nil, fail.Inputf("%s is not a usable OpenPGP key", name).Wrap(err).
			WithHint("give one public key, armored or binary, e.g. from: gpg --armor --export FPR")
	}
	return e, nil
}

// violationsError turns policy violations into one error with a hint per rule.
func violationsError(fpr string, vs []policy.Violation) error {
	if len(vs) == 0 {
		return nil
	}
	lines := make([]string, 0, len(vs))
	var hints []string
	for _, v := range vs {
		lines = append(lines, v.Error())
		h := v.Fix
		if v.Setting != "" {
			h = fmt.Sprintf("%s (setting: %s)", v.Fix, v.Setting)
		}
		if h != "" {
			hints = append(hints, h)
		}
	}
	msg := fmt.Sprintf("key %s breaks the key policy", pgpkey.KeyIDOfFingerprint(fpr))
	if len(vs) == 1 {
		msg = lines[0]
	} else {
		msg += ":\n" + strings.Join(lines, "\n")
	}
	return (&fail.Error{Kind: fail.Untrusted, Msg: msg}).WithHint(hints...)
}

func (a *app) linter() (ring.Linter, error) {
	p, err := a.keyPolicy()
	if err != nil {
		return nil, err
	}
	now := a.now()
	return func(e *openpgp.Entity, known ring.KeyIDLookup) error {
		return violationsError(pgpkey.Fingerprint(e), p.Check(e, now, known))
	}, nil
}

// lintedCert reads one certificate file and the linter that judges it,
// the first steps of add and update.
func (a *app) lintedCert(file string) (*openpgp.Entity, ring.Linter, error) {
	e, err := a.readCert(file)
	if err != nil {
		return nil, nil, err
	}
	lint, err := a.linter()
	if err != nil {
		return nil, nil, err
	}
	return e, lint, nil
}

func (a *app) newAddCmd() *cobra.Command {
	var req ring.AddRequest
	c := &cobra.Command{
		Use:   "add KEYFILE [--role maintainer|index]",
		Short: "Lint a maintainer (or index) key against the policy and store its public part",
		Long: `add lints a key against the key policy, stores its public part and logs who added it and why.

A key has a role, fixed when it is added:
  maintainer (default)  signs charts; published in pubkeys.pgp
  index                 signs keyctl-index.json over the repository's index.yaml (keyctl index sign,
                        in CI); never makes a chart trusted; published in indexkeys.pgp, never in
                        pubkeys.pgp, so helm verify --keyring pubkeys.pgp refuses what it signs

  keyctl add alice.asc --reason 'new maintainer, approved in #123'
  keyctl add ci-index.asc --role index --reason 'CI signs the index (docs/verify.md)'`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			e, lint, err := a.lintedCert(args[0])
			if err != nil {
				return err
			}
			s, err := a.openStore(false)
			if err != nil {
				return err
			}
			defer s.Close()
			req.Actor = a.who()
			k, err := s.Add(e, req, lint)
			if err != nil {
				return err
			}
			if a.json() {
				return a.printJSON(keyView(k))
			}
			tprintf(a.stdout, "added %s %s\n", k.Fingerprint, firstUID(k))
			if k.RoleOf() == ring.Index {
				tprintln(a.stdout, "  role index: it signs keyctl-index.json (keyctl index sign), never a chart; published in "+root.IndexKeysFile)
			}
			return nil
		},
	}
	f := c.Flags()
	f.StringVar(&req.Reason, "reason", "", "why this key may sign (required)")
	f.StringVar((*string)(&req.Role), "role", "maintainer", "maintainer (signs charts) or index (signs keyctl-index.json, never a chart)")
	f.StringSliceVar(&req.Scopes, "scope", nil, "chart-name glob the key may sign (repeatable; none: every chart)")
	f.StringVar(&req.Ticket, "ticket", "", "ticket or approval reference")
	f.StringVar(&req.RequestedBy, "requested-by", "", "who asked for the key to be added")
	return c
}

func (a *app) newUpdateCmd() *cobra.Command {
	var reason, ticket string
	c := &cobra.Command{
		Use:   "update KEYFILE",
		Short: "Take in a newer copy of a stored key (extended expiry, new subkey or user ID)",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			e, lint, err := a.lintedCert(args[0])
			if err != nil {
				return err
			}
			s, err := a.openStore(false)
			if err != nil {
				return err
			}
			defer s.Close()
			res, err := s.Update(e, reason, ticket, a.who(), lint)
			if err != nil {
				return err
			}
			if a.json() {
				return a.printJSON(map[string]any{"key": keyView(res.Key), "changes": res.Changes})
			}
			tprintf(a.stdout, "updated %s: %s\n", res.Key.Fingerprint, strings.Join(res.Changes, "; "))
			tprintln(a.stdout, "the next keyctl publish carries the new copy to helm verify users")
			return nil
		},
	}
	c.Flags().StringVar(&reason, "reason", "", "why (required)")
	c.Flags().StringVar(&ticket, "ticket", "", "ticket or approval reference")
	return c
}

func (a *app) newRemoveCmd() *cobra.Command {
	var reason, effective, ticket, note, revocation string
	c := &cobra.Command{
		Use:   "remove FPR",
		Short: "Move a key to the removed set (compromised, retired or superseded); nothing is deleted",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if reason == "" {
				return fail.Inputf("--reason is required").WithHint("use --reason compromised, retired or superseded")
			}
			r, err := ring.ParseReason(reason)
			if err != nil {
				return err
			}
			req := ring.RemoveRequest{Reason: r, Ticket: ticket, Note: note, Actor: a.who()}
			if effective != "" {
				if r == ring.Compromised {
					a.warn("--effective is ignored for compromised keys: every signature by the key is untrusted")
				} else if req.Effective, err = parseTime(effective, a.now()); err != nil {
					return err
				}
			}
			if revocation != "" {
				if req.Revocation, err = a.readInput(revocation, pgpkey.MaxCertSize); err != nil {
					return err
				}
			}
			s, err := a.openStore(false)
			if err != nil {
				return err
			}
			defer s.Close()
			k, err := s.Remove(args[0], req)
			if err != nil {
				return err
			}
			if a.json() {
				return a.printJSON(keyView(k))
			}
			tprintf(a.stdout, "removed %s (%s", k.Fingerprint, k.Removal.Reason)
			if r != ring.Compromised {
				tprintf(a.stdout, ", effective %s", k.Removal.Effective.Format(time.RFC3339))
			}
			tprintln(a.stdout, ")")
			if r == ring.Compromised {
				tprintln(a.stdout, "next: keyctl publish, then keyctl audit --repo URL --key "+k.Fingerprint)
			}
			return nil
		},
	}
	f := c.Flags()
	f.StringVar(&reason, "reason", "", "compromised (hard), retired or superseded (soft)")
	f.StringVar(&effective, "effective", "", "for retired/superseded: when the key stopped being trusted (RFC 3339 or YYYY-MM-DD; default now)")
	f.StringVar(&ticket, "ticket", "", "ticket or incident reference")
	f.StringVar(&note, "note", "", "free text kept with the removal")
	f.StringVar(&revocation, "revocation", "", "the key's own revocation certificate, kept with the key in revoked.pgp")
	return c
}

func parseTime(s string, now time.Time) (time.Time, error) {
	for _, layout := range []string{time.RFC3339, "2006-01-02T15:04:05", "2006-01-02"} {
		if t, err := time.Parse(layout, s); err == nil {
			return t.UTC(), nil
		}
	}
	return time.Time{}, fail.Inputf("%q is not a time", s).WithHint("use RFC 3339 (2026-11-28T12:00:00Z) or a date (2026-11-28)")
}

// keyJSON is the documented -o json form of a stored key (docs/json.md).
type keyJSON struct {
	ring.Key
	Cert any `json:"cert,omitempty"`
}

func keyView(k *ring.Key) keyJSON { return keyJSON{Key: *k} }

func firstUID(k *ring.Key) string {
	if len(k.UserIDs) > 0 {
		return k.UserIDs[0]
	}
	return ""
}

func fmtTimePtr(t *time.Time) string {
	if t == nil {
		return "never"
	}
	return t.Format("2006-01-02")
}

func (a *app) newListCmd() *cobra.Command {
	var all bool
	c := &cobra.Command{
		Use:   "list",
		Short: "List the keys and their roles (active; --all adds removed ones)",
		RunE: func(cmd *cobra.Command, args []string) error {
			s, err := a.openStore(true)
			if err != nil {
				return err
			}
			defer s.Close()
			keys, err := s.List(all)
			if err != nil {
				return err
			}
			if a.json() {
				out := make([]keyJSON, 0, len(keys))
				for _, k := range keys {
					out = append(out, keyView(k))
				}
				return a.printJSON(out)
			}
			if len(keys) == 0 {
				tprintln(a.stdout, "no keys")
				return nil
			}
			tw := tabwriter.NewWriter(a.stdout, 0, 4, 2, ' ', 0)
			tprintf(tw, "FINGERPRINT\tROLE\tSTATUS\tALGORITHM\tEXPIRES\tSCOPES\tUSER ID\n")
			for _, k := range keys {
				status := string(k.Status)
				if k.Removal != nil {
					status += " (" + string(k.Removal.Reason) + ")"
				}
				scopes := strings.Join(k.Scopes, ",")
				if scopes == "" {
					scopes = "*"
				}
				if k.RoleOf() == ring.Index {
					scopes = "-"
				}
				tprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", k.Fingerprint, k.RoleOf(), status, k.Algorithm, fmtTimePtr(k.Expires), scopes, firstUID(k))
			}
			return tw.Flush()
		},
	}
	c.Flags().BoolVar(&all, "all", false, "include removed keys")
	return c
}

func (a *app) newShowCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "show FPR",
		Short: "Show one stored key",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			s, err := a.openStore(true)
			if err != nil {
				return err
			}
			defer s.Close()
			k, err := s.Get(args[0])
			if err != nil {
				return err
			}
			if a.json() {
				return a.printJSON(keyView(k))
			}
			w := a.stdout
			tprintf(w, "fingerprint  %s\n", k.Fingerprint)
			tprintf(w, "key id       %s\n", k.KeyID)
			for i, u := range k.UserIDs {
				label := "user id     "
				if i > 0 {
					label = "            "
				}
				tprintf(w, "%s %s\n", label, u)
			}
			tprintf(w, "algorithm    %s\n", k.Algorithm)
			tprintf(w, "created      %s\n", k.Created.Format(time.RFC3339))
			tprintf(w, "expires      %s\n", fmtTimePtr(k.Expires))
			for _, sk := range k.SigningKeys {
				role := "subkey"
				if sk.Primary {
					role = "primary"
				}
				tprintf(w, "signs with   %s %s (%s, expires %s)\n", sk.KeyID, sk.Algorithm, role, fmtTimePtr(sk.Expires))
			}
			if len(k.SigningKeys) == 0 {
				tprintln(w, "signs with   nothing valid now")
			}
			tprintf(w, "status       %s\n", k.Status)
			tprintf(w, "role         %s\n", k.RoleOf())
			scopes := strings.Join(k.Scopes, ", ")
			if scopes == "" {
				scopes = "every chart"
			}
			if k.RoleOf() == ring.Index {
				scopes = "none: an index key signs keyctl-index.json, never a chart"
			}
			tprintf(w, "scopes       %s\n", scopes)
			tprintf(w, "added        %s by %s: %s\n", k.Added.Format(time.RFC3339), k.AddedBy, k.Reason)
			if k.Ticket != "" {
				tprintf(w, "ticket       %s\n", k.Ticket)
			}
			if k.RequestedBy != "" {
				tprintf(w, "requested by %s\n", k.RequestedBy)
			}
			if k.Removal != nil {
				tprintf(w, "removed      %s by %s: %s, effective %s\n", k.Removal.Time.Format(time.RFC3339), k.Removal.By, k.Removal.Reason, k.Removal.Effective.Format(time.RFC3339))
			}
			return nil
		},
	}
}

func (a *app) newLogCmd() *cobra.Command {
	var verify bool
	c := &cobra.Command{
		Use:   "log",
		Short: "Print the append-only change log (--verify checks its hash chain and that it explains every stored record)",
		RunE: func(cmd *cobra.Command, args []string) error {
			s, err := a.openStore(true)
			if err != nil {
				return err
			}
			defer s.Close()
			if verify {
				n, err := s.VerifyLog()
				if err != nil {
					return err
				}
				if a.json() {
					return a.printJSON(map[string]any{"verified": true, "records": n})
				}
				tprintf(a.stdout, "change log verified: %d records, hash chain intact, every key and ledger record explained\n", n)
				return nil
			}
			recs, err := s.Log()
			if err != nil {
				return err
			}
			if a.json() {
				return a.printJSON(recs)
			}
			tw := tabwriter.NewWriter(a.stdout, 0, 4, 2, ' ', 0)
			tprintf(tw, "SEQ\tTIME\tACTION\tKEY\tREASON\tACTOR\tDETAIL\n")
			for _, r := range recs {
				key := r.Fingerprint
				if key == "" {
					key = "-"
				}
				reason := r.Reason
				if r.Ticket != "" {
					reason += " [" + r.Ticket + "]"
				}
				detail := r.Detail
				if r.Role != "" {
					detail = strings.TrimSpace("role " + string(r.Role) + " " + detail)
				}
				tprintf(tw, "%d\t%s\t%s\t%s\t%s\t%s\t%s\n", r.Seq, r.Time.Format(time.RFC3339), r.Action, key, reason, r.Actor, detail)
			}
			return tw.Flush()
		},
	}
	c.Flags().BoolVar(&verify, "verify", false, "check the hash chain and that every key and ledger record is what the log explains; exit 1 naming the first that is not")
	return c
}

func (a *app) newCheckCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "check KEYFILE",
		Short: "Run the key policy alone on a key file",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			e, err := a.readCert(args[0])
			if err != nil {
				return err
			}
			p, err := a.keyPolicy()
			if err != nil {
				return err
			}
			var known ring.KeyIDLookup
			if s, err := a.openStore(true); err == nil {
				defer s.Close()
				known = s
			}
			vs := p.Check(e, a.now(), known)
			fpr := pgpkey.Fingerprint(e)
			if a.json() {
				if err := a.printJSON(map[string]any{"fingerprint": fpr, "accepted": len(vs) == 0, "violations": vs}); err != nil {
					return err
				}
				if len(vs) > 0 {
					return &fail.Error{Kind: fail.Untrusted, Msg: fmt.Sprintf("key %s breaks the key policy", fpr)}
				}
				return nil
			}
			if err := violationsError(fpr, vs); err != nil {
				return err
			}
			tprintf(a.stdout, "key %s passes the key policy\n", fpr)
			return nil
		},
	}
}

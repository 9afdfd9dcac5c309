package provenance

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"path/filepath"
	"strings"
)

// helmIgnore reproduces Helm's .helmignore rules (helm.sh/helm/v3/pkg/ignore,
// unchanged in Helm 4), quirks included: rules are tried in order and the
// first match decides; a negated rule ("!x") that does NOT match a path
// ignores it; "**" is refused; a rule without "/" matches the base name, a
// rule with "/" the whole path, a leading "/" anchors it, a trailing "/"
// makes it match directories only. The package is reimplemented rather than
// imported because it depends on github.com/pkg/errors and lives in Helm's
// module.
type helmIgnore struct {
	patterns []ignorePattern
}

type ignorePattern struct {
	rule    string // with "!", trailing "/" and leading "/" removed
	negate  bool
	mustDir bool
	base    bool // match the base name only
}

const maxIgnoreRules = 10000

func parseHelmIgnore(r io.Reader) (*helmIgnore, error) {
	ig := &helmIgnore{}
	s := bufio.NewScanner(r)
	first := true
	for s.Scan() {
		line := s.Bytes()
		if first {
			line = bytes.TrimPrefix(line, utf8BOM)
			first = false
		}
		if err := ig.add(string(line)); err != nil {
			return nil, err
		}
		if len(ig.patterns) > maxIgnoreRules {
			return nil, errors.New(".helmignore has too many rules")
		}
	}
	return ig, s.Err()
}

// addDefaults adds Helm's default rule: dot files directly in templates/.
func (ig *helmIgnore) addDefaults() {
	_ = ig.add(`templates/.?*`)
}

func (ig *helmIgnore) add(rule string) error {
	rule = strings.TrimSpace(rule)
	if rule == "" || strings.HasPrefix(rule, "#") {
		return nil
	}
	if strings.Contains(rule, "**") {
		return errors.New(".helmignore: double-star (**) syntax is not supported")
	}
	if _, err := filepath.Match(rule, "abc"); err != nil {
		return errors.New(".helmignore: bad pattern " + rule + ": " + err.Error())
	}
	p := ignorePattern{}
	if strings.HasPrefix(rule, "!") {
		p.negate = true
		rule = rule[1:]
	}
	if strings.HasSuffix(rule, "/") {
		p.mustDir = true
		rule = strings.TrimSuffix(rule, "/")
	}
	switch {
	case strings.HasPrefix(rule, "/"):
		rule = strings.TrimPrefix(rule, "/")
	case strings.Contains(rule, "/"):
	default:
		p.base = true
	}
	p.rule = rule
	ig.patterns = append(ig.patterns, p)
	return nil
}

func (p ignorePattern) match(name string) bool {
	if p.base {
		name = filepath.Base(name)
	}
	ok, err := filepath.Match(p.rule, name)
	return err == nil && ok
}

// ignore reports whether path (slash-separated, relative to the chart
// directory) is ignored.
func (ig *helmIgnore) ignore(path string, isDir bool) bool {
	if path == "" || path == "." || path == "./" {
		return false
	}
	for _, p := range ig.patterns {
		if p.negate {
			if p.mustDir && !isDir {
				return true
			}
			if !p.match(path) {
				return true
			}
			continue
		}
		if p.mustDir && !isDir {
			continue
		}
		if p.match(path) {
			return true
		}
	}
	return false
}

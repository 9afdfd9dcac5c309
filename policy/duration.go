package policy

import (
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"
)

// Day and Year are the units Duration adds to Go's. A year is 365.25 days,
// so that a key set to expire N calendar years out (gpg, or Sequoia's
// default of three years) fits in "Ny".
const (
	Day  = 24 * time.Hour
	Year = 365*Day + 6*time.Hour
)

// maxDurationText bounds the text ParseDuration reads; no sensible setting is
// longer.
const maxDurationText = 64

// Duration is a time span that reads and prints the short forms people write
// in configuration files: "3y", "365d", "2w", "72h", or any Go duration such
// as "1h30m". It marshals to and from text (JSON, YAML) in that form.
type Duration time.Duration

// ParseDuration reads "Ny", "Nw", "Nd" (N a whole number) or a Go duration.
// Negative values are refused.
func ParseDuration(s string) (Duration, error) {
	if len(s) > maxDurationText {
		return 0, fmt.Errorf("duration is longer than %d characters", maxDurationText)
	}
	t := strings.TrimSpace(s)
	if t == "" {
		return 0, errors.New("empty duration")
	}
	if t == "0" {
		return 0, nil
	}
	if strings.HasPrefix(t, "-") {
		return 0, fmt.Errorf("duration %q is negative", s)
	}
	var unit time.Duration
	switch t[len(t)-1] {
	case 'y':
		unit = Year
	case 'w':
		unit = 7 * Day
	case 'd':
		unit = Day
	}
	if unit != 0 {
		n, err := strconv.ParseUint(t[:len(t)-1], 10, 63)
		if err != nil {
			return 0, fmt.Errorf("duration %q: want a whole number before %q", s, t[len(t)-1:])
		}
		if n > uint64(math.MaxInt64/int64(unit)) {
			return 0, fmt.Errorf("duration %q is too long", s)
		}
		return Duration(time.Duration(n) * unit), nil
	}
	d, err := time.ParseDuration(t)
	if err != nil {
		return 0, fmt.Errorf("duration %q: want a number with a unit, such as 3y, 365d, 2w or 72h", s)
	}
	if d < 0 {
		return 0, fmt.Errorf("duration %q is negative", s)
	}
	return Duration(d), nil
}

// String prints a form ParseDuration reads back to the same value: whole
// years as "3y", whole days as "90d" (so 72 hours print as "3d"), anything
// else in Go's form ("1h30m0s").
func (d Duration) String() string {
	td := time.Duration(d)
	switch {
	case td == 0:
		return "0"
	case td < 0:
		return td.String()
	case td%Year == 0:
		return strconv.FormatInt(int64(td/Year), 10) + "y"
	case td%Day == 0:
		return strconv.FormatInt(int64(td/Day), 10) + "d"
	}
	return td.String()
}

// MarshalText writes the short form.
func (d Duration) MarshalText() ([]byte, error) { return []byte(d.String()), nil }

// UnmarshalText reads any form ParseDuration accepts.
func (d *Duration) UnmarshalText(b []byte) error {
	v, err := ParseDuration(string(b))
	if err != nil {
		return err
	}
	*d = v
	return nil
}

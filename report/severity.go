package report

import (
	"fmt"
	"strings"
)

// Severity ranks a finding. The zero value is not a valid severity: every
// finding must say how bad it is.
type Severity int

// Severities, least to most severe.
const (
	Info Severity = iota + 1
	Warning
	Critical
)

// Severities lists every severity, least to most severe.
var Severities = []Severity{Info, Warning, Critical}

var severityNames = map[Severity]string{Info: "info", Warning: "warning", Critical: "critical"}

func (s Severity) String() string {
	if n, ok := severityNames[s]; ok {
		return n
	}
	return fmt.Sprintf("severity(%d)", int(s))
}

// ParseSeverity accepts info, warning or critical (any case).
func ParseSeverity(s string) (Severity, error) {
	for sev, n := range severityNames {
		if strings.EqualFold(s, n) {
			return sev, nil
		}
	}
	return 0, fmt.Errorf("unknown severity %q (want info, warning or critical)", s)
}

// MarshalText writes the severity's name, so JSON carries "warning", not 2.
func (s Severity) MarshalText() ([]byte, error) {
	if _, ok := severityNames[s]; !ok {
		return nil, fmt.Errorf("invalid severity %d", int(s))
	}
	return []byte(s.String()), nil
}

// UnmarshalText is the inverse of MarshalText.
func (s *Severity) UnmarshalText(b []byte) error {
	v, err := ParseSeverity(string(b))
	if err != nil {
		return err
	}
	*s = v
	return nil
}

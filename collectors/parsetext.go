package collectors

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"
)

// Helpers the /proc parsers share, so every malformed file is described
// the same way: the file, the line, the field, and what is wrong with it.

// parseCount parses a counter written in base (10 or 16) that must fit in
// bits. The error says what is wrong with the text: not a number,
// negative, or too large.
func parseCount(s string, base, bits int) (uint64, error) {
	v, err := strconv.ParseUint(s, base, bits)
	if err == nil {
		return v, nil
	}
	switch {
	case strings.HasPrefix(s, "-") && len(s) > 1 && isBaseDigits(s[1:], base):
		return 0, fmt.Errorf("%q is negative; a counter never is", s)
	case errors.Is(err, strconv.ErrRange):
		return 0, fmt.Errorf("%q does not fit in %d bits", s, bits)
	case base == 16:
		return 0, fmt.Errorf("%q is not hexadecimal", s)
	}
	return 0, fmt.Errorf("%q is not a number", s)
}

func isBaseDigits(s string, base int) bool {
	for _, r := range s {
		if !(r >= '0' && r <= '9' || base == 16 && (r >= 'a' && r <= 'f' || r >= 'A' && r <= 'F')) {
			return false
		}
	}
	return s != ""
}

// checkText fails a line that is not printable text: a file that holds
// binary data (a corrupt mount, the wrong file bind-mounted) is named as
// such instead of being parsed into nonsense.
func checkText(path string, line int, s string) error {
	if !utf8.ValidString(s) {
		return parseErr(path, line, "binary data where text was expected")
	}
	for _, r := range s {
		if !unicode.IsPrint(r) && r != '\t' {
			return parseErr(path, line, "binary data where text was expected")
		}
	}
	return nil
}

// emptyFile is the error for a kernel file with nothing in it: the kernel
// always writes these, so a zero-length one is a broken mount or copy.
func emptyFile(path string) error {
	return parseErr(path, 0, "empty file; the kernel always writes this file, so the mount or copy it came from is broken")
}

// noCounters is the error for a file whose lines hold no counter at all.
func noCounters(path string) error {
	return parseErr(path, 0, "no counters in the file; the kernel always writes some, so the mount or copy it came from is broken")
}

// sysctlText are the settings that hold a word, not integers.
var sysctlText = map[string]bool{"net/core/default_qdisc": true, "net/ipv4/tcp_congestion_control": true}

// sysctlArity is how many integers a setting holds, when more than one.
var sysctlArity = map[string]int{"net/ipv4/tcp_rmem": 3, "net/ipv4/tcp_wmem": 3, "net/ipv4/tcp_mem": 3,
	"net/ipv4/udp_mem": 3, "net/ipv4/ip_local_port_range": 2}

// checkSysctl checks a setting's value (raw as read, v with its spaces
// normalised) has the shape the kernel writes: text for the few word
// settings, else the right number of signed integers.
func checkSysctl(full, name, raw, v string) error {
	if v == "" {
		return emptyFile(full)
	}
	if err := checkText(full, 1, strings.TrimRight(raw, "\n")); err != nil {
		return err
	}
	if sysctlText[name] {
		return nil
	}
	f := strings.Fields(v)
	want := max(sysctlArity[name], 1)
	if len(f) != want {
		what := "one integer"
		if want > 1 {
			what = fmt.Sprintf("%d integers", want)
		}
		return parseErr(full, 1, "want %s, got %d fields", what, len(f))
	}
	for _, x := range f {
		if _, err := strconv.ParseInt(x, 10, 64); err != nil {
			if errors.Is(err, strconv.ErrRange) {
				return parseErr(full, 1, "%q does not fit in 64 bits", x)
			}
			return parseErr(full, 1, "%q is not an integer", x)
		}
	}
	return nil
}
